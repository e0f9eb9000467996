"""How fast the dashboard's pages open on the demo results, in a real browser.

Starts ``dancenow dashboard RESULTS_DIR`` (the real server, as a user would) on a free port and
drives it with Debian's headless Chromium through Playwright. A page counts as open when the server
has told the browser that the page's script run has finished (Streamlit's ``script_finished``
message, read off the websocket), and then everything the run sent is drawn: no element still
loading its code, none left over from the page before, every image loaded. Per page:

- ``cold``: the first visit after the server started (imports torch and the evaluation code, reads
  and decodes what the page shows, fills the caches);
- ``switch``: the median of --repeats clicks on the page's name in the sidebar, from the overview
  (how a user moves between pages: same browser tab, same Streamlit session);
- ``warm``: the median of --repeats visits by URL once the server is idle again, each a new tab and
  so a new Streamlit session, in a browser that has the dashboard's scripts in its HTTP cache (a
  link opened in a new tab, or a reload);
- ``fresh_browser``: the same with an empty browser cache each time (Streamlit's JavaScript is
  downloaded and parsed again: about half a second more).

``script_s`` is the page script's own run time on the server (Streamlit's ``AppTest``, warm caches,
median of --repeats): the dashboard's share of a page.

``floor_s`` is the warm measure for a one-line Streamlit app (a title) served the same way: what
any Streamlit page costs on this machine, so the difference is the dashboard's own.

Also ``frame_step_s``: the median time for the side-by-side page to show every video's next frame
after the slider moves one frame (--steps key presses). Target: every page under 2 s, switched to or
opened warm.

    python benchmarks/dashboard.py                      # needs `make demo` (outputs/) and chromium
    python benchmarks/dashboard.py outputs --repeats 5 --out /tmp/dashboard.json
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from benchmarks.record import add_out_option, machine_record, write_record  # noqa: E402

# page (its URL) -> its name in the sidebar
PAGES = {
    "overview": "Overview",
    "side_by_side": "Side by side",
    "quality": "Quality",
    "forensics": "Forensics",
    "dataset": "Dataset",
}
TARGET_S = 2.0
# Drawn: no element still showing the skeleton Streamlit draws while its code loads, none left
# stale from the page before, every image loaded.
DRAWN = """() => !document.querySelector('[data-testid="stSkeleton"], [data-stale="true"]')
    && Array.from(document.querySelectorAll('img')).every(i => i.complete)"""


class ScriptRuns:
    """Counts the script runs the server reports finished to one browser tab (Streamlit's
    ``script_finished`` websocket message). Waiting for it, rather than for the first heading or for
    the running indicator (which only shows after 0.5 s of running), cannot stop the clock while
    the run is still sending elements."""

    def __init__(self, page: Any) -> None:
        from streamlit.proto.ForwardMsg_pb2 import ForwardMsg

        self.page = page
        self.finished = 0
        self._message = ForwardMsg
        page.on("websocket", lambda socket: socket.on("framereceived", self._frame))

    def _frame(self, payload: bytes | str) -> None:
        if isinstance(payload, str):
            return
        message = self._message()
        message.ParseFromString(payload)
        if (
            message.WhichOneof("type") == "script_finished"
            and message.script_finished == self._message.FINISHED_SUCCESSFULLY
        ):
            self.finished += 1

    def settle(self, count: int, timeout: float = 120.0) -> None:
        """Wait until ``count`` runs have finished and the page has drawn what they sent."""
        deadline = time.monotonic() + timeout
        while self.finished < count:
            if time.monotonic() > deadline:
                raise SystemExit(f"{self.page.url}: no script run finished within {timeout:.0f} s")
            self.page.wait_for_timeout(5)  # lets Playwright deliver the websocket events
        self.page.wait_for_function(DRAWN, timeout=timeout * 1000)
        if self.page.locator('[data-testid="stException"]').count():
            raise SystemExit(
                f"{self.page.url}: the page raised an exception:\n{self.page.inner_text('body')[:2000]}"
            )


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start(command: list[str], port: int, log: Path) -> subprocess.Popen[bytes]:
    with open(log, "w") as out:
        process = subprocess.Popen(command, cwd=ROOT, stdout=out, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/_stcore/health", timeout=2) as answer:
                if answer.read() == b"ok":
                    return process
        except OSError:
            time.sleep(0.2)
        if process.poll() is not None:
            break
    process.kill()
    raise SystemExit(f"the dashboard did not start; see {log}")


def wait_idle(process: subprocess.Popen[bytes], timeout: float = 60.0) -> None:
    """Wait until the server has used under 5 % of a core for half a second: the first visit sets
    off the background import of torch (``loaders.warm_up``), which would slow the warm visits."""

    def cpu_seconds() -> float:
        fields = Path(f"/proc/{process.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    deadline = time.monotonic() + timeout
    before = cpu_seconds()
    while time.monotonic() < deadline:
        time.sleep(0.5)
        now = cpu_seconds()
        if now - before < 0.025:
            return
        before = now


def stop(process: subprocess.Popen[bytes]) -> None:
    process.terminate()
    try:
        process.wait(timeout=20)
    except subprocess.TimeoutExpired:
        process.kill()


def floor(browser: Any, repeats: int, log: Path) -> float:
    """Warm seconds for a Streamlit app that shows only a title, started like the dashboard."""
    from dashboard.cli import streamlit_command

    with tempfile.TemporaryDirectory() as folder:
        app = Path(folder) / "floor.py"
        app.write_text('import streamlit as st\n\nst.title("floor")\n')
        port = free_port()
        command = streamlit_command("127.0.0.1", port, 1)
        command[command.index(str(ROOT / "dashboard" / "app.py"))] = str(app)
        process = start(command, port, log)
        try:
            context = browser.new_context(viewport={"width": 1400, "height": 1000})
            url = f"http://127.0.0.1:{port}/"
            visit(context, url)
            seconds = statistics.median(visit(context, url) for _ in range(repeats))
            context.close()
        finally:
            stop(process)
    return seconds


def script_times(results: list[str], repeats: int) -> dict[str, float]:
    """Warm run time of each page script in-process (no browser, no network)."""
    from streamlit.testing.v1 import AppTest

    from dashboard.files import ROOTS_ENV

    os.environ[ROOTS_ENV] = json.dumps([str(Path(r).resolve()) for r in results])
    os.environ["DANCENOW_DASHBOARD_NO_WARMUP"] = "1"
    app = AppTest.from_file(str(ROOT / "dashboard" / "app.py"), default_timeout=300)
    out = {}
    for name in PAGES:
        app.switch_page(f"views/{name}.py").run()  # fills the caches
        times = []
        for _ in range(repeats):
            started = time.perf_counter()
            app.switch_page(f"views/{name}.py").run()
            times.append(time.perf_counter() - started)
        out[name] = round(statistics.median(times), 3)
    return out


def visit(context: Any, url: str) -> float:
    """Seconds to open ``url`` in a new tab (a new Streamlit session)."""
    page = context.new_page()
    runs = ScriptRuns(page)
    started = time.perf_counter()
    page.goto(url)
    runs.settle(1)
    seconds = time.perf_counter() - started
    page.close()
    return seconds


def switches(context: Any, base: str, name: str, repeats: int) -> list[float]:
    """Seconds to open page ``name`` by its link in the sidebar, from the overview (from the quality
    page for the overview itself)."""
    home = "quality" if name == "overview" else "overview"
    page = context.new_page()
    runs = ScriptRuns(page)
    page.goto(url_of(base, home))
    runs.settle(1)
    nav = page.get_by_test_id("stSidebarNav")
    times = []
    for _ in range(repeats):
        before = runs.finished
        started = time.perf_counter()
        nav.get_by_text(PAGES[name], exact=True).click()
        runs.settle(before + 1)
        times.append(time.perf_counter() - started)
        nav.get_by_text(PAGES[home], exact=True).click()
        runs.settle(before + 2)
    page.close()
    return times


def url_of(base: str, name: str) -> str:
    return base + ("/" if name == "overview" else f"/{name}")


def fresh_visit(browser: Any, url: str) -> float:
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    seconds = visit(context, url)
    context.close()
    return seconds


def frame_steps(browser: Any, url: str, steps: int) -> list[float]:
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    page = context.new_page()
    runs = ScriptRuns(page)
    page.goto(url)
    runs.settle(1)
    slider = page.locator('input[type="range"]').first
    times = []
    for i in range(1, steps + 1):
        slider.focus()
        started = time.perf_counter()
        page.keyboard.press("ArrowRight")
        page.wait_for_function(
            "n => Array.from(document.querySelectorAll('[data-testid=\"stImageCaption\"]'))"
            ".filter(c => c.innerText.endsWith(', frame ' + n)).length >= 3",
            arg=i,
        )
        page.wait_for_function("() => Array.from(document.querySelectorAll('img')).every(i => i.complete)")
        times.append(time.perf_counter() - started)
    context.close()
    return times


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("results", nargs="*", default=["outputs"], help="results folders (default: outputs)")
    parser.add_argument("--repeats", type=int, default=3, help="warm visits per page")
    parser.add_argument("--steps", type=int, default=10, help="slider steps timed on the side-by-side page")
    add_out_option(parser, "dashboard_cpu.json")
    args = parser.parse_args()
    chromium = shutil.which("chromium") or "/usr/bin/chromium"
    if not Path(chromium).exists():
        raise SystemExit("needs Debian's chromium (scripts/setup.sh installs it)")
    from playwright.sync_api import sync_playwright

    port = free_port()
    base = f"http://127.0.0.1:{port}"
    log = Path(os.environ.get("TMPDIR", "/tmp")) / f"dancenow-dashboard-bench-{port}.log"
    process = start(
        [sys.executable, "-m", "dataset.cli", "dashboard", *args.results, "--port", str(port)], port, log
    )
    pages: dict[str, dict[str, Any]] = {}
    try:
        with sync_playwright() as p:
            browser = p.chromium.launch(
                executable_path=chromium,
                args=["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                      "--disable-component-update", "--disable-sync", "--no-first-run"],
            )  # fmt: skip
            context = browser.new_context(viewport={"width": 1400, "height": 1000})
            for name in PAGES:
                url = url_of(base, name)
                cold = visit(context, url)
                wait_idle(process)
                switch = switches(context, base, name, args.repeats)
                warm = [visit(context, url) for _ in range(args.repeats)]
                fresh = [fresh_visit(browser, url) for _ in range(args.repeats)]
                pages[name] = {
                    "cold_s": round(cold, 3),
                    "switch_s": round(statistics.median(switch), 3),
                    "warm_s": round(statistics.median(warm), 3),
                    "fresh_browser_s": round(statistics.median(fresh), 3),
                    "switch_runs_s": [round(w, 3) for w in switch],
                    "warm_runs_s": [round(w, 3) for w in warm],
                    "fresh_browser_runs_s": [round(f, 3) for f in fresh],
                }
                print(
                    f"{name:13s} cold {cold:5.2f} s   switch {statistics.median(switch):5.2f} s   "
                    f"warm {statistics.median(warm):5.2f} s   "
                    f"fresh browser {statistics.median(fresh):5.2f} s",
                    flush=True,
                )  # the page script's own share (script_s) is measured after, without a browser
            context.close()
            steps = frame_steps(browser, base + "/side_by_side", args.steps)
            stop(process)
            floor_s = floor(browser, args.repeats, log.with_suffix(".floor.log"))
            browser.close()
    finally:
        stop(process)
    scripts = script_times(args.results, args.repeats)
    for name, seconds in scripts.items():
        pages[name]["script_s"] = seconds
    step = statistics.median(steps)
    print(f"side by side: next frame of every video shown in {step:.3f} s (median of {len(steps)})")
    print(f"floor: a Streamlit page with only a title opens in {floor_s:.2f} s (warm)")
    print(
        "page scripts' own run time (warm, no browser): "
        + ", ".join(f"{n} {t:.3f} s" for n, t in scripts.items())
    )
    slowest = max(pages, key=lambda n: pages[n]["warm_s"])
    record = {
        "benchmark": "dashboard",
        "machine": machine_record(load_average_at_end=[round(x, 2) for x in os.getloadavg()]),
        "results": args.results,
        "measured": (
            "from navigating (by URL, or by a click in the sidebar for switch_s) until the server's "
            "script_finished message has arrived and everything is drawn (no loading skeleton, no stale "
            "element, every image loaded), in headless Chromium"
        ),
        "pages": pages,
        "floor_s": round(floor_s, 3),
        "frame_step_s": round(step, 3),
        "frame_step_runs_s": [round(s, 3) for s in steps],
        "target_s": TARGET_S,
        "slowest_warm_page": slowest,
        "all_warm_under_target": all(p["warm_s"] < TARGET_S for p in pages.values()),
        "all_switch_under_target": all(p["switch_s"] < TARGET_S for p in pages.values()),
    }
    write_record(args.out, record)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
