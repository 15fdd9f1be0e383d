"""Load and soak test (`make loadtest`, loopback only): concurrent browser sessions cycle every page.

Starts the app and warms it (one visitor opens every page once, as the first visitors after a deploy would:
models load, kernels compile; timed and reported apart), then drives N independent sessions (default 10) —
N browser contexts of one headless Chromium, so ten users do not cost ten browser processes on a small
machine — through all pages for a fixed time (default 120 s). Reports page loads, errors shown, page render
times (until the page is drawn, see ``RENDERED_JS``), server memory (RSS) at the start, after the warm-up, at
the peak and at the end, as JSON, and how often each checkpoint was loaded (from the server log: the engine
logs every verified checkpoint load at INFO). Exit status 1 when any error was shown, a page failed to render
within ``--page-timeout``, or a cached model was loaded more than once.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import statistics
import sys
import tempfile
import time
from pathlib import Path

from pages.navigation import PAGE_TABLE
from tests.live_server import CHROMIUM, CHROMIUM_ARGS, RENDERED_JS, rss_mib, serve_app

ERROR_SELECTOR = "[data-testid='stException'], [data-testid='stAlertContentError']"


async def warm_up(browser, url: str, timeout_s: float) -> float:
    """Open every page once in one session (cold server: models load, JIT compiles); seconds taken."""
    begin = time.monotonic()
    context = await browser.new_context(viewport={"width": 1280, "height": 900})
    page = await context.new_page()
    try:
        for _script, _title, _icon, path in PAGE_TABLE:
            await page.goto(f"{url}/{path}", wait_until="domcontentloaded", timeout=timeout_s * 1000)
            await page.wait_for_function(RENDERED_JS, timeout=timeout_s * 1000)
    finally:
        await context.close()
    return time.monotonic() - begin


async def session(browser, url: str, stop_at: float, index: int, stats: dict, timeout_s: float) -> None:
    """One user: open each page in turn until ``stop_at``, recording render times and errors."""
    context = await browser.new_context(viewport={"width": 1280, "height": 900})
    page = await context.new_page()
    step = index  # users start on different pages
    try:
        while time.monotonic() < stop_at:
            _script, title, _icon, path = PAGE_TABLE[step % len(PAGE_TABLE)]
            step += 1
            begin = time.monotonic()
            try:
                await page.goto(f"{url}/{path}", wait_until="domcontentloaded", timeout=timeout_s * 1000)
                await page.wait_for_function(RENDERED_JS, timeout=timeout_s * 1000)
                stats["render_s"].setdefault(title, []).append(time.monotonic() - begin)
                shown = await page.locator(ERROR_SELECTOR).count()
                if shown:
                    stats["errors"].append({"page": title, "user": index, "kind": "error shown"})
            except Exception as error:  # a timeout or crash counts as an error of that page
                stats["errors"].append({"page": title, "user": index, "kind": type(error).__name__})
            stats["loads"] += 1
    finally:
        await context.close()


async def drive(url: str, users: int, seconds: float, pid: int, page_timeout_s: float = 60,
                warm_timeout_s: float = 900) -> dict:
    from playwright.async_api import async_playwright

    stats = {"loads": 0, "errors": [], "render_s": {}}
    rss_start = rss_mib(pid)
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        warm_s = await warm_up(browser, url, warm_timeout_s)
        rss = [rss_mib(pid)]
        stop_at = time.monotonic() + seconds
        users_done = asyncio.gather(*(session(browser, url, stop_at, i, stats, page_timeout_s)
                                      for i in range(users)))
        while not users_done.done():
            await asyncio.sleep(5)
            rss.append(rss_mib(pid))
        await users_done
        await browser.close()
    rss.append(rss_mib(pid))
    renders = {page: {"n": len(times), "median_s": round(statistics.median(times), 3),
                      "max_s": round(max(times), 3)} for page, times in stats["render_s"].items()}
    return {"users": users, "seconds": seconds, "page_timeout_s": page_timeout_s, "warm_up_s": round(warm_s, 1),
            "page_loads": stats["loads"], "errors": stats["errors"], "render_times": renders,
            "server_rss_mib": {"start": round(rss_start, 1), "after_warm_up": round(rss[0], 1),
                               "end": round(rss[-1], 1), "peak": round(max(rss), 1)},
            "load_average_1min_end": round(os.getloadavg()[0], 2)}


LOAD_LINE = re.compile(r"loaded checkpoint (\S+) \(sha256 verified\)")


def checkpoint_loads(log_text: str) -> dict[str, int]:
    """How many times each checkpoint file was loaded, from the server log."""
    counts: dict[str, int] = {}
    for path in LOAD_LINE.findall(log_text):
        name = str(Path(path).relative_to(Path.cwd())) if Path(path).is_relative_to(Path.cwd()) else path
        counts[name] = counts.get(name, 0) + 1
    return counts


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--users", type=int, default=10)
    parser.add_argument("--seconds", type=float, default=120)
    parser.add_argument("--page-timeout", type=float, default=60, help="seconds a warm page may take to render")
    parser.add_argument("--out", default=None, help="also write the JSON report here")
    args = parser.parse_args(argv)
    os.environ["TWINLAB_LOG_LEVEL"] = "INFO"  # the server logs each checkpoint load
    with tempfile.TemporaryDirectory() as folder:
        log = Path(folder) / "server.log"
        with serve_app(log, Path(folder)) as (url, process):
            report = asyncio.run(drive(url, args.users, args.seconds, process.pid, args.page_timeout))
        loads = checkpoint_loads(log.read_text(errors="replace"))
    report["checkpoint_loads"] = loads
    report["models_loaded_once"] = bool(loads) and all(count == 1 for count in loads.values())
    text = json.dumps(report, indent=2)
    print(text)
    if args.out:
        Path(args.out).write_text(text + "\n")
    return 1 if report["errors"] or not report["models_loaded_once"] else 0


if __name__ == "__main__":
    sys.exit(main())
