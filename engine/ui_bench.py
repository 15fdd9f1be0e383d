"""``python -m engine bench ui``: responsiveness of the running app, measured in headless Chromium.

Starts ``streamlit run app.py`` on a free loopback port, warms every page once, then measures in a fresh
browser context: each page's first render (navigation to script finished), the re-render after one
sidebar input change on the synthesis page, the astrochemistry emulator's response to a sidebar slider
(key press to rerun finished), and the frame rate of the live trajectory animations on the PDE and graph
diffusion pages (Plotly animation frames the browser actually steps through after pressing Play). Needs
Playwright (requirements-dev.txt) and Debian's
``/usr/bin/chromium``; without them the benchmark says so instead of guessing.
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
# The script has finished and nothing on the page is a placeholder or stale (left over from a rerun).
RENDERED_JS = (
    "() => { const app = document.querySelector(\"[data-testid='stApp']\");"
    " return app && app.dataset.testScriptState === 'notRunning'"
    " && !document.querySelector(\"[data-testid='stSkeleton'], [data-stale='true']\"); }"
)
# Records when the script next finishes after having started (page clock, ms) into window.__rerunDone.
WATCH_RERUN_JS = """() => { window.__rerunDone = null; let started = false;
  const app = document.querySelector("[data-testid='stApp']");
  new MutationObserver(() => { const state = app.dataset.testScriptState;
    if (state === 'running') started = true;
    if (started && state === 'notRunning' && window.__rerunDone === null) window.__rerunDone = performance.now();
  }).observe(app, {attributes: true, attributeFilter: ['data-test-script-state']}); }"""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextmanager
def serve_app(log: Path, data_dir: Path, start_timeout_s: float = 90):
    """Yield ``(base_url, process)`` of a running `streamlit run app.py`; always terminated afterwards."""
    port = free_port()
    env = {**os.environ, "TWINLAB_DATA_DIR": str(data_dir)}
    cmd = [sys.executable, "-m", "streamlit", "run", "app.py", "--server.port", str(port),
           "--server.address", "127.0.0.1", "--server.headless", "true", "--browser.gatherUsageStats", "false"]
    with open(log, "w") as handle:
        process = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=handle, stderr=subprocess.STDOUT)
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


def _input_change_ms(page, repeats: int = 5) -> list[float]:
    """Click the first sidebar number input's '+' and time until the rerun finishes."""
    times = []
    button = page.locator("[data-testid='stSidebar'] [data-testid='stNumberInputStepUp']").first
    for _ in range(repeats):
        page.evaluate(WATCH_RERUN_JS)
        clicked = page.evaluate("() => performance.now()")
        button.click()
        page.wait_for_function("() => window.__rerunDone !== null", timeout=60_000)
        times.append(page.evaluate("() => window.__rerunDone") - clicked)
    return times


# Counts Plotly animation frames as the browser steps through them (plotly_animatingframe fires once per frame,
# after the previous frame was drawn) on the index-th Plotly chart of the page.
WATCH_FRAMES_JS = """(index) => { const plot = document.querySelectorAll('.js-plotly-plot')[index];
  window.__frames = []; window.__animated = false;
  plot.on('plotly_animatingframe', () => window.__frames.push(performance.now()));
  plot.on('plotly_animated', () => { window.__animated = true; }); }"""


def _slider_response_ms(page, label: str, repeats: int = 5) -> list[float]:
    """Press → on the sidebar slider ``label`` and time until the rerun finishes (repeats alternate ← / →)."""
    times = []
    thumb = page.locator("[data-testid='stSidebar'] [data-testid='stSlider']").filter(has_text=label).get_by_role(
        "slider").first
    for k in range(repeats):
        thumb.focus()
        page.evaluate(WATCH_RERUN_JS)
        pressed = page.evaluate("() => performance.now()")
        thumb.press("ArrowRight" if k % 2 == 0 else "ArrowLeft")
        page.wait_for_function("() => window.__rerunDone !== null", timeout=300_000)
        times.append(page.evaluate("() => window.__rerunDone") - pressed)
        wait_until_settled(page, 300_000)
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
    wait_until_settled(page, 300_000)
    times = _slider_response_ms(page, "Density")
    return {"median": round(statistics.median(times), 1), "max": round(max(times), 1), "n": len(times),
            "target": 300}


def _trajectory_playback(page, url: str) -> dict:
    _render_time(page, f"{url}/hybrid_pde")
    pde = _playback_fps(page, 1, "Play")  # Simulate tab: space-time map, then the animated u(x, t)
    _render_time(page, f"{url}/diffusion")
    page.get_by_role("button", name="Sample", exact=True).click()
    page.wait_for_selector(".js-plotly-plot .updatemenu-button", timeout=300_000)
    wait_until_settled(page, 300_000)
    diffusion = _playback_fps(page, 0, "play")
    return {"pde_burgers_1d": pde, "diffusion_reverse_3d": diffusion, "target_fps": 10}


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
    from pages.common import PAGE_TABLE

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
            renders = {title: round(_render_time(page, f"{url}/{path}"), 3)
                       for _script, title, _icon, path in PAGE_TABLE}
            # the first page above also loaded the JavaScript bundle into the fresh browser cache; again:
            home_again = round(_render_time(page, f"{url}/"), 3)
            _render_time(page, f"{url}/synthesis")
            changes = _input_change_ms(page)
            emulator = _emulator_response(page, url)
            playback = _trajectory_playback(page, url)
            browser.close()
    return {"first_render_s": renders, "first_render_target_s": 3.0,
            "slowest_first_render_s": max(renders.values()), "home_again_browser_cache_warm_s": home_again,
            "synthesis_input_change_ms": {"median": round(statistics.median(changes), 1),
                                          "max": round(max(changes), 1), "n": len(changes), "target": 300},
            "emulator_slider_response_ms": emulator, "trajectory_playback": playback,
            "load_average_1min": round(os.getloadavg()[0], 2)}
