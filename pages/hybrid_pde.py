"""Hybrid PDE page: simulate equations, fit a viscosity, compare physical / neural / hybrid rollouts (UI only)."""

from __future__ import annotations

import io
import math
from functools import partial

import numpy as np
import pandas as pd
import plotly.graph_objects as go
import streamlit as st

from engine.hybrid import experiment, pretrained
from engine.hybrid.data import InitKind, load_or_generate, read_trajectory_npz
from engine.hybrid.hybrid import HybridMode
from engine.hybrid.inference import SimulationConfig, add_noise, fit_viscosity, simulate, trajectory
from engine.hybrid.physical import Equation
from engine.hybrid.train import nrmse
from pages import charts
from pages.common import JobProgress, fast_figure, restore_run, save_run_panel, user_errors

st.title("Hybrid PDE")
st.caption(
    "Physical solvers (pseudo-spectral Burgers, exact heat and advection, buoyant smoke), neural time steppers "
    "and hybrid-cooperative training (after HYCO, Liverani, Steynberg & Zuazua 2025). Domain: periodic box "
    "[-1, 1) per axis; all quantities are dimensionless."
)


@st.cache_data(max_entries=16, show_spinner=False)
def run_simulation(config: SimulationConfig) -> dict[str, np.ndarray]:
    return simulate(config)


@st.cache_resource
def shipped_models():
    return pretrained.load()


@st.cache_data(show_spinner=False)
def test_trajectories() -> np.ndarray:
    return load_or_generate(experiment.PartialPhysicsConfig().spec("test"))


FIT_DEMO = {"nx": 128, "t_end": 1.0, "n_out": 21, "seed": 0}  # the synthetic trajectory of the fitting demo


@st.cache_data(max_entries=8, show_spinner=False)
def noisy_burgers(nu: float, noise: float) -> dict[str, np.ndarray]:
    clean = simulate(SimulationConfig(nx=FIT_DEMO["nx"], nu=nu, t_end=FIT_DEMO["t_end"], n_out=FIT_DEMO["n_out"]))
    return add_noise(clean, noise, FIT_DEMO["seed"])


@st.cache_data(max_entries=8, show_spinner=False)
def run_fit(x: np.ndarray, t: np.ndarray, u: np.ndarray, nu0: float):
    result = fit_viscosity(x, t, u, nu0=nu0)
    return result.values["nu"], result.loss, result.history


def npz_bytes(arrays: dict[str, np.ndarray]) -> bytes:
    buffer = io.BytesIO()
    np.savez_compressed(buffer, **arrays)
    return buffer.getvalue()


def _title(text: str) -> dict:
    return {"title": {"text": text}}


def _play_controls(names: list[str], duration_ms: int, redraw: bool, y: float) -> tuple[list, list]:
    """Plotly ``updatemenus`` (play/pause) and ``sliders`` over frames called ``names``."""
    steps = [{"args": [[name], {"frame": {"duration": 0, "redraw": redraw}, "mode": "immediate"}], "label": name,
              "method": "animate"} for name in names]
    buttons = [{"label": "Play", "method": "animate",
                "args": [None, {"frame": {"duration": duration_ms, "redraw": redraw}, "fromcurrent": True,
                                "transition": {"duration": 0}}]},
               {"label": "Pause", "method": "animate",
                "args": [[None], {"frame": {"duration": 0}, "mode": "immediate"}]}]
    menus = [{"type": "buttons", "showactive": False, "x": 0, "y": y, "xanchor": "left", "buttons": buttons}]
    return menus, [{"steps": steps, "currentvalue": {"prefix": "t = "}, "x": 0.15, "len": 0.85, "y": y + 0.08}]


def line_animation(x, t, series: dict[str, np.ndarray], y_title: str) -> go.Figure:
    """Animated line plot of one or more [K, nx] series over the frames of t (50 ms per frame when playing)."""
    names = list(series)
    lo = min(float(np.min(s)) for s in series.values())
    hi = max(float(np.max(s)) for s in series.values())
    pad = 0.05 * (hi - lo + 1e-12)
    labels = [f"{time:.3f}" for time in t]
    frames = [{"name": label, "data": [{"y": series[n][k]} for n in names]} for k, label in enumerate(labels)]
    menus, sliders = _play_controls(labels, 50, False, -0.18)
    data = [{"type": "scatter", "x": x, "y": series[n][0], "mode": "lines", "name": n} for n in names]
    return fast_figure(data, {"xaxis": _title("x (dimensionless)"), "height": 380, "margin": {"b": 90},
                              "yaxis": {**_title(y_title), "range": [lo - pad, hi + pad]},
                              "updatemenus": menus, "sliders": sliders}, frames)


def image_animation(x, y, t, field: np.ndarray, title: str) -> go.Figure:
    """Animated heatmap of a [K, ny, nx] field (80 ms per frame when playing)."""
    lo, hi = float(field.min()), float(field.max())
    labels = [f"{time:.3f}" for time in t]
    frames = [{"name": label, "data": [{"type": "heatmap", "z": field[k]}]} for k, label in enumerate(labels)]
    menus, sliders = _play_controls(labels, 80, True, -0.12)
    data = [{"type": "heatmap", "z": field[0], "x": x, "y": y, "zmin": lo, "zmax": hi, "colorscale": "Viridis"}]
    return fast_figure(data, {"xaxis": _title("x (dimensionless)"), "yaxis": {**_title("y (dimensionless)"),
                              "scaleanchor": "x"}, "title": {"text": title}, "height": 480,
                              "updatemenus": menus, "sliders": sliders}, frames)


def loss_figure(losses: list[float]) -> go.Figure:
    fig = go.Figure(go.Scatter(y=losses, mode="lines"))
    fig.update_layout(xaxis_title="epoch (all cycles)", yaxis_title="training MSE (u units²)", yaxis_type="log",
                      height=260, title="Synthetic-phase training loss")
    return fig


def spacetime(x, t, u: np.ndarray, title: str) -> go.Figure:
    data = [{"type": "heatmap", "z": u, "x": x, "y": t, "colorscale": "RdBu_r", "zmid": 0,
             "colorbar": {"title": {"text": "u"}}}]
    return fast_figure(data, {"title": {"text": title}, "xaxis": _title("x (dimensionless)"),
                              "yaxis": _title("t (dimensionless)"), "height": 380})


def spacetime_view(x, t, u: np.ndarray, title: str) -> tuple[pd.DataFrame, dict]:
    """u(x, t) as a Vega-Lite heatmap: one cell per grid point and output time (cell edges halfway between),
    drawn in order of time, then x (see :func:`_drawn_ends`)."""
    x_edges, t_edges = _cell_edges(np.asarray(x, float)), _cell_edges(np.asarray(t, float))
    nt, nx = u.shape
    frame = pd.DataFrame({"x": np.tile(x, nt), "x0": np.tile(x_edges[:-1], nt), "x1": np.tile(_drawn_ends(x_edges), nt),
                          "t": np.repeat(t, nx), "t0": np.repeat(t_edges[:-1], nx),
                          "t1": np.repeat(_drawn_ends(t_edges), nx),
                          "u": np.asarray(u, float).ravel()})
    tips = charts.tooltip(("x", "x", ".4f"), ("t", "t", ".3f"), ("u", "u", ".4f"))  # cell centres, not edges
    return frame, charts.heatmap("x0", "x1", "t0", "t1", "u", "x (dimensionless)", "t (dimensionless)", "u", tips,
                                 mid=0.0, title=title)


def _cell_edges(centres: np.ndarray) -> np.ndarray:
    """Edges of the cells around sorted ``centres`` (n + 1): midpoints, the ends extended by half a spacing."""
    if len(centres) == 1:
        return np.array([centres[0] - 0.5, centres[0] + 0.5])
    mid = 0.5 * (centres[1:] + centres[:-1])
    return np.concatenate([[2 * centres[0] - mid[0]], mid, [2 * centres[-1] - mid[-1]]])


def _drawn_ends(edges: np.ndarray) -> np.ndarray:
    """Right (upper) ends of the drawn cells: each reaches 30 % into the next cell, which is drawn after it and
    covers the overlap, so no anti-aliasing seam shows between cells; the last cell ends at its edge."""
    ends = edges[1:].copy()
    ends[:-1] += 0.3 * np.diff(edges)[1:]
    return ends


def snapshot_view(x, t, u: np.ndarray, count: int = 5) -> tuple[pd.DataFrame, dict]:
    """u(x) at ``count`` output times from start to end, as Vega-Lite lines coloured by time."""
    picks = np.unique(np.linspace(0, len(t) - 1, count).round().astype(int))
    frame = pd.DataFrame({"x": np.tile(x, len(picks)), "u": np.asarray(u, float)[picks].ravel(),
                          "t": np.repeat([f"{t[k]:.3g}" for k in picks], len(x))})
    colour = {"field": "t", "type": "ordinal", "title": "t", "sort": None, "scale": {"scheme": "viridis"}}
    return frame, charts.lines(charts.axis("x", "x (dimensionless)"), charts.axis("u", "u (dimensionless)"), colour,
                               "u(x) at five output times", tips=charts.tooltip(("t", "t", ""), ("x", "x", ".4f"),
                                                                                ("u", "u", ".4f")))


@st.cache_data(max_entries=16, show_spinner=False)
def hybrid_rollouts(pick: int) -> tuple[dict[str, np.ndarray], dict[str, list[float]]]:
    """Truth and the three shipped models' rollouts of held-out trajectory ``pick``, and their nRMSE per step."""
    models, _card = shipped_models()
    tests = test_trajectories()
    truth = tests[pick, :, 0]
    series = {"truth": truth}
    for name in ("physical", "neural", "hybrid"):
        series[name] = trajectory(models[name], tests[pick, 0], len(truth) - 1)[:, 0]
    errors = {n: [nrmse(series[n][None, k:k + 1, None], truth[None, k:k + 1, None]) for k in range(1, len(truth))]
              for n in ("physical", "neural", "hybrid")}
    return series, errors


def seed_simulation(run) -> None:
    """Simulation controls from a saved run; the (deterministic, cached) simulation runs again."""
    p = run.params
    st.session_state["pde_tab"] = "Simulate"
    st.session_state.update(pde_equation=p["equation"], pde_2d=p["ny"] is not None, pde_nx=int(p["nx"]),
                            pde_init=p["init"], pde_nu=float(p["nu"]), pde_tend=float(p["t_end"]),
                            pde_nout=int(p["n_out"]), pde_c=float(p["velocity"]), pde_b=float(p["buoyancy"]),
                            pde_seed=int(p["seed"]))


def seed_fit(run) -> None:
    """Fit-demo controls from a saved ``pde.fit`` run (an uploaded trajectory is not kept: only its ν₀)."""
    p = run.params
    st.session_state.update(pde_tab="Fit viscosity", fit_nu0=float(p["nu0"]))
    if p["data"] == "synthetic":
        st.session_state.update(fit_nu=float(p["nu_true"]), fit_noise=int(round(100 * float(p["noise"]))))


def seed_hybrid(run) -> None:
    """Live hybrid-training controls from a saved ``pde.hybrid`` run."""
    p = run.params
    st.session_state.update(pde_tab="Hybrid models", live_mode=str(p["mode"]), live_cycles=int(p["cycles"]),
                            live_epochs=int(p["epochs"]))


restore_run("pages/hybrid_pde.py", {"pde.simulate": seed_simulation, "pde.fit": seed_fit, "pde.hybrid": seed_hybrid})
# Lazy tabs: only the open tab runs and is drawn (a tab switch reruns the page).
simulate_tab, fit_tab, hybrid_tab = st.tabs(["Simulate", "Fit viscosity", "Hybrid models"], key="pde_tab",
                                            on_change="rerun")

if simulate_tab.open:
    with simulate_tab:
        c1, c2, c3 = st.columns(3)
        equation = Equation(c1.selectbox("Equation", [str(e) for e in Equation], key="pde_equation"))
        two_d = equation is Equation.SMOKE or c1.toggle("2-D", value=False, key="pde_2d")
        nx = c2.select_slider("Grid points per axis", [32, 64, 128, 256, 512, 1024] if not two_d else [32, 48, 64, 96],
                              value=256 if not two_d else 64, key="pde_nx")
        init = InitKind(c3.selectbox("Initial condition", [str(k) for k in InitKind],
                                     index=1 if equation is Equation.SMOKE else 0, key="pde_init",
                                     help="sine: u0 = -sin(pi x); gaussian: bump of width 0.2; random: Fourier modes"))
        label = {Equation.HEAT: "Diffusivity kappa"}.get(equation, "Viscosity nu")
        nu = c1.number_input(label, min_value=0.0, max_value=1.0, value=round(0.01 / math.pi, 5), step=0.001,
                             format="%.5f", key="pde_nu", help="Burgers default 0.01/pi (the classic shock test)")
        t_end = c2.number_input("Final time t_end", min_value=0.05, max_value=10.0, value=1.0, step=0.1, key="pde_tend")
        n_out = c3.slider("Output frames", 5, 101, 41, key="pde_nout")
        velocity = c1.number_input("Advection velocity c", -5.0, 5.0, 1.0, 0.1, key="pde_c") \
            if equation is Equation.ADVECTION else 1.0
        buoyancy = c2.number_input("Buoyancy b", -5.0, 5.0, 1.0, 0.1, key="pde_b") \
            if equation is Equation.SMOKE else 1.0
        seed = c3.number_input("Seed", 0, 10_000, 0, key="pde_seed") if init is InitKind.RANDOM else 0
        with user_errors():
            config = SimulationConfig(equation=equation, nx=nx, ny=nx if two_d else None, nu=nu, velocity=velocity,
                                      buoyancy=buoyancy, t_end=t_end, n_out=n_out, init=init, seed=int(seed))
            with st.spinner("Simulating…"):
                out = run_simulation(config)
            x, t = out["x"], out["t"]
            if not two_d:
                report_figure = partial(spacetime, x, t, out["u"], f"{equation} — space–time")
                # Lazy tabs, one view drawn at a time: the first is the lightest (five lines); the space-time map
                # (one cell per grid point and frame) and the Plotly player are built when opened (pages/charts.py).
                snapshots, space_time, player = st.tabs(["Snapshots", "Space–time map", "Play u(x, t)"],
                                                        key="pde_line_view", on_change="rerun")
                if snapshots.open:
                    with snapshots:
                        charts.show(*snapshot_view(x, t, out["u"]), key="pde_snapshots")
                if space_time.open:
                    with space_time:
                        charts.show(*spacetime_view(x, t, out["u"], f"{equation} — space–time"), key="pde_spacetime")
                if player.open:
                    player.plotly_chart(line_animation(x, t, {"u": out["u"]}, "u (dimensionless)"),
                                        use_container_width=True)
                table = pd.DataFrame(out["u"], index=pd.Index(t, name="t"), columns=[f"x={v:.4f}" for v in x])
                st.download_button("Download u(t, x) as CSV", lambda: table.to_csv().encode(), "simulation.csv",
                                   "text/csv")
            else:
                name = "density" if equation is Equation.SMOKE else "u"
                report_figure = partial(image_animation, x, out["y"], t, out[name], f"{equation}: {name}")
                st.plotly_chart(report_figure(), use_container_width=True)
            st.download_button("Download all arrays (.npz)", lambda: npz_bytes(out), "simulation.npz",
                               "application/octet-stream")
            save_run_panel(
                "pde.simulate", f"{equation} · nx={nx} · t_end={t_end:g}",
                {"equation": str(equation), "nx": nx, "ny": nx if two_d else None, "nu": nu, "velocity": velocity,
                 "buoyancy": buoyancy, "t_end": t_end, "n_out": n_out, "init": str(init), "seed": int(seed)},
                arrays=out, figures=lambda: [report_figure()], key="pde_run",
                command=f"python -m engine pde simulate --equation {equation} --nx {nx}"
                        + (f" --ny {nx}" if two_d else "") + f" --nu {nu} --velocity {velocity} --buoyancy {buoyancy}"
                        f" --t-end {t_end} --n-out {n_out}"
                        f" --init {init} --seed {int(seed)} --out u.npz")

if fit_tab.open:
    with fit_tab:
        st.markdown("Fit Burgers' viscosity with L-BFGS-B (bounded, gradients through the solver) to a noisy "
                    "trajectory, or upload your own `.npz` with `x [nx]`, `t [K]`, `u [K, nx]`.")
        c1, c2, c3 = st.columns(3)
        nu_true = c1.number_input("True viscosity", 0.001, 0.2, 0.02, 0.001, format="%.4f", key="fit_nu")
        noise = c2.slider("Noise (% of RMS u)", 0, 20, 5, key="fit_noise") / 100
        nu0 = c3.number_input("Initial guess", 0.001, 0.5, 0.05, 0.001, format="%.4f", key="fit_nu0")
        upload = st.file_uploader("Optional trajectory (.npz)", type=["npz"], key="fit_upload")
        if st.button("Fit viscosity", key="fit_run", type="primary"):
            st.session_state.pop("fit_result", None)
            with user_errors():
                if upload is not None:
                    arrays = read_trajectory_npz(upload.getvalue(), label=f"uploaded file {upload.name}")
                    source = upload.name
                else:
                    arrays = noisy_burgers(nu_true, noise)
                    source = None
                with st.spinner("Fitting (L-BFGS-B)…"):
                    nu_fit, loss, history = run_fit(arrays["x"], arrays["t"], arrays["u"], nu0)
                st.session_state["fit_result"] = {"arrays": arrays, "source": source, "nu_true": nu_true,
                                                  "noise": noise, "nu0": nu0, "nu_fit": nu_fit, "loss": loss,
                                                  "history": history}
        fitted = st.session_state.get("fit_result")
        if fitted is not None:  # kept across reruns, so the save panel below works after its own clicks
            synthetic = fitted["source"] is None
            m1, m2, m3 = st.columns(3)
            m1.metric("Fitted viscosity", f"{fitted['nu_fit']:.5f}")
            rel_error = abs(fitted["nu_fit"] - fitted["nu_true"]) / fitted["nu_true"] if synthetic else None
            if synthetic:
                m2.metric("Relative error", f"{rel_error:.2%}")
            m3.metric("Final loss (MSE)", f"{fitted['loss']:.3g}")
            fit_figure = go.Figure(go.Scatter(y=fitted["history"], mode="lines+markers"))
            fit_figure.update_layout(xaxis_title="loss evaluation", yaxis_title="MSE (u units²)", yaxis_type="log",
                                     title="Fitting loss", height=320)
            st.plotly_chart(fit_figure, use_container_width=True)
            data_file = "u.npz" if synthetic else fitted["source"]
            make_data = (f"python -m engine pde simulate --equation burgers --nx {FIT_DEMO['nx']}"
                         f" --nu {fitted['nu_true']}"
                         f" --t-end {FIT_DEMO['t_end']:g} --n-out {FIT_DEMO['n_out']} --init sine"
                         f" --noise {fitted['noise']} --seed {FIT_DEMO['seed']} --out u.npz && ") if synthetic else ""
            save_run_panel(
                "pde.fit", f"Burgers viscosity fit · {'synthetic' if synthetic else fitted['source']}",
                {"equation": "burgers", "data": "synthetic" if synthetic else fitted["source"], "nu0": fitted["nu0"],
                 **({"nu_true": fitted["nu_true"], "noise": fitted["noise"], **FIT_DEMO} if synthetic else {})},
                metrics={"nu_fit": fitted["nu_fit"], "loss": fitted["loss"], "evaluations": len(fitted["history"]),
                         **({"rel_error": rel_error} if synthetic else {})},
                arrays={**{k: fitted["arrays"][k] for k in ("x", "t", "u")},
                        "loss_history": np.asarray(fitted["history"])},
                figures=[fit_figure], key="pde_fit_run",
                command=make_data + f"python -m engine pde fit --equation burgers --data {data_file}"
                                    f" --nu0 {fitted['nu0']} --json")

if hybrid_tab.open:
    with hybrid_tab:
        st.markdown(
            "**Partially known physics.** The truth is Burgers plus a reaction term r·u(1−u²) (ν = 0.01, r = 1); "
            "the physical model is plain Burgers with a learnable viscosity. Physical-only fits ν; neural-only is a "
            "U-Net trained on one trajectory; the hybrid adds a local CNN correction to the physical step and trains "
            "both in alternating cycles. Errors are held-out rollouts from t = 0 (PDEBench nRMSE)."
        )
        with user_errors():
            models, card = shipped_models()
            scores = card["metrics"]["test_nrmse"]
            st.dataframe(pd.DataFrame({"model": list(scores), "held-out nRMSE": list(scores.values())}),
                         hide_index=True)
            tests = test_trajectories()
            pick = st.slider("Held-out trajectory", 0, len(tests) - 1, 0, key="hyb_pick")
            series, errors = hybrid_rollouts(pick)
            truth = series["truth"]
            dt = experiment.PartialPhysicsConfig().dt
            times = np.arange(len(truth)) * dt
            xs = np.linspace(-1, 1, truth.shape[-1], endpoint=False)
            st.plotly_chart(line_animation(xs, times, series, "u (dimensionless)"), use_container_width=True)
            err = fast_figure([{"type": "scatter", "x": times[1:], "y": errors[n], "name": n} for n in errors],
                              {"xaxis": _title("t (dimensionless)"), "yaxis": {**_title("nRMSE"), "type": "log"},
                               "height": 320, "title": {"text": "Rollout error on this trajectory"}})
            st.plotly_chart(err, use_container_width=True)
            export = pd.DataFrame({f"{n}_t{k}": series[n][k] for n in series for k in (0, len(truth) - 1)})
            st.download_button("Download first/last frames (CSV)", lambda: export.to_csv(index=False).encode(),
                               "hybrid_rollouts.csv", "text/csv")

        st.subheader("Train a hybrid live")
        c1, c2, c3 = st.columns(3)
        mode = HybridMode(c1.selectbox("Coupling", [str(m) for m in HybridMode], key="live_mode",
                                       help="augment: cross-augmentation by the other model's predictions (fraction "
                                            "alpha); interaction: HYCO interaction loss (weight lambda)"))
        cycles = c2.slider("Cycles", 1, 3, 2, key="live_cycles")
        epochs = c3.slider("Epochs per cycle", 5, 60, 15, key="live_epochs")
        if st.button("Train hybrid", key="live_train"):
            st.session_state.pop("hybrid_result", None)
            live = experiment.quick_config(mode, cycles, epochs)
            job = JobProgress("training…", key="live_job")
            chart = st.empty()
            losses: list[float] = []

            def on_epoch(epoch: int, loss: float, _score) -> bool:
                losses.append(loss)
                if len(losses) % 5 == 0:
                    job.draw(lambda: chart.plotly_chart(loss_figure(losses), use_container_width=True))
                return job(len(losses) / (cycles * epochs), f"epoch {len(losses)} of ≤ {cycles * epochs}")

            with user_errors():
                try:
                    _, records = experiment.train_hybrid_only(live, on_epoch=on_epoch)
                    chart.empty()
                    st.session_state["hybrid_result"] = {"mode": str(mode), "cycles": cycles, "epochs": epochs,
                                                         "records": records, "losses": losses, "stopped": job.stopped}
                finally:
                    job.finish()
        trained = st.session_state.get("hybrid_result")
        if trained is not None:  # kept across reruns, so the save panel below works after its own clicks
            if trained["stopped"]:
                st.warning(f"Stopped by the user after {len(trained['records'])} cycle(s); the best finished state is "
                           "kept and its records are below.", icon=":material/stop_circle:")
            records_table = pd.DataFrame(trained["records"])
            hybrid_figure = loss_figure(trained["losses"])
            st.plotly_chart(hybrid_figure, use_container_width=True, key="hybrid_loss_result")  # may equal the live one
            st.dataframe(records_table, hide_index=True)
            if not records_table.empty:
                best = records_table.loc[records_table["val_nrmse"].idxmin()]
                save_run_panel(
                    "pde.hybrid", f"Hybrid training · {trained['mode']} · {trained['cycles']} cycles",
                    {"mode": trained["mode"], "cycles": trained["cycles"], "epochs": trained["epochs"], "seed": 0,
                     "task": "burgers + reaction r u (1 - u^2), physical model without the reaction"},
                    metrics={"best_val_nrmse": float(best["val_nrmse"]), "best_cycle": int(best["cycle"]),
                             "nu": float(best["nu"]), "epochs_run": len(trained["losses"])},
                    arrays={"train_loss": np.asarray(trained["losses"]),
                            **{column: records_table[column].to_numpy() for column in records_table.columns}},
                    figures=[hybrid_figure], key="pde_hybrid_run",
                    command=f"python -m engine pde hybrid --mode {trained['mode']} --cycles {trained['cycles']}"
                            f" --epochs {trained['epochs']} --seed 0 --json")
