"""Astrochemistry page: solver mode (run the UMIST RATE22 network for one cloud and read it) and emulator
mode (the pretrained autoencoder + latent stepper: instant rollouts, solver comparison, sweeps)."""

from __future__ import annotations

import time

import numpy as np
import pandas as pd
import plotly.graph_objects as go
import streamlit as st

from engine.astrochem import models
from engine.astrochem.analysis import dominant_reactions, element_budget
from engine.astrochem.network import load_network
from engine.astrochem.output import run_hdf5_bytes, run_table
from engine.astrochem.physics import (
    ELEMENT_SETS,
    PARAM_SPECS,
    VALID_BOX,
    PhysicalParams,
    element_set,
    validity_warnings,
)
from engine.astrochem.solver import solve
from engine.checkpoints import CheckpointError
from pages import charts
from pages.common import fast_figure, restore_run, save_run_panel, user_errors

DEFAULT_SPECIES = ["CO", "HCO+", "H2O", "OH", "NH3", "N2H+", "CS", "e-", "C+", "C"]
FLOOR = 1e-16  # abundances below this are not drawn on the log axis
# (parameter, slider label, log10 low, log10 high, default) -- sliders move in log10 steps of 0.1
SLIDERS = [
    ("density", "Density n_H [cm⁻³]", 1.0, 7.0, 1e4),
    ("temperature", "Gas temperature T [K]", 1.0, np.log10(300.0), 10.0),
    ("g0", "UV field G0 [Habing]", -2.0, 4.0, 1.0),
    ("av", "Visual extinction A_V [mag]", -2.0, np.log10(30.0), 10.0),
    ("zeta", "Cosmic-ray ionisation rate ζ [s⁻¹]", -18.0, -14.0, 1.3e-17),
]
MAX_CACHED_RUNS = 8


@st.cache_resource
def network():
    return load_network()


@st.cache_resource
def solved_clouds() -> dict:
    """Solver runs shared by every session of this server (the solver is deterministic): a new visitor with
    the default cloud sees it at once instead of waiting for the integration again."""
    return {}


def log_stops(low: float, high: float, default: float) -> list[float]:
    """Slider stops as log10 values: 0.1-dex steps over [low, high] plus log10(default).

    The sliders carry exponents, not the values: Streamlit's select_slider loses tiny float options
    such as 1.3e-17 in the browser (it falls back to the first option), exponents survive.
    """
    stops = {round(float(v), 4) for v in np.arange(low, high + 1e-9, 0.1)} | {round(float(np.log10(default)), 4)}
    return sorted(stops)


def from_stop(exponent: float) -> float:
    """The parameter value of a slider stop, rounded to the 3 significant digits shown."""
    return float(f"{10.0 ** exponent:.3g}")


def run_key(params: PhysicalParams, t_end_yr: float, elements: str) -> tuple:
    return (*params.as_array().tolist(), t_end_yr, elements)


def progress_updater(bar):
    """Progress callback that redraws the bar only when the whole percentage changes."""
    shown = [-1]

    def update(fraction: float) -> None:
        percent = int(100 * fraction)
        if percent != shown[0]:
            shown[0] = percent
            bar.progress(percent / 100, text=f"Integrating… {percent} % of log time")

    return update


# ---- Emulator mode: instant rollouts, solver overlay on demand, animation, latents, batched sweep ----

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
    return {"title": {"text": title}, "type": "log", "exponentformat": "power"}


def _abundance_figure(times, abundances, species, index, solver=None) -> go.Figure:
    traces = []
    for k, name in enumerate(species):
        colour = f"hsl({(k * 47) % 360},65%,45%)"
        values = abundances[:, index[name]]
        traces.append({"type": "scatter", "x": times, "y": np.where(values > FLOOR, values, np.nan), "mode": "lines",
                       "name": name, "line": {"color": colour}, "legendgroup": name})
        if solver is not None:
            truth = solver[:, index[name]]
            traces.append({"type": "scatter", "x": times, "y": np.where(truth > FLOOR, truth, np.nan),
                           "mode": "lines", "name": f"{name} (solver)", "line": {"color": colour, "dash": "dot"},
                           "legendgroup": name, "showlegend": False})
    return fast_figure(traces, {"xaxis": log_axis("time [yr]"), "height": 460, "margin": {"t": 30},
                                "yaxis": {**log_axis("abundance x = n(X)/n_H"), "range": [np.log10(FLOOR), 0.0]},
                                "legend": {"title": {"text": "species (dotted: solver)"}}})


def abundance_view(times, runs: dict[str, np.ndarray], species: list[str], index) -> tuple[pd.DataFrame, dict]:
    """Abundances of ``species`` over time as log–log Vega-Lite lines, one colour per species; ``runs`` maps a
    source name ("solver", "emulator") to its (n_times, n_species) array, and a second source is dotted.
    Points below FLOOR are left out."""
    columns = [index[name] for name in species]
    values = np.stack([abundances[:, columns].T for abundances in runs.values()])  # (sources, species, times)
    keep = (values > FLOOR).ravel()
    shape = values.shape
    frame = pd.DataFrame({"time_yr": np.broadcast_to(times, shape).ravel()[keep], "abundance": values.ravel()[keep],
                          "species": np.broadcast_to(np.array(species, dtype=object)[:, None], shape).ravel()[keep],
                          "source": np.repeat(np.array(list(runs), dtype=object), shape[1] * shape[2])[keep]})
    colour = {"field": "species", "type": "nominal", "title": "species", "sort": species,
              "scale": {"domain": species, "scheme": "tableau10" if len(species) <= 10 else "tableau20"}}
    dash = None
    if len(runs) > 1:
        dash = {"field": "source", "type": "nominal", "title": "line", "sort": list(runs),
                "scale": {"domain": list(runs), "range": [[1, 0], [2, 3]]}}
    tips = charts.tooltip(("species", "species", ""), ("source", "source", ""), ("time_yr", "time [yr]", ".3g"),
                          ("abundance", "x = n(X)/n_H", ".3e"))
    return frame, charts.lines(charts.axis("time_yr", "time [yr]", log=True),
                               charts.axis("abundance", "abundance x = n(X)/n_H", log=True, domain=[FLOOR, 1.0]),
                               colour, height=460, dash=dash, tips=tips)


def budget_view(times, budget: pd.DataFrame, element: str) -> tuple[pd.DataFrame, dict]:
    """The share of ``element`` held by each main carrier over time, stacked Vega-Lite areas."""
    carriers = [str(column) for column in budget.columns]
    frame = pd.DataFrame({"time_yr": np.tile(times, len(carriers)), "carrier": np.repeat(carriers, len(times)),
                          "rank": np.repeat(np.arange(len(carriers)), len(times)),
                          "share": budget.to_numpy(float).T.ravel()})
    encoding = {"x": charts.axis("time_yr", "time [yr]", log=True),
                "y": charts.axis("share", f"fraction of all {element} atoms", domain=[0, 1]) | {"stack": "zero"},
                "color": {"field": "carrier", "type": "nominal", "title": "carrier", "sort": carriers},
                "order": {"field": "rank", "type": "quantitative"},
                "tooltip": charts.tooltip(("carrier", "carrier", ""), ("time_yr", "time [yr]", ".3g"),
                                          ("share", "share", ".1%"))}
    return frame, charts.spec({"type": "area"}, encoding, height=360)


def _animated_rollout(times, abundances, species, index) -> go.Figure:
    """Bars of the chosen species at each output time; a slider and a play button step through time."""
    logs = np.log10(np.maximum(abundances[:, [index[name] for name in species]], FLOOR))
    names = [f"{t:.3g}" for t in times]
    frames = [{"name": name, "data": [{"type": "bar", "x": species, "y": logs[k]}]} for k, name in enumerate(names)]
    steps = [{"args": [[name], {"frame": {"duration": 0, "redraw": True}, "mode": "immediate"}],
              "label": name, "method": "animate"} for name in names]
    return fast_figure(
        [{"type": "bar", "x": species, "y": logs[0], "marker": {"color": "#4a6fa5"}}],
        {"yaxis": {"title": {"text": "log10 abundance x = n(X)/n_H"}, "range": [np.log10(FLOOR), 0.0]},
         "xaxis": {"title": {"text": "species"}}, "height": 400, "margin": {"t": 30},
         "sliders": [{"steps": steps, "currentvalue": {"prefix": "t [yr] = "}, "pad": {"t": 40}}],
         "updatemenus": [{"type": "buttons", "showactive": False, "x": 0.0, "y": -0.25, "xanchor": "left",
                          "buttons": [{"label": "▶ Play", "method": "animate",
                                       "args": [None, {"frame": {"duration": 80, "redraw": True},
                                                       "fromcurrent": True}]},
                                      {"label": "⏸ Pause", "method": "animate",
                                       "args": [[None], {"frame": {"duration": 0}, "mode": "immediate"}]}]}]},
        frames)


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
    figure = fast_figure([{"type": "heatmap", "x": emulator.times_yr, "y": values, "z": heat, "colorscale": "Viridis",
                           "colorbar": {"title": {"text": f"log10 x({target})"}}}],
                         {"xaxis": log_axis("time [yr]"), "yaxis": log_axis(LABELS[name]), "height": 420,
                          "margin": {"t": 30}})
    st.plotly_chart(figure, width="stretch")
    st.caption(f"{SWEEP_POINTS} clouds emulated in one batch in {1000 * seconds:.0f} ms; the other parameters are "
               "those set above.")


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
    st.fragment(_emulator_panel)(emulator, network)
    card = emulator.cards["emulator"]
    test = card.get("metrics", {}).get("test", {})
    with st.expander("Emulator model card", icon=":material/info:"):
        st.json({"model": card.get("model"), "config": card.get("config"), "seed": card.get("seed"),
                 "held-out test metrics": test, "dataset": card.get("dataset", {}).get("manifest"),
                 "sha256": card.get("sha256"), "reproduce": card.get("reproduce")}, expanded=False)


def _emulator_panel(emulator, network) -> None:
    """Emulator controls and results: a fragment, so a slider change reruns only this part of the page."""
    st.subheader("Cloud parameters (training box)")
    chosen = {}
    for column, (name, label) in zip(st.columns(len(LABELS)), LABELS.items(), strict=True):
        exponent = column.select_slider(label, options=box_stops(name), key=f"astro_em_{name}",
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
    if abundances is None:
        return
    drift = _drift(network, abundances)
    times, index = emulator.times_yr, network.index
    t_end_yr = float(times[-1])
    key = tuple(params.as_array().tolist())
    solved: dict = st.session_state.setdefault("astro_em_solver", {})

    metrics = st.columns(4)
    metrics[0].metric("Emulator time", f"{1000 * seconds:.1f} ms")
    metrics[1].metric("Worst element/charge drift", f"{drift:.1e}")
    metrics[2].metric("Electron fraction at end", f"{abundances[-1, index['e-']]:.2e}")

    st.subheader("Abundances")
    species = st.multiselect("Species", options=list(network.species), default=DEFAULT_SPECIES,
                             key="astro_em_species")
    if st.button("Compare with the solver", icon=":material/compare_arrows:", key="astro_em_compare",
                 help="Integrate the same cloud with the BDF solver (about a second) and overlay it"):
        with st.spinner("Integrating the rate equations…"):
            solved[key] = solve(params, t_end_yr=t_end_yr, n_out=len(times))
            while len(solved) > MAX_SOLVER_RUNS:
                solved.pop(next(iter(solved)))
    if key in solved:  # written into the metrics row above
        metrics[3].metric("Speed-up vs solver", f"{solved[key].wall_time_s / seconds:,.0f}×")
    truth = solved[key].abundances if key in solved else None
    runs = {"emulator": abundances} if truth is None else {"emulator": abundances, "solver": truth}
    charts.show(*abundance_view(times, runs, species, index), key="astro_em_abundances")
    if truth is not None:
        _solver_comparison(times, abundances, truth, network.species, t_end_yr)
    save_run_panel("astrochem-emulator", f"Astrochemistry emulator: n_H {params.density:.3g} cm⁻³, "
                   f"T {params.temperature:.3g} K", params.as_dict(),
                   metrics={"emulator_seconds": seconds, "conservation_error": drift},
                   arrays={"times_yr": times, "abundances": abundances},
                   figures=lambda: [_abundance_figure(times, abundances, species, index, truth)],
                   key="astro_em_run",
                   versions={"emulator_sha256": emulator.cards["emulator"]["sha256"]},
                   command="python -m engine astro emulate " + " ".join(
                       f"--{name} {value:g}" for name, value in params.as_dict().items()) + " --out em.h5")

    # Extra views are built only when the user opens one (none by default), so a slider change redraws just the
    # abundance figure; the 64-frame animation is never built unless asked for.
    view = st.segmented_control("More views", ["Rollout, step by step", "Latent trajectory", "Parameter sweep"],
                                key="astro_em_view", help="Open one extra view; it follows the sliders")
    if view == "Rollout, step by step":
        st.plotly_chart(_animated_rollout(times, abundances, species or DEFAULT_SPECIES, index), width="stretch")
    elif view == "Parameter sweep":
        with user_errors():
            _sweep(emulator, params, index)
    elif view == "Latent trajectory":
        latents = emulator.latent_emulate(params.as_array())[0]
        latent_figure = fast_figure(
            [{"type": "scatter", "x": times, "y": latents[1:, k], "mode": "lines", "name": f"z{k + 1}"}
             for k in range(latents.shape[1])],
            {"xaxis": log_axis("time [yr]"), "yaxis": {"title": {"text": "latent value (dimensionless)"}},
             "height": 340, "margin": {"t": 30}, "legend": {"title": {"text": "latent"}}})
        st.plotly_chart(latent_figure, width="stretch")
        st.caption("The autoencoder's latent coordinates along the rollout; the stepper predicts each next point.")


def _drift(network, abundances) -> float:
    from engine.astrochem.physics import initial_abundances
    from engine.astrochem.solver import conservation_error

    return conservation_error(network, abundances, initial_abundances(network))


def _nearest(stops: list[float], exponent: float) -> float:
    return min(stops, key=lambda stop: abs(stop - exponent))


def seed_solver(run) -> None:
    """Solver controls from a saved solver run; the (about 1 s) integration runs again."""
    st.session_state["astro_mode"] = "Solver"
    for name, _label, low, high, default in SLIDERS:
        st.session_state[f"astro_{name}"] = _nearest(log_stops(low, high, default), np.log10(run.params[name]))
    st.session_state.update(astro_t_end=float(run.params["t_end_yr"]), astro_elements=run.params["elements"],
                            astro_autorun=True)


def seed_emulator(run) -> None:
    """Emulator controls from a saved emulator run (the rollout takes milliseconds)."""
    st.session_state["astro_mode"] = "Emulator"
    for name in LABELS:
        st.session_state[f"astro_em_{name}"] = _nearest(box_stops(name), np.log10(run.params[name]))


st.title("Astrochemistry")
restore_run("pages/astrochem.py", {"astrochem-solver": seed_solver, "astrochem-emulator": seed_emulator})
mode = st.sidebar.radio("Mode", ["Solver", "Emulator"], horizontal=True, key="astro_mode",
                        help="Solver: integrate the rate equations (about a second per cloud). Emulator: the "
                             "pretrained neural emulator, milliseconds per cloud, inside the training box only.")
if mode == "Emulator":
    emulator_mode(network())
    st.stop()
st.caption(
    f"Gas-phase chemistry of one interstellar cloud: the UMIST RATE22 network ({network().n_species} species, "
    f"{network().n_reactions} reactions incl. H2 formation on grains) integrated with a stiff BDF solver "
    "from atomic/ionised gas (H fully molecular). Abundances are relative to hydrogen nuclei, n_H."
)

with st.sidebar:
    st.subheader("Cloud parameters")
    chosen = {}
    for name, label, low, high, default in SLIDERS:
        exponent = st.select_slider(label, options=log_stops(low, high, default),
                                    value=round(float(np.log10(default)), 4),
                                    format_func=lambda v: f"{from_stop(v):.3g}", key=f"astro_{name}",
                                    help=f"{PARAM_SPECS[name].label}; log scale")
        chosen[name] = from_stop(exponent)
    t_end_yr = st.select_slider("End time [yr]", options=[1e3, 3e3, 1e4, 3e4, 1e5, 3e5, 1e6, 3e6, 1e7],
                                value=1e6, format_func=lambda v: f"{v:.0e}", key="astro_t_end")
    elements = st.selectbox("Elemental abundances", options=list(ELEMENT_SETS), key="astro_elements",
                            help="dense: UCLCHEM dense-cloud set (S 3.5e-6, Mg 2.3e-6 of n_H); low-metal: S 8e-8, "
                                 "Mg 7e-9 (Wakelam & Herbst 2008), which lowers the electron fraction")
    run_clicked = st.button("Run solver", type="primary", icon=":material/play_arrow:", key="astro_run",
                            width="stretch") or st.session_state.pop("astro_autorun", False)

runs: dict = st.session_state.setdefault("astro_runs", {})
trajectory = None
with user_errors():
    params = PhysicalParams(**chosen)
    for warning in validity_warnings(params, t_end_yr):
        st.warning(warning, icon=":material/warning:")
    key = run_key(params, t_end_yr, elements)
    shared = solved_clouds()
    if key not in runs and key in shared and (run_clicked or not runs):
        runs[key] = shared[key]
    if key not in runs and (run_clicked or not runs):
        bar = st.progress(0.0, text="Integrating the rate equations…")
        trajectory = solve(params, t_end_yr=t_end_yr, n_out=64, elements=element_set(elements),
                           progress=progress_updater(bar))
        bar.empty()
        runs[key] = shared[key] = trajectory
        for store in (runs, shared):
            while len(store) > MAX_CACHED_RUNS:
                store.pop(next(iter(store)), None)
    trajectory = runs.get(key)

if trajectory is None:
    st.info("Parameters changed: press **Run solver** to integrate this cloud (about a second).",
            icon=":material/play_arrow:")
    st.stop()

net = network()
metrics = st.columns(4)
metrics[0].metric("Solver wall time", f"{trajectory.wall_time_s:.2f} s")
metrics[1].metric("BDF steps", f"{trajectory.n_steps}")
metrics[2].metric("Worst element/charge drift", f"{trajectory.conservation_error:.1e}")
metrics[3].metric("Electron fraction at end", f"{trajectory.final()['e-']:.2e}")

st.subheader("Abundances")
species = st.multiselect("Species", options=list(net.species), default=DEFAULT_SPECIES, key="astro_species")
charts.show(*abundance_view(trajectory.times_yr, {"solver": trajectory.abundances}, species, net.index),
            key="astro_abundances")
save_run_panel("astrochem-solver",
               f"Astrochemistry solver: n_H {params.density:.3g} cm⁻³, T {params.temperature:.3g} K",
               {**params.as_dict(), "t_end_yr": t_end_yr, "elements": elements},
               metrics={"wall_time_s": trajectory.wall_time_s, "n_steps": trajectory.n_steps,
                        "conservation_error": trajectory.conservation_error},
               arrays={"times_yr": trajectory.times_yr, "abundances": trajectory.abundances},
               figures=lambda: [_abundance_figure(trajectory.times_yr, trajectory.abundances, species, net.index)],
               key="astro_solver_run",
               command=("python -m engine astro solve " + " ".join(
                   f"--{name.replace('_', '-')} {value:g}" for name, value in params.as_dict().items())
                   + f" --t-end-yr {t_end_yr:g} --elements {elements} --out run.h5"))

st.subheader("Where the atoms are; what makes and destroys a species")
# One view at a time, none by default (the first view carries the abundance figure alone): only the chosen
# view is computed and sent. The reaction controls keep their values while closed (defaults: HCO+ at the end).
st.session_state["astro_target"] = st.session_state.get("astro_target", "HCO+")
if st.session_state.get("astro_time") not in range(len(trajectory.times_yr)):
    st.session_state["astro_time"] = len(trajectory.times_yr) - 1
st.session_state["astro_time"] = st.session_state["astro_time"]
BUDGETS = {"Carbon": "C", "Oxygen": "O", "Nitrogen": "N"}
view = st.segmented_control("Show", [*BUDGETS, "Formation and destruction"], key="astro_budget",
                            help="Element budgets: the share of C, O or N atoms held by each main carrier over time. "
                                 "Formation and destruction: the dominant reactions of a species at one time.")
if view in BUDGETS:
    element = BUDGETS[view]
    charts.show(*budget_view(trajectory.times_yr, element_budget(net, trajectory.abundances, element, top=5),
                             element), key=f"astro_budget_{element}")
if view == "Formation and destruction":
    left, right = st.columns(2)
    target = left.selectbox("Species", options=list(net.species), key="astro_target")
    time_index = right.select_slider("At time [yr]", options=list(range(len(trajectory.times_yr))),
                                     key="astro_time", format_func=lambda i: f"{trajectory.times_yr[i]:.3g}")
    with user_errors():
        table = dominant_reactions(net, trajectory.params, trajectory.abundances[time_index], target, top=6)
        columns = {"rate": st.column_config.NumberColumn("rate [cm⁻³ s⁻¹]", format="%.3e"),
                   "share": st.column_config.ProgressColumn("share", min_value=0.0, max_value=1.0,
                                                            format="%.2f")}
        for column, direction in zip(st.columns(2), ("formation", "destruction"), strict=True):
            rows = table[table.direction == direction].drop(columns="direction")
            column.markdown(f"**{direction.capitalize()} of {target}** at {trajectory.times_yr[time_index]:.3g} yr")
            column.dataframe(rows, hide_index=True, width="stretch", column_config=columns)

st.subheader("Download")
down_left, down_right = st.columns(2)
stem = f"astro_nH{params.density:.3g}_T{params.temperature:.3g}"
down_left.download_button("Run as HDF5", data=lambda: run_hdf5_bytes(trajectory), file_name=f"{stem}.h5",
                          mime="application/x-hdf5", icon=":material/download:", key="astro_h5")
down_right.download_button("Abundances as CSV", data=lambda: run_table(trajectory).to_csv(index=False),
                           file_name=f"{stem}.csv", mime="text/csv", icon=":material/download:", key="astro_csv")
with st.expander("Model, sources and validated parameter box", icon=":material/info:"):
    st.markdown(
        "Rate laws from the UMIST RATE22 paper (McElroy et al. 2024, A&A 682, A109): two-body "
        "α(T/300)^β exp(−γ/T); direct cosmic rays αζ/ζ₀; cosmic-ray-induced photons α(T/300)^β γ/(1−ω) ζ/ζ₀; "
        "interstellar photons α (G0/1.7) exp(−γ A_V), with ζ₀ = 1.3×10⁻¹⁷ s⁻¹ and ω = 0.5 as in UCLCHEM. "
        "The solver is SciPy's BDF with an analytic sparse Jacobian; element and charge totals are checked "
        "on every run. The emulator dataset is drawn from this box, where the missing UV processes do not matter:"
    )
    st.table([{"parameter": PARAM_SPECS[name].label, "unit": PARAM_SPECS[name].unit, "low": f"{low:.3g}",
               "high": f"{high:.3g}"} for name, (low, high) in VALID_BOX.items()], hide_index=True)

st.caption(
    "Model limits: gas phase only (no freeze-out onto grains, no grain charge), no H2 photodissociation and CO "
    "photodissociation without self-shielding, so trust A_V ≳ 5 mag. Rates: McElroy et al. 2024 (A&A 682, "
    "A109); H2 on grains 3×10⁻¹⁸ √T n_H n(H) cm⁻³ s⁻¹."
)
