"""Synthesis twin page: one hot-injection recipe in detail, and 1-D/2-D sweeps with phase maps (UI only)."""

from __future__ import annotations

import os
import time

import numpy as np
import pandas as pd
import plotly.graph_objects as go
import streamlit as st
from plotly.subplots import make_subplots

from engine.execution import ExecutionSpec
from engine.synthesis import (
    FIELD_SPECS,
    LITERATURE_RECIPE,
    PHASE_NAMES,
    SOLVENT_NAMES,
    Recipe,
    make_axis,
    simulate,
    sweep,
    time_course,
)
from engine.synthesis.physics.optics import spectrum, wavelength_rgb
from pages import charts
from pages.common import JobProgress, fast_figure, frame_arrays, restore_run, save_run_panel, user_errors

PHASE_COLOURS = {"cube": "#2ca02c", "platelet": "#1f77b4", "Cs4PbBr6": "#ff7f0e", "CsPb2Br5": "#9467bd",
                 "none": "#7f7f7f"}
LABELS = {"temperature_c": "Temperature", "cs_pb_ratio": "Cs:Pb ratio", "pb_concentration_m": "[PbBr2]",
          "oleic_acid_ml": "Oleic acid", "oleylamine_ml": "Oleylamine", "reaction_time_s": "Reaction time",
          "water_ppm": "Water"}
STEPS = {"temperature_c": 1.0, "cs_pb_ratio": 0.01, "pb_concentration_m": 0.001, "oleic_acid_ml": 0.05,
         "oleylamine_ml": 0.05, "reaction_time_s": 1.0, "water_ppm": 10.0}


def axis_title(name: str) -> str:
    return f"{LABELS[name]} ({FIELD_SPECS[name].unit})"


def reset_recipe() -> None:
    for name in FIELD_SPECS:
        st.session_state[f"synth_{name}"] = float(getattr(LITERATURE_RECIPE, name))
    st.session_state["synth_solvent"] = LITERATURE_RECIPE.solvent


@st.cache_resource(show_spinner="Loading the surrogate models…")
def surrogates():
    """Shipped surrogates, loaded once per server process (errors are kept, never raised)."""
    from engine.synthesis.inference import load_surrogates

    return load_surrogates()


def surrogate_notice() -> tuple:
    """``(kind, model)`` of the preferred surrogate, or a warning and ``(None, None)`` (physics-only)."""
    loaded = surrogates()
    kind, model = loaded.default()
    if model is None:
        st.warning("No surrogate model could be loaded, so the page works with the physics engine only. "
                   + " ".join(loaded.errors.values()) + " Rebuild with `python -m engine train synth`.",
                   icon=":material/warning:")
    return kind, model


@st.cache_data(show_spinner=False, max_entries=256)
def cached_simulation(values: tuple) -> tuple[dict, dict]:
    recipe = Recipe(**dict(values))
    return simulate(recipe), time_course(recipe)


def recipe_controls() -> dict:
    """The recipe inputs, in the main area (inside the page's fragment: a change reruns only the fragment)."""
    if "synth_temperature_c" not in st.session_state:
        reset_recipe()
    values = {}
    with st.container(key="synth_recipe", border=True):
        head, reset = st.columns([4, 1], vertical_alignment="center")
        head.markdown("**Recipe** (used by every tab)")
        reset.button("Reset to literature recipe", on_click=reset_recipe, icon=":material/restart_alt:",
                     key="synth_reset", width="stretch",
                     help="Protesescu et al., Nano Lett. 2015: 170 °C, Cs:Pb 0.27, 0.5 mL OA + 0.5 mL OLA, 5 s")
        columns = st.columns(4)
        for k, (name, spec) in enumerate(FIELD_SPECS.items()):
            values[name] = columns[k % 4].number_input(
                f"{axis_title(name)}", min_value=spec.low, max_value=spec.high, step=STEPS[name],
                key=f"synth_{name}", help=f"{spec.help}; allowed {spec.low:g}–{spec.high:g} {spec.unit}",
                format="%.3f" if spec.high <= 1 else "%.2f")
        values["solvent"] = columns[len(FIELD_SPECS) % 4].selectbox(
            "Solvent", SOLVENT_NAMES, key="synth_solvent",
            help="octadecene is the literature solvent; boiling point caps T")
    return values


def phase_bars(result: dict) -> go.Figure:
    probs = result["phase_probabilities"]
    bars = {"type": "bar", "x": list(probs), "y": [float(v) for v in probs.values()],
            "marker": {"color": [PHASE_COLOURS[p] for p in probs]}, "text": [f"{v:.0%}" for v in probs.values()],
            "textposition": "outside"}
    return fast_figure([bars], {"title": {"text": "Phase probabilities"}, "height": 320, "margin": {"t": 50, "b": 40},
                                "yaxis": {"title": {"text": "probability"}, "range": [0, 1.1]},
                                "xaxis": {"title": {"text": "phase"}}})


def pl_spectrum(result: dict) -> go.Figure:
    traces = []
    peak, fwhm = result["pl_peak_nm"], result["pl_fwhm_nm"]
    wavelengths = np.linspace(380, 600, 400)
    if peak is not None:
        colour = wavelength_rgb(peak)
        traces.append({"type": "scatter", "x": wavelengths, "y": result["plqy"] * spectrum(wavelengths, peak, fwhm),
                       "fill": "tozeroy", "line": {"color": colour}, "fillcolor": colour, "name": "PL"})
        title = f"PL: {peak:.0f} nm, FWHM {fwhm:.0f} nm"
    else:
        title = f"PL: none ({result['phase']})"
    return fast_figure(traces, {"title": {"text": title}, "xaxis": {"title": {"text": "wavelength (nm)"}},
                                "yaxis": {"title": {"text": "intensity (PLQY-scaled)"}}, "height": 320,
                                "margin": {"t": 50, "b": 40}, "showlegend": False})


def lamer_plot(course: dict) -> go.Figure:
    t = np.maximum(course["time_s"], 1e-6)
    panels = [("supersaturation", "Supersaturation S", "S (–)", "log"),
              ("nucleation_rate", "Nucleation rate", "J (µmol L⁻¹ s⁻¹)", "log"),
              ("number_umol_l", "Particle number density", "N (µmol/L)", "linear"),
              ("mean_edge_nm", "Mean edge length", "⟨L⟩ (nm)", "linear")]
    columns, rows = ([0.0, 0.45], [0.55, 1.0]), ([0.57, 1.0], [0.0, 0.43])  # a 2×2 grid, top row first
    traces, layout = [], {"height": 520, "title": {"text": "LaMer time course"}, "margin": {"t": 70, "b": 40},
                          "showlegend": False, "annotations": []}
    for k, (key, name, title, scale) in enumerate(panels):
        values = course[key]
        if scale == "log":  # show six decades below the peak (the burst switches off far more sharply)
            values = np.where(values > 1e-6 * np.nanmax(values), values, np.nan)
        suffix = "" if k == 0 else str(k + 1)
        traces.append({"type": "scatter", "x": t, "y": values, "xaxis": f"x{suffix}", "yaxis": f"y{suffix}",
                       "line": {"color": "#d62728"}})
        layout[f"xaxis{suffix}"] = {"type": "log", "domain": columns[k % 2], "anchor": f"y{suffix}",
                                    "title": {"text": "time after injection (s)" if k >= 2 else ""}}
        layout[f"yaxis{suffix}"] = {"type": scale, "domain": rows[k // 2], "anchor": f"x{suffix}",
                                    "title": {"text": title}}
        layout["annotations"].append({"text": name, "showarrow": False, "xref": "paper", "yref": "paper",
                                      "x": sum(columns[k % 2]) / 2, "y": rows[k // 2][1], "xanchor": "center",
                                      "yanchor": "bottom", "font": {"size": 14}})
    return fast_figure(traces, layout)


def spectrum_view(result: dict) -> tuple[pd.DataFrame, dict]:
    """The PL spectrum as a Vega-Lite area in the emission colour (empty axes for a non-emissive phase)."""
    peak, fwhm = result["pl_peak_nm"], result["pl_fwhm_nm"]
    wavelengths = np.linspace(380, 600, 221) if peak is not None else np.empty(0)
    intensity = result["plqy"] * spectrum(wavelengths, peak, fwhm) if peak is not None else np.empty(0)
    frame = pd.DataFrame({"wavelength_nm": wavelengths, "intensity": intensity})
    colour = wavelength_rgb(peak) if peak is not None else PHASE_COLOURS["none"]
    title = f"PL: {peak:.0f} nm, FWHM {fwhm:.0f} nm" if peak is not None else f"PL: none ({result['phase']})"
    encoding = {"x": charts.axis("wavelength_nm", "wavelength (nm)", domain=[380, 600]),
                "y": charts.axis("intensity", "intensity (PLQY-scaled)", domain=[0, 1]),
                "tooltip": charts.tooltip(("wavelength_nm", "wavelength (nm)", ".0f"),
                                          ("intensity", "intensity", ".3f"))}
    return frame, charts.spec({"type": "area", "color": colour, "opacity": 0.85, "line": {"color": colour}},
                              encoding, title, 320)


def phase_view(result: dict) -> tuple[pd.DataFrame, dict]:
    """Phase probabilities as Vega-Lite bars in the phase colours, labelled in percent."""
    probs = result["phase_probabilities"]
    frame = pd.DataFrame({"phase": list(probs), "probability": [float(v) for v in probs.values()]})
    colour = {"field": "phase", "type": "nominal", "legend": None,
              "scale": {"domain": list(probs), "range": [PHASE_COLOURS[p] for p in probs]}}
    encoding = {"x": charts.axis("phase", "phase", kind="nominal") | {"sort": None, "axis": {"labelAngle": 0}},
                "y": charts.axis("probability", "probability", domain=[0, 1.1])}
    bars = {"mark": {"type": "bar"}, "encoding": {"color": colour,
                                                  "tooltip": charts.tooltip(("phase", "phase", ""),
                                                                            ("probability", "probability", ".1%"))}}
    labels = {"mark": {"type": "text", "dy": -8}, "encoding": {"text": {"field": "probability", "format": ".0%"}}}
    return frame, {"title": {"text": "Phase probabilities", "anchor": "start"}, "height": 320, "encoding": encoding,
                   "layer": [bars, labels]}


def size_view(result: dict) -> tuple[pd.DataFrame, dict]:
    """The size distribution (a Gaussian of the predicted mean and spread) as a Vega-Lite area."""
    mean, std = result["edge_length_nm"], result["edge_length_std_nm"]
    edges = np.linspace(max(mean - 4 * std, 0.0), mean + 4 * std, 161) if mean is not None and std else np.empty(0)
    density = np.exp(-0.5 * ((edges - mean) / std) ** 2) / (std * np.sqrt(2 * np.pi)) if len(edges) else edges
    frame = pd.DataFrame({"size_nm": edges, "density": density})
    label = "platelet lateral size" if result["phase"] == "platelet" else "edge length"
    title = "Size distribution" if std is None else f"Size distribution, σ {std:.1f} nm"
    colour = PHASE_COLOURS[result["phase"]]
    encoding = {"x": charts.axis("size_nm", f"{label} (nm)"), "y": charts.axis("density", "probability density (1/nm)"),
                "tooltip": charts.tooltip(("size_nm", f"{label} (nm)", ".2f"), ("density", "density (1/nm)", ".3f"))}
    return frame, charts.spec({"type": "area", "color": colour, "opacity": 0.7, "line": {"color": colour}}, encoding,
                              title, 320)


def single_recipe_tab(values: dict) -> None:
    with user_errors():
        result, course = cached_simulation(tuple(sorted(values.items())))
        cols = st.columns(5)
        cols[0].metric("Most likely phase", result["phase"])
        size = result["edge_length_nm"]
        thick = result["platelet_thickness_ml"]
        spread = "" if size is None else f"; standard deviation {result['edge_length_std_nm']:.1f} nm"
        cols[1].metric("Edge length", "–" if size is None else f"{size:.1f} nm",
                       help=("platelet lateral size" if thick else "mean cube edge") + spread)
        cols[2].metric("PL peak", "–" if result["pl_peak_nm"] is None else f"{result['pl_peak_nm']:.0f} nm",
                       help=f"{thick} monolayers" if thick else None)
        cols[3].metric("PL FWHM", "–" if result["pl_fwhm_nm"] is None else f"{result['pl_fwhm_nm']:.0f} nm")
        cols[4].metric("PLQY (estimate)", f"{result['plqy']:.0%}")
        # Lazy tabs: one view is drawn at a time, so a recipe change redraws only the open one. The three simple
        # views are Vega-Lite (drawn sooner, see pages/charts.py); the four-panel LaMer course is Plotly.
        views = {"PL spectrum": spectrum_view, "Phase probabilities": phase_view, "Size distribution": size_view}
        tabs = st.tabs([*views, "LaMer time course"], key="synth_view", on_change="rerun")
        for tab, (name, view) in zip(tabs, views.items(), strict=False):
            if tab.open:
                with tab:
                    charts.show(*view(result), key=f"synth_fig_{name}")
        if tabs[-1].open:
            tabs[-1].plotly_chart(lamer_plot(course), width="stretch", key="synth_fig_lamer")
        st.caption(f"Conversion of the limiting precursor at quench: {result['yield']:.0%}. Model and sources: "
                   "engine/synthesis (Protesescu 2015; Almeida 2018; Bekenstein 2015; Akkerman 2016; Palazon "
                   "2017; Balakrishnan & Kamat 2018). Trends are literature-grounded; absolute numbers are a model.")
        flags = " ".join(f"--{k.replace('_', '-')} {v}" for k, v in values.items())
        metrics = {k: v for k, v in result.items() if isinstance(v, int | float) and v is not None}
        save_run_panel("synth.simulate", f"Synthesis: {result['phase']} at {values['temperature_c']:g} °C", values,
                       metrics=metrics, figures=lambda: [phase_bars(result), pl_spectrum(result), lamer_plot(course)],
                       command=f"python -m engine synth simulate {flags} --json", key="synth_run_one")


def axis_controls(name: str, index: int, two_d: bool) -> tuple:
    spec = FIELD_SPECS[name]
    cols = st.columns(3)
    start = cols[0].number_input(f"{LABELS[name]} from ({spec.unit})", spec.low, spec.high, float(spec.low),
                                 key=f"sweep_start_{index}_{name}")
    stop = cols[1].number_input(f"{LABELS[name]} to ({spec.unit})", spec.low, spec.high,
                                float(min(spec.high, max(spec.low * 10, spec.low + (spec.high - spec.low) / 2))),
                                key=f"sweep_stop_{index}_{name}")
    count = cols[2].slider("points", 2, 100, 100, key=f"sweep_n_{index}_{name}")
    return name, start, stop, count


def heatmap(frame, axes, key: str, title: str, colour_title: str, colourscale="Viridis") -> go.Figure:
    (yname, y0, y1, ny), (xname, x0, x1, nx) = axes
    z = frame[key].to_numpy().reshape(ny, nx)
    fig = go.Figure(go.Heatmap(x=np.linspace(x0, x1, nx), y=np.linspace(y0, y1, ny), z=z,
                               colorscale=colourscale, colorbar_title=colour_title,
                               hovertemplate=f"{xname}=%{{x:.3g}}<br>{yname}=%{{y:.3g}}<br>{colour_title}=%{{z:.3g}}"
                                             "<extra></extra>"))
    fig.update_layout(title=title, xaxis_title=axis_title(xname), yaxis_title=axis_title(yname), height=420)
    return fig


def phase_map(frame, axes) -> go.Figure:
    ny, nx = axes[0][3], axes[1][3]
    index = frame["phase"].map({p: i for i, p in enumerate(PHASE_NAMES)}).to_numpy().reshape(ny, nx)
    probs = np.stack([frame[f"p_{p}"].to_numpy().reshape(ny, nx) for p in PHASE_NAMES], axis=-1)
    n = len(PHASE_NAMES)
    scale = []
    for i, name in enumerate(PHASE_NAMES):
        scale += [[i / n, PHASE_COLOURS[name]], [(i + 1) / n, PHASE_COLOURS[name]]]
    hover = "<br>".join(f"P({p})=%{{customdata[{i}]:.2f}}" for i, p in enumerate(PHASE_NAMES))
    fig = go.Figure(go.Heatmap(x=np.linspace(axes[1][1], axes[1][2], nx), y=np.linspace(axes[0][1], axes[0][2], ny),
                               z=index, zmin=-0.5, zmax=n - 0.5, colorscale=scale, customdata=probs,
                               colorbar=dict(title="phase", tickvals=list(range(n)), ticktext=list(PHASE_NAMES)),
                               hovertemplate=f"{axes[1][0]}=%{{x:.3g}}<br>{axes[0][0]}=%{{y:.3g}}<br>{hover}"
                                             "<extra></extra>"))
    fig.update_layout(title="Phase map (most likely phase)", xaxis_title=axis_title(axes[1][0]),
                      yaxis_title=axis_title(axes[0][0]), height=420)
    return fig


def line_plots(frame, name: str) -> tuple[go.Figure, go.Figure]:
    x = frame[name]
    probs = go.Figure([go.Scatter(x=x, y=frame[f"p_{p}"], name=p, line_color=PHASE_COLOURS[p]) for p in PHASE_NAMES])
    probs.update_layout(title="Phase probabilities", xaxis_title=axis_title(name), yaxis_title="probability",
                        height=400, legend=dict(orientation="h", y=-0.3))
    optics = make_subplots(specs=[[{"secondary_y": True}]])
    optics.add_scatter(x=x, y=frame["edge_length_nm"], name="edge length (nm)", line_color="#2ca02c")
    optics.add_scatter(x=x, y=frame["pl_peak_nm"], name="PL peak (nm)", line_color="#d62728", secondary_y=True)
    optics.update_layout(title="Size and PL peak", xaxis_title=axis_title(name), height=400,
                         legend=dict(orientation="h", y=-0.3))
    optics.update_yaxes(title_text="edge length (nm)", secondary_y=False)
    optics.update_yaxes(title_text="PL peak (nm)", secondary_y=True)
    return probs, optics


def sweep_tab(values: dict) -> None:
    names = st.multiselect("Parameters to sweep (one or two)", list(FIELD_SPECS), default=["temperature_c"],
                           max_selections=2, format_func=lambda n: LABELS[n], key="sweep_fields")
    if not names:
        st.info("Pick one or two parameters to sweep.", icon=":material/tune:")
        return
    axes = tuple(axis_controls(name, i, len(names) == 2) for i, name in enumerate(names))
    total = int(np.prod([a[3] for a in axes]))
    st.caption(f"{total} recipes; the other fields stay at the recipe above.")
    scheduler = os.environ.get("TWINLAB_DASK_SCHEDULER")
    on_dask = st.toggle("Run on Dask", value=bool(scheduler), key="sweep_dask",
                        help=f"Run the chunks on the Dask scheduler {scheduler}" if scheduler else
                        "Run the chunks on a local Dask cluster (one worker per core), with its dashboard; "
                        "set TWINLAB_DASK_SCHEDULER=tcp://HOST:8786 to use an existing cluster")
    if st.button("Run sweep", type="primary", icon=":material/play_arrow:", key="sweep_run"):
        with user_errors():
            base = Recipe(**values)
            spec = ExecutionSpec.from_options(dask=None if scheduler else "local") if on_dask else None
            job = JobProgress("Starting the Dask cluster…" if on_dask else "Simulating recipes…", key="sweep_job")
            start = time.perf_counter()
            try:
                frame = sweep([make_axis(*a) for a in axes], base=base, spec=spec, on_client=job.dashboard,
                              chunk=2000 if total <= 20_000 else 10_000,
                              progress=lambda f: job(f, "Simulating recipes…"))
                st.session_state["sweep_result"] = (axes, frame, time.perf_counter() - start)
            finally:
                job.finish()
    if "sweep_result" not in st.session_state:
        return
    axes, finished, seconds = st.session_state["sweep_result"]
    frame = finished
    if finished.attrs.get("stopped"):
        st.warning(f"Stopped: {len(frame)} of {frame.attrs['total']} recipes finished in {seconds:.1f} s and are "
                   "shown (the rest of the grid is blank). Run the sweep again to complete it.",
                   icon=":material/stop_circle:")
        frame = frame.reindex(range(frame.attrs["total"]))
    else:
        st.caption(f"{len(frame)} recipes simulated in {seconds:.1f} s; fields not swept are those of the recipe "
                   "above when the sweep was run.")
    uncertainty = sweep_uncertainty(frame)
    if len(axes) == 2:
        st.plotly_chart(phase_map(frame, axes), width="stretch")
        if uncertainty is not None:
            left, right = st.columns(2)
            left.plotly_chart(heatmap(uncertainty, axes, "entropy", "Surrogate predictive entropy",
                                      "entropy (nats)", "Magma"), width="stretch")
            right.plotly_chart(heatmap(uncertainty, axes, "mutual_information", "Surrogate epistemic uncertainty",
                                       "mutual information (nats)", "Magma"), width="stretch")
            st.plotly_chart(heatmap(uncertainty, axes, "domain_distance", "Distance to the surrogate's training "
                                    "data (> 1: outside its training box)", "distance (99 % level = 1)", "Magma"),
                            width="stretch")
        left, right = st.columns(2)
        left.plotly_chart(heatmap(frame, axes, "edge_length_nm", "Edge length", "edge length (nm)"),
                          width="stretch")
        right.plotly_chart(heatmap(frame, axes, "pl_peak_nm", "PL peak (blank: non-emissive)", "PL peak (nm)",
                                   "Turbo"), width="stretch")
    else:
        probs, optics = line_plots(frame, axes[0][0])
        left, right = st.columns(2)
        left.plotly_chart(probs, width="stretch")
        right.plotly_chart(optics, width="stretch")
        if uncertainty is not None:
            st.plotly_chart(uncertainty_lines(uncertainty, frame, axes[0][0]), width="stretch")
    st.download_button("Download sweep (CSV)", lambda: finished.to_csv(index=False).encode(),
                       file_name="synthesis_sweep.csv", mime="text/csv", icon=":material/download:")
    flags = " ".join(f"--vary {n}={a}:{b}:{c}" for n, a, b, c in axes)
    save_run_panel("synth.sweep", f"Synthesis sweep over {', '.join(a[0] for a in axes)}",
                   {"axes": [list(a) for a in axes], "base": {k: v for k, v in finished.iloc[0].items()
                                                             if k in FIELD_SPECS or k == "solvent"}},
                   metrics={"recipes": len(finished), "seconds": seconds},
                   arrays=frame_arrays(finished),
                   command=f"python -m engine synth sweep {flags} --out sweep.csv", key="synth_run_sweep")


def sweep_uncertainty(frame):
    """Surrogate entropy and mutual information at every sweep point (None when no surrogate is loaded)."""

    kind, model = surrogates().default()
    if model is None:
        return None
    done = frame["phase"].notna().to_numpy()
    if not done.all():  # a stopped sweep: blanks where no recipe was simulated
        known = sweep_uncertainty(frame[done])
        return None if known is None else known.set_axis(frame.index[done]).reindex(frame.index)
    out = model.predict_with_uncertainty(frame)
    return pd.DataFrame({"entropy": out["entropy"], "mutual_information": out["mutual_information"],
                         "domain_distance": out["domain_distance"]})


def uncertainty_lines(uncertainty, frame, name: str) -> go.Figure:
    fig = go.Figure([go.Scatter(x=frame[name], y=uncertainty["entropy"], name="predictive entropy (nats)"),
                     go.Scatter(x=frame[name], y=uncertainty["mutual_information"], name="epistemic (nats)"),
                     go.Scatter(x=frame[name], y=uncertainty["domain_distance"], name="distance to training data",
                                yaxis="y2", line_dash="dot")])
    fig.update_layout(title="Surrogate uncertainty along the sweep", xaxis_title=axis_title(name),
                      yaxis_title="nats", height=360, legend=dict(orientation="h", y=-0.3),
                      yaxis2=dict(title="distance (99 % level = 1)", overlaying="y", side="right"))
    return fig


def design_tab(values: dict) -> None:
    from engine.synthesis.design import PL_RANGE_NM, DesignTarget, design

    st.markdown("Find recipes whose **physics-verified** PL peak hits a target: the surrogate screens thousands "
                "of candidates, the physics engine checks the best ones and refines around them.")
    kind, model = surrogate_notice()
    if model is None:
        return
    cols = st.columns(4)
    target_nm = cols[0].number_input("Target PL peak (nm)", PL_RANGE_NM[0], PL_RANGE_NM[1], 490.0, 1.0,
                                     key="design_target")
    phase = cols[1].selectbox("Phase", ("cube", "platelet"), key="design_phase")
    cap = cols[2].number_input("Max FWHM (nm, 0 = no cap)", 0.0, 200.0, 0.0, 1.0, key="design_fwhm")
    tolerance = cols[3].number_input("Tolerance (± nm)", 0.5, 20.0, 2.0, 0.5, key="design_tol")
    fixed_names = st.multiselect("Keep these fields at the recipe above", list(FIELD_SPECS) + ["solvent"],
                                 format_func=lambda n: LABELS.get(n, "Solvent"), key="design_fix")
    if st.button("Design recipes", type="primary", icon=":material/auto_fix_high:", key="design_run") \
            or st.session_state.pop("design_autorun", False):
        with user_errors(), st.spinner("Searching on the surrogate and verifying with the physics…"):
            target = DesignTarget(float(target_nm), phase, float(cap) or None, float(tolerance),
                                  {n: values[n] for n in fixed_names})
            st.session_state["design_result"] = (kind, design(model, target))
    if "design_result" not in st.session_state:
        return
    used, result = st.session_state["design_result"]
    if result["found"]:
        st.success(f"Found recipes within ±{result['target']['tolerance_nm']:g} nm, verified by the physics "
                   f"({result['physics_evaluations']} physics runs, {result['seconds']:.1f} s, surrogate {used}).",
                   icon=":material/check_circle:")
    else:
        st.warning("No verified recipe within the tolerance; the closest verified ones are listed. Loosen the "
                   "constraints or fix fewer fields.", icon=":material/warning:")
    rows = [{**r["recipe"], "verified PL (nm)": r["verified"]["pl_peak_nm"],
             "|error| (nm)": r["verified"]["abs_error_nm"], "verified FWHM (nm)": r["verified"]["pl_fwhm_nm"],
             "edge (nm)": r["verified"]["edge_length_nm"], "predicted PL (nm)": r["predicted"]["pl_peak_nm"],
             "90% interval (nm)": "{:.1f}–{:.1f}".format(*r["predicted"]["pl_interval_90_nm"]),
             f"P({phase})": r["predicted"]["p_phase"], "epistemic (nats)": r["predicted"]["mutual_information_nats"]}
            for r in result["recipes"]]

    table = pd.DataFrame(rows)
    st.dataframe(table, width="stretch", hide_index=True)
    st.download_button("Download designed recipes (CSV)", table.to_csv(index=False).encode(),
                       file_name="synthesis_design.csv", mime="text/csv", icon=":material/download:")
    target = result["target"]
    fix_flags = "".join(f" --fix {name}={value}" for name, value in target["fixed"].items())
    save_run_panel("synth.design", f"Design: PL {target['pl_nm']:g} nm {target['phase']}",
                   {"target_nm": target["pl_nm"], "phase": target["phase"], "max_fwhm_nm": target["max_fwhm_nm"],
                    "tolerance_nm": target["tolerance_nm"], "fixed": target["fixed"], "model": used,
                    "recipe": values},
                   metrics={"found": result["found"], "physics_evaluations": result["physics_evaluations"],
                            "seconds": result["seconds"],
                            **({"best_abs_error_nm": rows[0]["|error| (nm)"]} if rows else {})},
                   arrays=frame_arrays(table), key="synth_run_design",
                   command=f"python -m engine synth design --target-pl-nm {target['pl_nm']:g} --phase {target['phase']}"
                           + (f" --max-fwhm-nm {target['max_fwhm_nm']:g}" if target["max_fwhm_nm"] else "")
                           + f" --tolerance-nm {target['tolerance_nm']:g}{fix_flags} --model {used} --json")


@st.cache_data(show_spinner=False)
def reliability_data(kind: str, rows: int, seed: int) -> dict:
    from engine.synthesis.dataset import TRAINING_BOX, build_dataset
    from engine.synthesis.models import calibration as cal

    frame, _ = build_dataset(rows, seed, oversample=2, box=TRAINING_BOX)
    labels = frame["phase"].map({p: i for i, p in enumerate(PHASE_NAMES)}).to_numpy()
    model = surrogates().models[kind]
    proba = model.predict_proba(frame)
    return {"bins": cal.reliability(proba, labels), "ece": cal.ece(proba, labels),
            "accuracy": float(np.mean(proba.argmax(1) == labels))}


def reliability_figure(bins: dict) -> go.Figure:
    used = bins["count"] > 0
    fig = go.Figure([go.Scatter(x=[0, 1], y=[0, 1], mode="lines", line_dash="dash", line_color="#888",
                                name="perfect calibration"),
                     go.Scatter(x=bins["confidence"][used], y=bins["accuracy"][used], mode="lines+markers",
                                name="surrogate", text=[f"{c} recipes" for c in bins["count"][used]])])
    fig.update_layout(title="Reliability diagram (after temperature scaling)", xaxis_title="confidence (top-class "
                      "probability)", yaxis_title="accuracy (fraction correct)", height=420,
                      xaxis_range=[0, 1.02], yaxis_range=[0, 1.02])
    return fig


def models_tab() -> None:
    import json

    from engine.synthesis.train import MODEL_DIR

    loaded = surrogates()
    for kind, error in loaded.errors.items():
        st.error(f"{kind}: {error}", icon=":material/error:")
    if not loaded.models:
        st.info("Physics-only mode: no surrogate is available.", icon=":material/info:")
        return
    bench_file = MODEL_DIR / "bench_synth_ml.json"
    if bench_file.is_file():

        bench = json.loads(bench_file.read_text())
        rows = {kind: {k: v for k, v in row.items() if not isinstance(v, dict)} for kind, row in bench["table"].items()}
        st.subheader("Held-out benchmark, all methods side by side")
        st.dataframe(pd.DataFrame(rows).T, width="stretch")
        st.caption(f"`python -m engine bench synth-ml --json` on {bench['test_rows']} held-out physics recipes and "
                   f"{bench['ood_rows']} out-of-range recipes (file {bench_file.name}).")
    kind = st.selectbox("Model card", list(loaded.models), key="models_kind")
    card = loaded.cards[kind]
    cols = st.columns(4)
    cols[0].metric("Validation accuracy", f"{card['metrics']['val_accuracy']:.1%}")
    cols[1].metric("Validation ECE", f"{card['metrics']['val_ece']:.3f}")
    cols[2].metric("Temperature", f"{card['metrics']['temperature']:.2f}")
    cols[3].metric("Checkpoint", f"{card['bytes'] / 1e6:.2f} MB")
    with st.expander("Full model card (JSON)"):
        st.json(card)
    if st.button("Reliability diagram on 2,000 fresh physics recipes", key="models_reliability",
                 icon=":material/insights:"):
        st.session_state["models_reliability_kind"] = kind
    if st.session_state.get("models_reliability_kind") == kind:
        with st.spinner("Simulating fresh recipes…"):
            data = reliability_data(kind, 2000, 4242)
        st.plotly_chart(reliability_figure(data["bins"]), width="stretch")
        st.caption(f"Accuracy {data['accuracy']:.1%}, ECE {data['ece']:.3f} on recipes the model never saw.")


def parity_figure(table, name: str, unit: str) -> go.Figure:
    measured, twin = table[name], table[f"twin_{name}"]
    both = np.isfinite(measured.to_numpy(float)) & np.isfinite(twin.to_numpy(float))
    span = [float(min(measured[both].min(), twin[both].min())), float(max(measured[both].max(), twin[both].max()))] \
        if both.any() else [0, 1]
    fig = go.Figure([go.Scatter(x=span, y=span, mode="lines", line_dash="dash", line_color="#888", name="y = x"),
                     go.Scatter(x=twin[both], y=measured[both], mode="markers", name="samples",
                                text=table["sample_id"][both] if "sample_id" in table else None)])
    fig.update_layout(title=f"Parity: {name.replace('_', ' ')}", xaxis_title=f"twin ({unit})",
                      yaxis_title=f"measured ({unit})", height=380)
    return fig


def adapt_section(valid) -> None:
    """Recalibrate and correct the surrogate on the lab rows, with cross-validation; the shipped model is kept."""

    from engine.synthesis.adapt import adapt

    kind, model = surrogates().default()
    if model is None:
        return
    st.subheader("Adapt the surrogate to these data")
    st.caption("Temperature scaling on the measured phases and a ridge correction of the residuals, each scored by "
               "5-fold cross-validation on your rows. The shipped model is not changed; the adapted predictions "
               "exist in this session only.")
    if not st.button("Adapt and cross-validate", key="lab_adapt", icon=":material/tune:"):
        return
    with user_errors():
        adapted, report = adapt(model, valid)
        rows = [{"quantity": name, **entry} for name, entry in report.items()]
        st.dataframe(pd.DataFrame(rows), hide_index=True, width="stretch")
        helped = [name for name, entry in report.items() if entry.get("helped")]
        st.caption(f"Model: {kind}. Cross-validated error went down for: {', '.join(helped) or 'nothing'}.")
        predictions = pd.concat([valid.reset_index(drop=True), adapted.predict(valid)], axis=1)
        st.download_button("Download adapted predictions (CSV)", predictions.to_csv(index=False).encode(),
                           file_name="synthesis_adapted.csv", mime="text/csv", icon=":material/download:",
                           key="lab_adapt_download")


def experiments_tab() -> None:
    from engine.synthesis.lab import compare_with_twin, cusum, read_lab_csv
    from engine.synthesis.train import MODEL_DIR

    template = (MODEL_DIR.parents[1] / "data" / "synthesis" / "lab_template.csv").read_bytes()
    example = (MODEL_DIR.parents[1] / "data" / "synthesis" / "lab_example.csv").read_bytes()
    st.markdown("Import your lab results (CSV: recipe columns plus any of phase, PL peak, FWHM, edge length) to "
                "compare them with the twin. Valid rows are kept; rejected rows are listed with the reason.")
    left, right = st.columns(2)
    left.download_button("Template CSV", template, file_name="lab_template.csv", mime="text/csv",
                         icon=":material/download:", key="lab_template")
    if right.button("Use the example file", key="lab_example", icon=":material/science:"):
        st.session_state["lab_bytes"] = ("lab_example.csv", example)
    upload = st.file_uploader("Lab results (CSV, up to 50 MB)", type=["csv"], key="lab_upload")
    if upload is not None:
        st.session_state["lab_bytes"] = (upload.name, upload.getvalue())
    if "lab_bytes" not in st.session_state:
        return
    name, data = st.session_state["lab_bytes"]
    with user_errors():
        imported = read_lab_csv(data)
        if imported.rejected:
            st.warning(f"{len(imported.rejected)} problem(s); the affected rows were not imported. Fix them and "
                       "upload again.", icon=":material/warning:")

            st.dataframe(pd.DataFrame(imported.rejected), hide_index=True, width="stretch")
        st.success(f"{len(imported.valid)} valid row(s) from {name}.", icon=":material/check_circle:")
        if imported.valid.empty:
            return
        table = compare_with_twin(imported.valid)
        cols = st.columns(2)
        for col, (key, unit) in zip(cols, (("pl_peak_nm", "nm"), ("edge_length_nm", "nm")), strict=True):
            if key in table:
                col.plotly_chart(parity_figure(table, key, unit), width="stretch")
        if "residual_pl_peak_nm" in table:
            ordered = table.sort_values("date") if "date" in table else table
            drift = cusum(ordered["residual_pl_peak_nm"].to_numpy(float))
            fig = go.Figure([go.Scatter(y=drift["upper"], name="upper CUSUM"),
                             go.Scatter(y=drift["lower"], name="lower CUSUM")])
            fig.add_hline(y=drift["h"], line_dash="dash", annotation_text=f"decision limit h = {drift['h']:.1f}")
            fig.update_layout(title="Drift of PL residuals (measured − twin), in time order",
                              xaxis_title="sample (time order)", yaxis_title="CUSUM (standard deviations)",
                              height=360)
            st.plotly_chart(fig, width="stretch")
            if drift["alarm"] is None:
                st.caption(f"No systematic drift of the PL residuals detected (two-sided CUSUM, k = 0.5, h = "
                           f"{drift['h']:.1f}: 1 % false alarms on a steady series of this length).")
            else:
                st.warning(f"Residual drift flagged at sample {drift['alarm'] + 1} (time order).",
                           icon=":material/trending_up:")
        st.dataframe(table, hide_index=True, width="stretch")
        adapt_section(imported.valid)
        numeric = {c: table[c].to_numpy(float) for c in table.columns if table[c].dtype.kind in "fi"}
        save_run_panel("synth.lab", f"Lab results: {name}", {"file": name, "rows": len(table)},
                       metrics={"rows": len(table), "rejected_problems": len(imported.rejected)}, arrays=numeric,
                       command="engine.synthesis.lab.read_lab_csv", key="synth_run_lab")


def seed_recipe(recipe: dict) -> None:
    """Set the recipe inputs (restoring a run)."""
    for name in FIELD_SPECS:
        st.session_state[f"synth_{name}"] = float(recipe[name])
    st.session_state["synth_solvent"] = recipe["solvent"]


def seed_sweep(run) -> None:
    """Sweep controls from a saved sweep; its saved table is shown again without re-simulating."""

    seed_recipe(run.params["base"])
    axes = tuple((name, float(start), float(stop), int(count)) for name, start, stop, count in run.params["axes"])
    st.session_state["sweep_fields"] = [axis[0] for axis in axes]
    for index, (name, start, stop, count) in enumerate(axes):
        st.session_state[f"sweep_start_{index}_{name}"] = start
        st.session_state[f"sweep_stop_{index}_{name}"] = stop
        st.session_state[f"sweep_n_{index}_{name}"] = count
    if "phase" in run.arrays:  # the whole table was saved
        st.session_state["sweep_result"] = (axes, pd.DataFrame(run.arrays), run.metrics.get("seconds", 0.0))


def seed_design(run) -> None:
    """Design controls from a saved design; the (deterministic, ~2 s) design runs again."""
    params = run.params
    seed_recipe({**params["recipe"], **params["fixed"]})
    st.session_state.update(design_target=float(params["target_nm"]), design_phase=params["phase"],
                            design_fwhm=float(params["max_fwhm_nm"] or 0.0), design_tol=float(params["tolerance_nm"]),
                            design_fix=list(params["fixed"]), design_autorun=True)


st.title("Synthesis twin")
st.caption("Hot-injection CsPbBr3 nanocrystals: Cs-oleate injected into PbBr2 with oleic acid and oleylamine. "
           "Classical nucleation (LaMer burst), growth and ripening by the method of moments, phase selection "
           "and optics grounded in the published chemistry.")
restored = restore_run("pages/synthesis.py", {"synth.simulate": lambda run: seed_recipe(run.params), "synth.lab": None,
                                               "synth.sweep": seed_sweep, "synth.design": seed_design})
RESTORED_TAB = {"synth.simulate": "One recipe", "synth.sweep": "Sweep", "synth.design": "Design",
                "synth.lab": "My experiments"}
if restored is not None and st.session_state.get("synth_tab_run") != restored.id:  # a newly opened run link
    st.session_state["synth_tab_run"] = restored.id
    st.session_state["synth_tab"] = RESTORED_TAB[restored.kind]


@st.fragment
def page_body() -> None:
    """Recipe inputs and the tabs: a fragment, so a recipe change or tab switch reruns only this part."""
    recipe_values = recipe_controls()
    # Lazy tabs: only the open tab's content runs and is sent to the browser.
    single, grid, designer, models, mine = st.tabs(["One recipe", "Sweep", "Design", "Models", "My experiments"],
                                                   key="synth_tab", on_change="rerun")
    if single.open:
        with single:
            single_recipe_tab(recipe_values)
    if grid.open:
        with grid:
            st.fragment(sweep_tab)(recipe_values)
    if designer.open:
        with designer:
            st.fragment(design_tab)(recipe_values)
    if models.open:
        with models:
            models_tab()
    if mine.open:
        with mine:
            experiments_tab()


page_body()
