"""Astrochemistry page: solver mode (run the UMIST RATE22 network for one cloud and read it) and emulator
mode (the pretrained autoencoder + latent stepper: instant rollouts, solver comparison, sweeps)."""

from __future__ import annotations

import numpy as np
import plotly.graph_objects as go
import streamlit as st

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
from pages.astrochem_emulator import emulator_mode
from pages.common import save_run_panel, user_errors

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


st.title("Astrochemistry")
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
                            width="stretch")

runs: dict = st.session_state.setdefault("astro_runs", {})
trajectory = None
with user_errors():
    params = PhysicalParams(**chosen)
    for warning in validity_warnings(params, t_end_yr):
        st.warning(warning, icon=":material/warning:")
    key = run_key(params, t_end_yr, elements)
    if key not in runs and (run_clicked or not runs):
        bar = st.progress(0.0, text="Integrating the rate equations…")
        trajectory = solve(params, t_end_yr=t_end_yr, n_out=64, elements=element_set(elements),
                           progress=progress_updater(bar))
        bar.empty()
        runs[key] = trajectory
        while len(runs) > MAX_CACHED_RUNS:
            runs.pop(next(iter(runs)))
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
figure = go.Figure()
for name in species:
    values = trajectory.abundances[:, net.index[name]]
    figure.add_trace(go.Scatter(x=trajectory.times_yr, y=np.where(values > FLOOR, values, None), mode="lines",
                                name=name))
figure.update_layout(xaxis={"title": "time [yr]", "type": "log"},
                     yaxis={"title": "abundance x = n(X)/n_H", "type": "log", "exponentformat": "power",
                            "range": [np.log10(FLOOR), 0.0]},
                     height=460, margin={"t": 30}, legend={"title": "species"})
st.plotly_chart(figure, width="stretch")
save_run_panel("astrochem-solver",
               f"Astrochemistry solver: n_H {params.density:.3g} cm⁻³, T {params.temperature:.3g} K",
               {**params.as_dict(), "t_end_yr": t_end_yr, "elements": elements},
               metrics={"wall_time_s": trajectory.wall_time_s, "n_steps": trajectory.n_steps,
                        "conservation_error": trajectory.conservation_error},
               arrays={"times_yr": trajectory.times_yr, "abundances": trajectory.abundances},
               figures=[figure], key="astro_solver_run",
               command=("python -m engine astro solve " + " ".join(
                   f"--{name.replace('_', '-')} {value:g}" for name, value in params.as_dict().items())
                   + f" --t-end-yr {t_end_yr:g} --elements {elements} --out run.h5"))

st.subheader("Where the carbon, oxygen and nitrogen are")
for tab, element in zip(st.tabs(["Carbon", "Oxygen", "Nitrogen"]), ["C", "O", "N"], strict=True):
    budget = element_budget(net, trajectory.abundances, element, top=5)
    stacked = go.Figure()
    for column in budget.columns:
        stacked.add_trace(go.Scatter(x=trajectory.times_yr, y=budget[column], name=column, stackgroup="one",
                                     mode="lines"))
    stacked.update_layout(xaxis={"title": "time [yr]", "type": "log"},
                          yaxis={"title": f"fraction of all {element} atoms", "range": [0, 1]},
                          height=360, margin={"t": 30})
    tab.plotly_chart(stacked, width="stretch")

st.subheader("Formation and destruction")
left, right = st.columns(2)
target = left.selectbox("Species", options=list(net.species), index=net.index["HCO+"], key="astro_target")
time_index = right.select_slider("At time [yr]", options=list(range(len(trajectory.times_yr))),
                                 value=len(trajectory.times_yr) - 1, key="astro_time",
                                 format_func=lambda i: f"{trajectory.times_yr[i]:.3g}")
with user_errors():
    table = dominant_reactions(net, trajectory.params, trajectory.abundances[time_index], target, top=6)
    columns = {"rate": st.column_config.NumberColumn("rate [cm⁻³ s⁻¹]", format="%.3e"),
               "share": st.column_config.ProgressColumn("share", min_value=0.0, max_value=1.0, format="%.2f")}
    for column, direction in zip(st.columns(2), ("formation", "destruction"), strict=True):
        rows = table[table.direction == direction].drop(columns="direction")
        column.markdown(f"**{direction.capitalize()} of {target}** at {trajectory.times_yr[time_index]:.3g} yr")
        column.dataframe(rows, hide_index=True, width="stretch", column_config=columns)

st.subheader("Download")
down_left, down_right = st.columns(2)
stem = f"astro_nH{params.density:.3g}_T{params.temperature:.3g}"
down_left.download_button("Run as HDF5", data=run_hdf5_bytes(trajectory), file_name=f"{stem}.h5",
                          mime="application/x-hdf5", icon=":material/download:", key="astro_h5")
down_right.download_button("Abundances as CSV", data=run_table(trajectory).to_csv(index=False),
                           file_name=f"{stem}.csv", mime="text/csv", icon=":material/download:", key="astro_csv")
with st.expander("Model, sources and validated parameter box", icon=":material/info:"):
    st.markdown(
        "Rate laws from the UMIST RATE22 paper (McElroy et al. 2024, A&A 682, A109): two-body "
        "α(T/300)^β exp(−γ/T); direct cosmic rays αζ/ζ₀; cosmic-ray-induced photons α(T/300)^β γ/(1−ω) ζ/ζ₀; "
        "interstellar photons α (G0/1.7) exp(−γ A_V), with ζ₀ = 1.3×10⁻¹⁷ s⁻¹ and ω = 0.5 as in UCLCHEM. "
        "The solver is SciPy's BDF with an analytic sparse Jacobian; element and charge totals are checked "
        "on every run. The emulator dataset is drawn from this box, where the missing UV processes do not matter:"
    )
    st.dataframe(
        [{"parameter": PARAM_SPECS[name].label, "unit": PARAM_SPECS[name].unit, "low": low, "high": high}
         for name, (low, high) in VALID_BOX.items()],
        hide_index=True, width="stretch",
    )

st.caption(
    "Model limits: gas phase only (no freeze-out onto grains, no grain charge), no H2 photodissociation and CO "
    "photodissociation without self-shielding, so trust A_V ≳ 5 mag. Rates: McElroy et al. 2024 (A&A 682, "
    "A109); H2 on grains 3×10⁻¹⁸ √T n_H n(H) cm⁻³ s⁻¹."
)
