"""Graph diffusion page: sample spin / field configurations with a Laplacian-driven diffusion model,
watch the reverse trajectory, compare with MCMC/exact references and baselines (UI only)."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pandas as pd
import plotly.graph_objects as go
import streamlit as st

from engine.diffusion import graphs
from engine.diffusion.datasets import generate, make_spec
from engine.diffusion.inference import comparison_table, gaussian_twin, generate_samples, pretrained
from engine.diffusion.process import LaplacianDiffusion
from engine.diffusion.sampling import SAMPLERS
from engine.progress import JobStopped
from pages.common import JobProgress, fast_figure, restore_run, save_run_panel, user_errors

GRAPH_CHOICES = {
    "5×5 grid (pretrained network)": lambda: graphs.grid((5, 5)),
    "8×8 periodic grid": lambda: graphs.grid((8, 8), periodic=True),
    "3×3×3 cube": lambda: graphs.grid((3, 3, 3)),
    "ring of 24": lambda: graphs.ring(24),
    "random geometric (30 nodes)": lambda: graphs.random_geometric(30, 0.35, seed=3),
}
DATASET_LABELS = {"heisenberg": "Heisenberg spins (T = 0.25 J)", "gmrf": "Gaussian field (κ = 0.5)"}
N_REFERENCE = 300
SHIPPED = Path(__file__).resolve().parent.parent / "data" / "diffusion" / "heisenberg_5x5_T0.25.npz"


@st.cache_resource
def _pretrained(dataset: str):
    return pretrained(dataset)


@st.cache_data(show_spinner=False, max_entries=16)
def _reference(dataset: str, graph_key: str, seed: int, n: int = N_REFERENCE) -> np.ndarray:
    """Reference samples: the shipped MCMC file on the default graph, else generated on demand."""
    if dataset == "heisenberg" and graph_key == next(iter(GRAPH_CHOICES)) and SHIPPED.exists():
        shipped = np.load(SHIPPED, allow_pickle=False)
        if f"seed{seed}" in shipped and n <= len(shipped[f"seed{seed}"]):
            return shipped[f"seed{seed}"][:n].astype(float)
    spec = _spec(dataset, graph_key)
    return generate(spec, n, seed)[0]


def _spec(dataset: str, graph_key: str):
    params = _pretrained(dataset).spec.params
    return make_spec(dataset, graph=GRAPH_CHOICES[graph_key](), **params)


def _twin(dataset: str, graph_key: str):
    if graph_key == next(iter(GRAPH_CHOICES)):
        return _pretrained(dataset)
    return gaussian_twin(_spec(dataset, graph_key), _reference(dataset, graph_key, 1))


@st.cache_resource(max_entries=8)
def _process(dataset: str, graph_key: str):
    """The pretrained twin's forward process on the chosen graph, and its data scale."""
    twin = _pretrained(dataset)
    return LaplacianDiffusion(GRAPH_CHOICES[graph_key]().laplacian, twin.process.config), twin.scale


def _run(dataset, graph_key, sampler, steps, n, seed, inpaint=False):
    """A sampling run, shared by all sessions once finished; a new one shows a progress bar and a Stop button."""
    runs = _finished_runs()
    key = (dataset, graph_key, sampler, steps, n, seed, inpaint)
    if key not in runs:
        runs[key] = _sample_run(*key)
        while len(runs) > 8:
            runs.pop(next(iter(runs)), None)
    return runs[key]


@st.cache_resource
def _finished_runs() -> dict:
    return {}


def _sample_run(dataset, graph_key, sampler, steps, n, seed, inpaint):
    twin = _twin(dataset, graph_key)
    mask = values = None
    if inpaint:
        positions = twin.spec.graph.positions
        mask = positions[:, 0] == positions[:, 0].min()
        values = np.zeros((twin.spec.graph.n_nodes, twin.spec.dim))
        values[:, -1] = 1.0 if twin.spec.unit_norm else 2.0
    job = JobProgress("sampling the reverse process…", key=f"diffusion_job_{int(inpaint)}")
    try:
        result = generate_samples(twin, n, steps, sampler, seed, record_every=max(1, steps // 20), n_shown=1,
                                  known_mask=mask, known_values=values, progress=job)
    except JobStopped as stopped:  # forget the request, so the next run does not start it again
        st.session_state.pop("inpaint_run" if inpaint else "run", None)
        st.session_state["diffusion_stopped"] = str(stopped)
        raise
    finally:
        job.finish()
    return result.samples, result.trajectory[:, 0], result.times, mask


def _edges_trace(positions, edges):
    xs, ys, zs = [], [], []
    for i, j in edges:
        xs += [positions[i, 0], positions[j, 0], None]
        ys += [positions[i, 1], positions[j, 1], None]
        zs += [positions[i, 2], positions[j, 2], None]
    return {"type": "scatter3d", "x": xs, "y": ys, "z": zs, "mode": "lines", "line": {"color": "#bbbbbb", "width": 2},
            "hoverinfo": "skip", "showlegend": False}


def _config_trace(positions, x, unit_norm):
    if unit_norm:
        return {"type": "cone", "x": positions[:, 0], "y": positions[:, 1], "z": positions[:, 2], "u": x[:, 0],
                "v": x[:, 1], "w": x[:, 2], "anchor": "center", "sizemode": "absolute", "sizeref": 0.6, "cmin": 0,
                "cmax": 1.5, "colorscale": "Viridis", "colorbar": {"title": {"text": "|s|"}}}
    return {"type": "scatter3d", "x": positions[:, 0], "y": positions[:, 1], "z": positions[:, 2], "mode": "markers",
            "marker": {"size": 9, "color": x[:, 0], "colorscale": "RdBu", "cmin": -3, "cmax": 3,
                       "colorbar": {"title": {"text": "field component 1"}}}, "showlegend": False}


def _scene():
    return {"xaxis": {"title": {"text": "x (lattice units)"}}, "yaxis": {"title": {"text": "y (lattice units)"}},
            "zaxis": {"title": {"text": "z (lattice units)"}}, "aspectmode": "data"}


def is_planar(spec) -> bool:
    """All nodes in one plane z = const (grids, rings, random geometric graphs in 2-D)."""
    return bool(np.ptp(spec.graph.positions[:, 2]) == 0.0)


def _edges_trace_2d(positions, edges):
    xs, ys = [], []
    for i, j in edges:
        xs += [positions[i, 0], positions[j, 0], None]
        ys += [positions[i, 1], positions[j, 1], None]
    return {"type": "scatter", "x": xs, "y": ys, "mode": "lines", "line": {"color": "#cccccc", "width": 1},
            "hoverinfo": "skip", "showlegend": False}


def _config_traces_2d(positions, x, unit_norm) -> list[dict]:
    """Top view of one configuration, only in attributes Plotly can animate without a full redraw (x, y, marker
    colour): a spin is a segment along its in-plane part (longer = more in-plane) with a dot at its head, over a
    node coloured by its out-of-plane component s_z; a field is a node coloured by its first component."""
    if not unit_norm:
        return [{"type": "scatter", "x": positions[:, 0], "y": positions[:, 1], "mode": "markers",
                 "showlegend": False, "marker": {"size": 16, "color": x[:, 0], "colorscale": "RdBu", "cmin": -3,
                                                 "cmax": 3, "colorbar": {"title": {"text": "field component 1"}}}}]
    tail, head = positions[:, :2] - 0.4 * x[:, :2], positions[:, :2] + 0.4 * x[:, :2]
    gaps = np.full(len(x), np.nan)
    shafts_x = np.column_stack([tail[:, 0], head[:, 0], gaps]).ravel()
    shafts_y = np.column_stack([tail[:, 1], head[:, 1], gaps]).ravel()
    return [{"type": "scatter", "x": positions[:, 0], "y": positions[:, 1], "mode": "markers", "showlegend": False,
             "marker": {"size": 18, "color": x[:, 2], "colorscale": "RdBu", "cmin": -1, "cmax": 1,
                        "colorbar": {"title": {"text": "s_z (out of plane)"}}},
             "customdata": x, "hovertemplate": "s = (%{customdata[0]:.2f}, %{customdata[1]:.2f}, "
                                               "%{customdata[2]:.2f})<extra></extra>"},
            {"type": "scatter", "x": shafts_x, "y": shafts_y, "mode": "lines", "line": {"color": "#222222", "width": 2},
             "hoverinfo": "skip", "showlegend": False, "connectgaps": False},
            {"type": "scatter", "x": head[:, 0], "y": head[:, 1], "mode": "markers", "hoverinfo": "skip",
             "showlegend": False, "marker": {"size": 6, "color": "#222222"}}]


def _plane_axes() -> dict:
    return {"xaxis": {"title": {"text": "x (lattice units)"}, "zeroline": False},
            "yaxis": {"title": {"text": "y (lattice units)"}, "zeroline": False, "scaleanchor": "x"}}


def _configuration_parts(spec, x, title: str, height: int, planar: bool) -> tuple[list, dict]:
    """Traces (edges, configuration) and layout of one configuration, in 2-D top view or in 3-D."""
    pos = spec.graph.positions
    if planar:
        return ([_edges_trace_2d(pos, spec.graph.edges), *_config_traces_2d(pos, x, spec.unit_norm)],
                {**_plane_axes(), "height": height, "margin": {"t": 40}, "title": {"text": title}})
    return ([_edges_trace(pos, spec.graph.edges), _config_trace(pos, x, spec.unit_norm)],
            {"scene": _scene(), "height": height, "margin": {"l": 0, "r": 0, "t": 30, "b": 0},
             "title": {"text": title}})


def trajectory_figure(spec, frames, times, three_d: bool = False) -> go.Figure:
    """Plotly animation of one reverse trajectory with play/pause and a time slider (80 ms per frame).

    Planar graphs play as a 2-D top view whose frames Plotly animates without a full redraw; other graphs, or
    ``three_d``, as 3-D cones/markers (WebGL, slow without a GPU). Frames carry only the configuration traces;
    the graph's edges (trace 0) stay.
    """
    planar = is_planar(spec) and not three_d
    pos, unit = spec.graph.positions, spec.unit_norm
    data, layout = _configuration_parts(spec, frames[0], "reverse trajectory: diffusion time t from 1 (noise) to 0 "
                                        "(sample)", 520, planar)
    if planar:  # x, y and marker colours only: Plotly animates them without redrawing the whole figure
        animation = [{"name": f"{t:.3f}", "data": _config_traces_2d(pos, f, unit), "traces": list(range(1, len(data)))}
                     for f, t in zip(frames, times, strict=True)]
    else:
        animation = [{"name": f"{t:.3f}", "data": [_config_trace(pos, f, unit)], "traces": [1]}
                     for f, t in zip(frames, times, strict=True)]
    redraw = not planar
    steps = [{"method": "animate", "label": f"{t:.2f}", "args": [[f"{t:.3f}"], {
        "mode": "immediate", "frame": {"duration": 0, "redraw": redraw}, "transition": {"duration": 0}}]}
        for t in times]
    pad = {"t": 70} if planar else {}  # 2-D: below the x-axis title
    layout["updatemenus"] = [{"type": "buttons", "x": 0.0, "y": 0.0, "xanchor": "left", "yanchor": "top", "pad": pad,
                              "direction": "left", "buttons": [
                                  {"label": "▶ play", "method": "animate",
                                   "args": [None, {"frame": {"duration": 80, "redraw": redraw},
                                                   "fromcurrent": True, "transition": {"duration": 0}}]},
                                  {"label": "⏸ pause", "method": "animate", "args": [
                                      [None], {"mode": "immediate", "frame": {"duration": 0, "redraw": False}}]}]}]
    layout["sliders"] = [{"active": 0, "steps": steps, "x": 0.2, "len": 0.8, "currentvalue": {"prefix": "t = "},
                          "pad": pad}]
    return fast_figure(data, layout, animation)


def energy_figure(spec, samples, reference) -> go.Figure:
    unit = "J" if spec.unit_norm else "dimensionless"
    fig = go.Figure()
    fig.add_histogram(x=spec.energy(reference), name="reference", opacity=0.6, histnorm="probability density")
    fig.add_histogram(x=spec.energy(samples), name="diffusion", opacity=0.6, histnorm="probability density")
    fig.update_layout(barmode="overlay", xaxis_title=f"energy per configuration ({unit})",
                      yaxis_title="probability density (1/energy unit)", height=360, margin=dict(t=30))
    return fig


def _npz_bytes(**arrays) -> bytes:
    buffer = io.BytesIO()
    np.savez(buffer, **arrays)
    return buffer.getvalue()


def seed_sample(run) -> None:
    """Sampling controls from a saved run; the seeded sampler draws the same samples again."""
    p = run.params
    if p["graph"] not in GRAPH_CHOICES or p["dataset"] not in DATASET_LABELS:
        raise ValueError(f"graph {p['graph']!r} / dataset {p['dataset']!r} is not offered on this page")
    st.session_state.update(dataset=p["dataset"], graph=p["graph"], sampler=p["sampler"], steps=int(p["steps"]),
                            n=int(p["n"]), seed=int(p["seed"]))
    st.session_state["run"] = (p["dataset"], p["graph"], p["sampler"], int(p["steps"]), int(p["n"]), int(p["seed"]))
    st.session_state["diffusion_tab"] = "Sample"


st.title("Graph diffusion")
st.caption("A diffusion model whose forward process dS = -½β(t)(I + γL)S dt + √β dW is driven by the graph "
           "Laplacian L and solved exactly in its eigenbasis. Pretrained on 5×5 grids; on other graphs the "
           "page uses the Gaussian-optimal denoiser (exact for the Gaussian field).")
restore_run("pages/diffusion.py", {"diffusion.sample": seed_sample})

with user_errors():
    c1, c2, c3, c4, c5 = st.columns([1.3, 1.5, 1.2, 1, 0.8])
    dataset = c1.selectbox("dataset", list(DATASET_LABELS), format_func=DATASET_LABELS.get, key="dataset")
    graph_key = c2.selectbox("graph", list(GRAPH_CHOICES), key="graph")
    sampler = c3.selectbox("sampler", list(SAMPLERS), index=list(SAMPLERS).index("predictor_corrector"),
                           key="sampler", help="predictor–corrector costs two network evaluations per step")
    steps = c4.slider("steps", 20, 1000, 250, step=10, key="steps", help="reverse-time steps")
    n = c5.number_input("samples", 16, 2000, 128, step=16, key="n")
    seed = st.session_state.get("seed", 0)
    spec = _spec(dataset, graph_key)
    is_pretrained = graph_key == next(iter(GRAPH_CHOICES))
    st.caption(f"{spec.graph.n_nodes} nodes · {len(spec.graph.edges)} edges · denoiser: "
               f"{'trained ε-network' if is_pretrained else 'Gaussian (mode-diagonal), fitted to reference data'}")

    three_d = not is_planar(spec) or st.toggle(
        "3-D view", key="diffusion_3d", help="Planar graphs are drawn as a 2-D top view, whose trajectories play "
        "fast; the 3-D view draws cones with WebGL, which plays slowly without a GPU")
    # Lazy tabs: only the open tab runs and is drawn (a tab switch reruns the page).
    tab_sample, tab_forward, tab_inpaint = st.tabs(["Sample", "Forward noising", "Inpainting"], key="diffusion_tab",
                                                   on_change="rerun")
    if tab_sample.open:
        with tab_sample:
            st.number_input("seed", 0, 10_000, 0, key="seed")
            if st.button("Sample", type="primary", key="sample"):
                st.session_state["run"] = (dataset, graph_key, sampler, steps, int(n), seed)
            run = st.session_state.get("run")
            if "diffusion_stopped" in st.session_state:
                st.warning(st.session_state.pop("diffusion_stopped").capitalize(), icon=":material/stop_circle:")
            if run is None:
                st.info("Press **Sample** to draw configurations and watch the reverse trajectory.")
            else:
                samples, frames, times, _ = _run(*run)
                run_spec = _spec(run[0], run[1])
                with st.spinner("reference samples (MCMC / exact)…"):
                    reference = _reference(run[0], run[1], 0)
                    train = _reference(run[0], run[1], 1)
                left, right = st.columns([1.2, 1])
                trajectory_fig, energy_fig = trajectory_figure(run_spec, frames, times, three_d), energy_figure(
                    run_spec, samples, reference)
                left.plotly_chart(trajectory_fig, use_container_width=True)
                right.plotly_chart(energy_fig, use_container_width=True)
                table = comparison_table(run_spec, {"diffusion": samples[:N_REFERENCE]}, reference, train, seed=run[5])
                frame = pd.DataFrame(table).T
                st.subheader("Diffusion vs baselines")
                st.caption(f"{N_REFERENCE} held-out reference samples; energy and smoothness W1 are in units of the "
                           "reference std; MMD² uses an RBF kernel with the median heuristic; memorisation ratio ≈ 1 "
                           "means no copying of training samples. Lower is better except memorisation (≈ 1).")
                st.dataframe(frame.style.format("{:.4f}"), use_container_width=True)
                d1, d2 = st.columns(2)
                d1.download_button("metrics (CSV)", frame.to_csv().encode(), "diffusion_metrics.csv", "text/csv")
                d2.download_button("samples (.npz)", lambda: _npz_bytes(
                    samples=samples, adjacency=run_spec.graph.adjacency.toarray(), trajectory=frames[:, None],
                    trajectory_t=times), "diffusion_samples.npz")
                run_dataset, run_graph, run_sampler, run_steps, run_n, run_seed = run
                save_run_panel(
                    "diffusion.sample", f"{run_dataset} · {run_sampler} · {run_steps} steps",
                    {"dataset": run_dataset, "graph": run_graph, "sampler": run_sampler, "steps": run_steps,
                     "n": run_n, "seed": run_seed},
                    metrics={metric: float(value) for metric, value in table["diffusion"].items()
                             if np.isfinite(value)},
                    arrays={"samples": samples, "adjacency": run_spec.graph.adjacency.toarray()},
                    figures=[energy_fig], key="diffusion_run",
                    command=f"python -m engine diffusion sample --dataset {run_dataset} --n {run_n} "
                            f"--steps {run_steps} --sampler {run_sampler} --seed {run_seed} --out samples.npz")

    if tab_forward.open:
        with tab_forward:
            t = st.slider("diffusion time t", 0.0, 1.0, 0.2, step=0.05, key="t_forward")
            process, scale = _process(dataset, graph_key)
            x0 = _reference(dataset, graph_key, 0, 1)
            xt, _ = process.noise(x0 * scale, np.array([t]), np.random.default_rng(0))
            left, right = st.columns([1.2, 1])
            shown = xt[0] / scale
            fig = fast_figure(*_configuration_parts(spec, shown, f"S_t = Φ(t) S_0 + √Σ(t) ε at t = {t:.2f}", 440,
                                                    not three_d))
            left.plotly_chart(fig, use_container_width=True)
            modes = go.Figure()
            modes.add_scatter(x=process.eigenvalues, y=process.phi(t), mode="markers", name="Φ_k(t)")
            modes.add_scatter(x=process.eigenvalues, y=process.sigma(t), mode="markers", name="Σ_k(t)")
            modes.update_layout(xaxis_title="Laplacian eigenvalue λ_k (dimensionless)",
                                yaxis_title="modal factor (dimensionless)", height=440, margin=dict(t=30),
                                title="high-frequency modes are forgotten first")
            right.plotly_chart(modes, use_container_width=True)

    if tab_inpaint.open:
        with tab_inpaint:
            st.write("The left column of nodes is clamped (spins to +z, field component 3 to +2) and the rest is "
                     "sampled conditionally with the replacement method.")
            if st.button("Inpaint", key="inpaint"):
                st.session_state["inpaint_run"] = (dataset, graph_key, sampler, steps, 64, seed, True)
            run = st.session_state.get("inpaint_run")
            if run is not None:
                samples, frames, times, mask = _run(*run)
                run_spec = _spec(run[0], run[1])
                left, right = st.columns([1.2, 1])
                left.plotly_chart(trajectory_figure(run_spec, frames, times, three_d), use_container_width=True)
                distance = run_spec.graph.positions[:, 0] - run_spec.graph.positions[:, 0].min()
                profile = pd.DataFrame({"distance": distance, "last component": samples[..., -1].mean(axis=0)})
                profile = profile.groupby("distance").mean().reset_index()
                fig = go.Figure(go.Scatter(x=profile["distance"], y=profile["last component"], mode="lines+markers"))
                fig.update_layout(xaxis_title="distance from clamped column (lattice units)",
                                  yaxis_title="mean last component (dimensionless)", height=400, margin=dict(t=30),
                                  title="how far the clamp propagates")
                right.plotly_chart(fig, use_container_width=True)
