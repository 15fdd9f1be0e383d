"""``python -m engine bench ui``: responsiveness of the running app, measured in headless Chromium.

Starts ``streamlit run app.py`` on a free loopback port, warms every page once, then measures what a user
sees, as medians of several tries:

- each page's first render in a new session (a new tab, browser cache warm): navigation until the script
  has finished, nothing on the page is a placeholder or stale, every visible Plotly chart is drawn, and it
  stays so; the very first visit with an empty browser cache (the JavaScript bundle loads) is reported apart;
- input to settled page: the synthesis page after one recipe input change, and the astrochemistry emulator
  after a slider key press (from the input event's time stamp until the rerun has finished and the page is
  drawn again);
- live trajectory playback: Plotly animation frames the browser actually steps through after Play, on the
  PDE page and the graph diffusion page (2-D top view, and the 3-D cones for reference);
- the floor of this machine's browser, measured the same way: a one-line Streamlit app, and apps that draw a
  single three-point Plotly or Vega-Lite chart.

Needs Playwright (requirements-dev.txt) and Debian's ``/usr/bin/chromium``; without them the benchmark says
so instead of guessing.
"""

from __future__ import annotations

import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from contextlib import contextmanager
from pathlib import Path

from engine.errors import TwinLabError
from engine.registry import benchmark

ROOT = Path(__file__).resolve().parent.parent
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"]
# The script has finished, nothing on the page is a placeholder or stale (left over from a rerun), every
# visible Plotly chart has drawn its plot and every visible Vega-Lite chart its canvas.
RENDERED_JS = (
    "() => { const app = document.querySelector(\"[data-testid='stApp']\");"
    " return !!app && app.dataset.testScriptState === 'notRunning'"
    " && !document.querySelector(\"[data-testid='stSkeleton'], [data-stale='true']\")"
    " && [...document.querySelectorAll(\"[data-testid='stPlotlyChart']\")]"
    ".every(chart => chart.offsetParent === null || chart.querySelector('.main-svg') !== null)"
    " && [...document.querySelectorAll(\"[data-testid='stVegaLiteChart']\")]"
    ".every(chart => chart.offsetParent === null || chart.querySelector('canvas, svg') !== null); }"
)
# Records into window.__settled when the page is drawn again after the next script run (page clock, ms): the
# run has started and finished, RENDERED_JS holds, and one more frame was painted.
WATCH_SETTLE_JS = """() => { window.__settled = null; window.__inputAt = null; let started = false;
  const input = (event) => { if (window.__inputAt === null) window.__inputAt = event.timeStamp; };
  for (const kind of ['pointerdown', 'keydown']) document.addEventListener(kind, input, {capture: true, once: true});
  const app = document.querySelector("[data-testid='stApp']"); const rendered = (RENDERED_JS);
  new MutationObserver(() => { if (app.dataset.testScriptState === 'running') started = true; })
    .observe(app, {attributes: true, attributeFilter: ['data-test-script-state']});
  const check = () => {
    if (started && rendered()) requestAnimationFrame(() => requestAnimationFrame(() => {
      window.__settled = performance.now(); }));
    else requestAnimationFrame(check); };
  requestAnimationFrame(check); }""".replace("RENDERED_JS", RENDERED_JS)
ROUNDS = 3  # new sessions per page for the first-render medians


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextmanager
def serve_app(log: Path, data_dir: Path, start_timeout_s: float = 90, app_dir: Path = ROOT):
    """Yield ``(base_url, process)`` of a running `streamlit run app.py` in ``app_dir``; always terminated."""
    port = free_port()
    env = {**os.environ, "TWINLAB_DATA_DIR": str(data_dir)}
    cmd = [sys.executable, "-m", "streamlit", "run", "app.py", "--server.port", str(port),
           "--server.address", "127.0.0.1", "--server.headless", "true", "--browser.gatherUsageStats", "false"]
    with open(log, "w") as handle:
        process = subprocess.Popen(cmd, cwd=app_dir, env=env, stdout=handle, stderr=subprocess.STDOUT)
    try:
        url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + start_timeout_s
        while True:
            try:
                with urllib.request.urlopen(f"{url}/_stcore/health", timeout=2) as response:
                    if response.status == 200:
                        break
            except OSError:
                pass
            if process.poll() is not None or time.monotonic() > deadline:
                raise TwinLabError(f"streamlit did not start; log:\n{log.read_text()}")
            time.sleep(0.5)
        yield url, process
    finally:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()


def _render_time(page, url: str, timeout_ms: int = 300_000) -> float:
    """Seconds from navigation to the page's final render (the quiet check after it is not counted)."""
    begin = time.perf_counter()
    page.goto(url, wait_until="domcontentloaded", timeout=timeout_ms)
    page.wait_for_selector("[data-testid='stMain']", timeout=timeout_ms)
    return wait_until_settled(page, timeout_ms) - begin


# How many script runs the page has started (window.__runsStarted), to tell a settled page from one that
# reran during the quiet check.
COUNT_RUNS_JS = """() => { const count = () => { const app = document.querySelector("[data-testid='stApp']");
  const running = app && app.dataset.testScriptState === 'running';
  if (running && !window.__running) window.__runsStarted = (window.__runsStarted || 0) + 1;
  window.__running = running; };
  new MutationObserver(count).observe(document, {subtree: true, childList: true, attributes: true,
                                                 attributeFilter: ['data-test-script-state']}); }"""


def wait_until_settled(page, timeout_ms: int = 60_000, quiet_ms: int = 400) -> float:
    """Wait until the app has rendered and is still rendered ``quiet_ms`` later (a rerun may follow a run).

    Returns the ``time.perf_counter()`` at which that final render was first seen, so callers timing a render
    do not count the quiet check.
    """
    deadline = time.monotonic() + timeout_ms / 1000
    while True:
        page.wait_for_function(RENDERED_JS, timeout=max(1, int((deadline - time.monotonic()) * 1000)))
        rendered_at = time.perf_counter()
        runs = page.evaluate("() => window.__runsStarted || 0")
        page.wait_for_timeout(quiet_ms)
        if page.evaluate(RENDERED_JS) and page.evaluate("() => window.__runsStarted || 0") == runs:
            return rendered_at


def _time_to_settled(page, act, timeout_ms: int = 300_000) -> tuple[float, float]:
    """Milliseconds until the page has rerun after ``act()`` and is drawn again: from the input event (the
    pointer-down of a click, the key-down of a key press, by the event's own time stamp), and from the call
    of ``act()``, which adds Playwright's checks before it dispatches the event (visible, stable for two
    frames, hit target)."""
    page.evaluate(WATCH_SETTLE_JS)
    called = page.evaluate("() => performance.now()")
    act()
    page.wait_for_function("() => window.__settled !== null", timeout=timeout_ms)
    settled, event = page.evaluate("() => [window.__settled, window.__inputAt]")
    wait_until_settled(page, timeout_ms)  # no further rerun pending before the next try
    return settled - event, settled - called


def _latency(tries: list[tuple[float, float]]) -> dict:
    """Summary of ``_time_to_settled`` tries: from the input event (the figure held to the target), and
    from the Playwright call."""
    return {**_summary([event for event, _call in tries]),
            "from_playwright_call": _summary([call for _event, call in tries]), "target": 300}


def _input_change_ms(page, repeats: int = 5) -> list[tuple[float, float]]:
    """Click the first recipe input's '+' (temperature) and time until the page is drawn again."""
    button = page.locator(".st-key-synth_recipe [data-testid='stNumberInputStepUp']").first
    return [_time_to_settled(page, button.click) for _ in range(repeats)]


def _summary(values: list[float], digits: int = 1) -> dict:
    return {"median": round(statistics.median(values), digits), "max": round(max(values), digits), "n": len(values)}


# Counts Plotly animation frames as the browser steps through them (plotly_animatingframe fires once per frame,
# after the previous frame was drawn) on the index-th Plotly chart of the page.
WATCH_FRAMES_JS = """(index) => { const plot = document.querySelectorAll('.js-plotly-plot')[index];
  window.__frames = []; window.__animated = false;
  plot.on('plotly_animatingframe', () => window.__frames.push(performance.now()));
  plot.on('plotly_animated', () => { window.__animated = true; }); }"""


def _slider_response_ms(page, label: str, repeats: int = 5) -> list[tuple[float, float]]:
    """Press → on the slider ``label``; time until the page is drawn again (alternating ← / →)."""
    thumb = page.locator("[data-testid='stSlider']").filter(has_text=label).get_by_role("slider").first
    times = []
    for k in range(repeats):
        thumb.focus()
        times.append(_time_to_settled(page, lambda k=k: thumb.press("ArrowRight" if k % 2 == 0 else "ArrowLeft")))
    return times


def _playback_fps(page, chart_index: int, play_label: str, timeout_ms: int = 120_000) -> dict:
    """Press the Play button of Plotly chart ``chart_index``; frames shown per second until it ends."""
    page.evaluate(WATCH_FRAMES_JS, chart_index)
    chart = page.locator(".js-plotly-plot").nth(chart_index)
    chart.scroll_into_view_if_needed()
    chart.locator(".updatemenu-button").filter(has_text=play_label).first.click()
    page.wait_for_function("() => window.__animated", timeout=timeout_ms)
    stamps = page.evaluate("() => window.__frames")
    seconds = (stamps[-1] - stamps[0]) / 1000 if len(stamps) > 1 else float("nan")
    return {"frames": len(stamps), "seconds": round(seconds, 3),
            "fps": round((len(stamps) - 1) / seconds, 1) if len(stamps) > 1 else None}


def _emulator_response(page, url: str) -> dict:
    _render_time(page, f"{url}/astrochem")
    page.locator("[data-testid='stSidebar'] [data-testid='stRadio']").get_by_text("Emulator").click()
    page.get_by_text("Latent trajectory").first.wait_for(timeout=300_000)
    wait_until_settled(page, 300_000)
    return _latency(_slider_response_ms(page, "Density"))


def _trajectory_playback(page, url: str) -> dict:
    _render_time(page, f"{url}/hybrid_pde")
    _time_to_settled(page, page.get_by_role("tab", name="Play u(x, t)").click)  # the player is a lazy tab
    pde = _playback_fps(page, 0, "Play")  # the animated u(x, t), the page's only Plotly chart
    _render_time(page, f"{url}/diffusion")
    page.get_by_role("button", name="Sample", exact=True).click()
    page.wait_for_selector(".js-plotly-plot .updatemenu-button", timeout=300_000)
    wait_until_settled(page, 300_000)
    default_view = _playback_fps(page, 0, "play")
    toggle = page.get_by_text("3-D view", exact=True)
    if not toggle.count():  # a page version without the 2-D top view: its default view is the 3-D cones
        return {"pde_burgers_1d": pde, "diffusion_reverse_3d_cones": default_view, "target_fps": 10}
    _time_to_settled(page, toggle.click)  # the same trajectory as 3-D cones (WebGL)
    cones = _playback_fps(page, 0, "play")
    return {"pde_burgers_1d": pde, "diffusion_reverse_2d_top_view": default_view,
            "diffusion_reverse_3d_cones": cones, "target_fps": 10}


def _first_renders(context, url: str, pages: list[tuple[str, str]]) -> dict:
    """Per page: first render in a new session (a new tab of ``context``), ``ROUNDS`` tries, in seconds."""
    times: dict[str, list[float]] = {title: [] for title, _path in pages}
    for _ in range(ROUNDS):
        for title, path in pages:
            tab = context.new_page()
            times[title].append(_render_time(tab, f"{url}/{path}"))
            tab.close()
    return {title: _summary(values, 3) for title, values in times.items()}


# Reference apps for the floor of this machine's browser (``assets/floor_apps/``): the same measurement on a
# one-line Streamlit app, and on ones that draw a single three-point Plotly chart (the Plotly bundle is loaded and
# run in every new tab) or Vega-Lite chart.
FLOOR_APPS = ROOT / "assets" / "floor_apps"


def _floor_renders(browser, folder: Path) -> dict:
    """First render (new tab, server and browser cache warm) of each app in ``FLOOR_APPS``, ``ROUNDS`` tries each."""
    floors = {}
    for source in sorted(FLOOR_APPS.glob("*.py")):
        name = source.stem
        app_dir = folder / name
        app_dir.mkdir()
        (app_dir / "app.py").write_text(source.read_text())
        with serve_app(app_dir / "log", app_dir, app_dir=app_dir) as (url, _process):
            context = browser.new_context(viewport={"width": 1400, "height": 1000})
            context.add_init_script(f"({COUNT_RUNS_JS})()")
            warm = context.new_page()
            _render_time(warm, url)
            floors[name] = _first_renders(context, url, [(name, "")])[name]
            context.close()
    return floors


@benchmark("ui")
def bench_ui(args) -> dict:
    """Warm first-render time of every page and the synthesis page's re-render after an input change."""
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        raise TwinLabError("bench ui needs Playwright: pip install -r requirements-dev.txt") from None
    if not Path(CHROMIUM).exists():
        raise TwinLabError(f"bench ui needs {CHROMIUM}: apt-get install chromium chromium-driver")
    sys.path.insert(0, str(ROOT))
    from pages.navigation import PAGE_TABLE

    load_before = os.getloadavg()[0]
    with tempfile.TemporaryDirectory() as folder, serve_app(Path(folder) / "log", Path(folder)) as (url, _p):
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            warm = browser.new_page()
            warm.add_init_script(f"({COUNT_RUNS_JS})()")
            for _script, _title, _icon, path in PAGE_TABLE:  # warm caches, compiled kernels, models
                _render_time(warm, f"{url}/{path}", timeout_ms=900_000)  # cold: JIT compiles, model loads
            warm.close()
            context = browser.new_context(viewport={"width": 1400, "height": 1000})
            context.add_init_script(f"({COUNT_RUNS_JS})()")
            page = context.new_page()
            home_cold = round(_render_time(page, f"{url}/"), 3)  # empty browser cache: the bundle loads
            renders = _first_renders(context, url, [(title, path) for _s, title, _i, path in PAGE_TABLE])
            _render_time(page, f"{url}/synthesis")
            changes = _input_change_ms(page)
            emulator = _emulator_response(page, url)
            playback = _trajectory_playback(page, url)
            floors = _floor_renders(browser, Path(folder))
            browser.close()
    medians = {title: row["median"] for title, row in renders.items()}
    return {"first_render_s": renders, "first_render_target_s": 3.0, "slowest_first_render_median_s": max(
                medians.values()), "pages_within_target": sum(v <= 3.0 for v in medians.values()),
            "home_cold_browser_cache_s": home_cold, "floor_first_render_s": floors,
            "synthesis_input_change_ms": _latency(changes),
            "emulator_slider_response_ms": emulator, "trajectory_playback": playback,
            "load_average_1min": {"start": round(load_before, 2), "end": round(os.getloadavg()[0], 2)}}
