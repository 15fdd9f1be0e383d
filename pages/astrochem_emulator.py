"""Emulator mode of the Astrochemistry page (UI only): instant rollouts of the pretrained emulator while the
sliders move, the solver overlaid on demand, an animated rollout, latent trajectories and a parameter sweep
computed in one batch."""

from __future__ import annotations

import time

import numpy as np
import plotly.graph_objects as go
import streamlit as st

from engine.astrochem import models
from engine.astrochem.physics import PARAM_SPECS, VALID_BOX, PhysicalParams
from engine.astrochem.solver import solve
from engine.checkpoints import CheckpointError
from pages.common import save_run_panel, user_errors

DEFAULT_SPECIES = ["CO", "HCO+", "H2O", "OH", "NH3", "N2H+", "CS", "e-", "C+", "C"]
FLOOR = 1e-16  # abundances below this are not drawn on the log axis
DETECTION = 1e-12  # the solver comparison counts species above this abundance (relative to n_H)
SWEEP_POINTS = 48
MAX_SOLVER_RUNS = 8  # solver comparisons kept per session
LABELS = {"density": "Density n_H [cm⁻³]", "temperature": "Gas temperature T [K]", "g0": "UV field G0 [Habing]",
          "av": "Visual extinction A_V [mag]", "zeta": "Cosmic-ray ionisation rate ζ [s⁻¹]"}
DEFAULTS = PhysicalParams()


@st.cache_resource(show_spinner="Loading the pretrained emulator…")
def load_emulator(directory: str):
    from engine.astrochem.inference import Emulator

    return Emulator.pretrained(directory)


def box_stops(name: str) -> list[float]:
    """Slider stops (log10 values) over the emulator's training box, 31 steps plus the default."""
    low, high = np.log10(VALID_BOX[name])
    stops = {round(float(v), 4) for v in np.linspace(low, high, 31)}
    return sorted(stops | {round(float(np.log10(getattr(DEFAULTS, name))), 4)})


def log_axis(title: str) -> dict:
    return {"title": title, "type": "log", "exponentformat": "power"}


def _abundance_figure(times, abundances, species, index, solver=None) -> go.Figure:
    figure = go.Figure()
    colours = {}
    for k, name in enumerate(species):
        colour = colours.setdefault(name, f"hsl({(k * 47) % 360},65%,45%)")
        values = abundances[:, index[name]]
        figure.add_trace(go.Scatter(x=times, y=np.where(values > FLOOR, values, None), mode="lines", name=name,
                                    line={"color": colour}, legendgroup=name))
        if solver is not None:
            truth = solver[:, index[name]]
            figure.add_trace(go.Scatter(x=times, y=np.where(truth > FLOOR, truth, None), mode="lines",
                                        name=f"{name} (solver)", line={"color": colour, "dash": "dot"},
                                        legendgroup=name, showlegend=False))
    figure.update_layout(xaxis=log_axis("time [yr]"),
                         yaxis={**log_axis("abundance x = n(X)/n_H"), "range": [np.log10(FLOOR), 0.0]},
                         height=460, margin={"t": 30}, legend={"title": "species (dotted: solver)"})
    return figure


def _animated_rollout(times, abundances, species, index) -> go.Figure:
    """Bars of the chosen species at each output time; a slider and a play button step through time."""
    logs = np.log10(np.maximum(abundances[:, [index[name] for name in species]], FLOOR))
    frames = [go.Frame(data=[go.Bar(x=species, y=logs[k], marker={"color": "#4a6fa5"})], name=f"{times[k]:.3g}")
              for k in range(len(times))]
    figure = go.Figure(data=frames[0].data, frames=frames)
    steps = [{"args": [[frame.name], {"frame": {"duration": 0, "redraw": True}, "mode": "immediate"}],
              "label": frame.name, "method": "animate"} for frame in frames]
    figure.update_layout(
        yaxis={"title": "log10 abundance x = n(X)/n_H", "range": [np.log10(FLOOR), 0.0]},
        xaxis={"title": "species"}, height=400, margin={"t": 30},
        sliders=[{"steps": steps, "currentvalue": {"prefix": "t [yr] = "}, "pad": {"t": 40}}],
        updatemenus=[{"type": "buttons", "showactive": False, "x": 0.0, "y": -0.25, "xanchor": "left",
                      "buttons": [{"label": "▶ Play", "method": "animate",
                                   "args": [None, {"frame": {"duration": 80, "redraw": True}, "fromcurrent": True}]},
                                  {"label": "⏸ Pause", "method": "animate",
                                   "args": [[None], {"frame": {"duration": 0}, "mode": "immediate"}]}]}])
    return figure


def _solver_comparison(times, predicted, truth, species_names, t_end_yr: float) -> None:
    """Metrics over all species above 1e-12 and a per-species error table (dex)."""
    mask = truth > DETECTION
    errors = np.abs(np.log10(np.maximum(predicted, 1e-30)) - np.log10(np.maximum(truth, 1e-30)))
    columns = st.columns(3)
    columns[0].metric("Median error (species > 1e-12)", f"{np.median(errors[mask]):.3f} dex")
    columns[1].metric("95th percentile error", f"{np.percentile(errors[mask], 95):.3f} dex")
    columns[2].metric("Worst point", f"{np.max(errors[mask]):.2f} dex")
    rows = []
    for j, name in enumerate(species_names):
        if mask[:, j].any():
            rows.append({"species": name, "max error [dex]": float(errors[mask[:, j], j].max()),
                         "median error [dex]": float(np.median(errors[mask[:, j], j])),
                         "solver x at end": float(truth[-1, j]), "emulator x at end": float(predicted[-1, j])})
    rows.sort(key=lambda row: -row["max error [dex]"])
    st.dataframe(rows, hide_index=True, width="stretch", height=260,
                 column_config={k: st.column_config.NumberColumn(k, format="%.3g") for k in rows[0]} if rows else None)
    st.caption(f"Per species over the output times where the solver gives more than 10⁻¹² of n_H, to "
               f"{t_end_yr:.0e} yr; sorted worst first.")


def _sweep(emulator, params: PhysicalParams, index) -> None:
    left, right = st.columns(2)
    name = left.selectbox("Swept parameter", options=list(LABELS), format_func=LABELS.get, key="astro_em_sweep_param")
    target = right.selectbox("Species", options=list(emulator.network.species), key="astro_em_sweep_species",
                             index=emulator.network.species.index("HCO+"))
    low, high = VALID_BOX[name]
    values = np.logspace(np.log10(low), np.log10(high), SWEEP_POINTS)
    batch = np.repeat(params.as_array()[None, :], SWEEP_POINTS, axis=0)
    batch[:, list(LABELS).index(name)] = values
    start = time.perf_counter()
    abundances = emulator.emulate(batch)
    seconds = time.perf_counter() - start
    heat = np.log10(np.maximum(abundances[:, :, index[target]], 1e-20))
    figure = go.Figure(go.Heatmap(x=emulator.times_yr, y=values, z=heat, colorscale="Viridis",
                                  colorbar={"title": f"log10 x({target})"}))
    figure.update_layout(xaxis=log_axis("time [yr]"), yaxis=log_axis(LABELS[name]), height=420, margin={"t": 30})
    st.plotly_chart(figure, width="stretch")
    st.caption(f"{SWEEP_POINTS} clouds emulated in one batch in {1000 * seconds:.0f} ms; the other parameters are "
               "those of the sidebar.")


def emulator_mode(network) -> None:
    """Render emulator mode (the page title and mode switch are drawn by the caller)."""
    st.caption("Pretrained neural emulator of the solver: a tied-weight autoencoder compresses the "
               f"{network.n_species} log abundances to a small latent vector, and an MLP steps it along the "
               "training time grid (1 yr – 1 Myr). Valid inside the dataset box only.")
    try:
        emulator = load_emulator(str(models.MODEL_DIR))
    except CheckpointError as error:
        st.error(f"The pretrained emulator cannot be loaded: {error} Solver mode still works; rebuild the "
                 "emulator with `python -m engine train astro --data FILE`.", icon=":material/error:")
        return
    with st.sidebar:
        st.subheader("Cloud parameters (training box)")
        chosen = {}
        for name, label in LABELS.items():
            exponent = st.select_slider(label, options=box_stops(name), key=f"astro_em_{name}",
                                        value=round(float(np.log10(getattr(DEFAULTS, name))), 4),
                                        format_func=lambda v: f"{10.0 ** v:.3g}",
                                        help=f"{PARAM_SPECS[name].label}; log scale, the emulator's training range")
            chosen[name] = float(f"{10.0 ** exponent:.3g}")
    abundances = None
    with user_errors():
        params = PhysicalParams(**chosen)
        start = time.perf_counter()
        abundances = emulator.emulate(params.as_array())[0]
        seconds = time.perf_counter() - start
        latents = emulator.latent_emulate(params.as_array())[0]
    if abundances is None:
        return
    times, index = emulator.times_yr, network.index
    t_end_yr = float(times[-1])
    key = tuple(params.as_array().tolist())
    solved: dict = st.session_state.setdefault("astro_em_solver", {})

    metrics = st.columns(4)
    metrics[0].metric("Emulator time", f"{1000 * seconds:.1f} ms")
    metrics[1].metric("Worst element/charge drift", f"{_drift(network, abundances):.1e}")
    metrics[2].metric("Electron fraction at end", f"{abundances[-1, index['e-']]:.2e}")
    if key in solved:
        metrics[3].metric("Speed-up vs solver", f"{solved[key].wall_time_s / seconds:,.0f}×")

    st.subheader("Abundances")
    species = st.multiselect("Species", options=list(network.species), default=DEFAULT_SPECIES,
                             key="astro_em_species")
    if st.button("Compare with the solver", icon=":material/compare_arrows:", key="astro_em_compare",
                 help="Integrate the same cloud with the BDF solver (about a second) and overlay it"):
        with st.spinner("Integrating the rate equations…"):
            solved[key] = solve(params, t_end_yr=t_end_yr, n_out=len(times))
            while len(solved) > MAX_SOLVER_RUNS:
                solved.pop(next(iter(solved)))
        st.rerun()
    truth = solved[key].abundances if key in solved else None
    figure = _abundance_figure(times, abundances, species, index, truth)
    st.plotly_chart(figure, width="stretch")
    if truth is not None:
        _solver_comparison(times, abundances, truth, network.species, t_end_yr)
    save_run_panel("astrochem-emulator", f"Astrochemistry emulator: n_H {params.density:.3g} cm⁻³, "
                   f"T {params.temperature:.3g} K", params.as_dict(),
                   metrics={"emulator_seconds": seconds, "conservation_error": _drift(network, abundances)},
                   arrays={"times_yr": times, "abundances": abundances}, figures=[figure], key="astro_em_run",
                   versions={"emulator_sha256": emulator.cards["emulator"]["sha256"]},
                   command="python -m engine astro emulate " + " ".join(
                       f"--{name} {value:g}" for name, value in params.as_dict().items()) + " --out em.h5")

    st.subheader("Rollout, step by step")
    st.plotly_chart(_animated_rollout(times, abundances, species or DEFAULT_SPECIES, index), width="stretch")

    st.subheader("Latent trajectory")
    latent_figure = go.Figure()
    for k in range(latents.shape[1]):
        latent_figure.add_trace(go.Scatter(x=times, y=latents[1:, k], mode="lines", name=f"z{k + 1}"))
    latent_figure.update_layout(xaxis=log_axis("time [yr]"), yaxis={"title": "latent value (dimensionless)"},
                                height=340, margin={"t": 30}, legend={"title": "latent"})
    st.plotly_chart(latent_figure, width="stretch")
    st.caption("The autoencoder's latent coordinates along the rollout; the stepper predicts each next point.")

    st.subheader("Parameter sweep")
    with user_errors():
        _sweep(emulator, params, index)
    card = emulator.cards["emulator"]
    test = card.get("metrics", {}).get("test", {})
    with st.expander("Emulator model card", icon=":material/info:"):
        st.json({"model": card.get("model"), "config": card.get("config"), "seed": card.get("seed"),
                 "held-out test metrics": test, "dataset": card.get("dataset", {}).get("manifest"),
                 "sha256": card.get("sha256"), "reproduce": card.get("reproduce")}, expanded=False)


def _drift(network, abundances) -> float:
    from engine.astrochem.physics import initial_abundances
    from engine.astrochem.solver import conservation_error

    return conservation_error(network, abundances, initial_abundances(network))
