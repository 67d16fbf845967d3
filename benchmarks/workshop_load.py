"""The workshop under a room: real headless Chromium pages against one server.

    .venv/bin/python benchmarks/workshop_load.py                 # 1 page, then 20 pages
    .venv/bin/python benchmarks/workshop_load.py --pages 20 --seconds 30
    .venv/bin/python benchmarks/workshop_load.py --room 8        # room mode: scoring time

For each run it starts ``chainsim workshop``, opens the pages (each in its own
browser context, as separate laptops would), presses Play on every page and
watches, in each browser, how often the page redraws (a new day shown) and how
many simulated days a second it advances, at the default speed. Meanwhile it
reads the server's CPU and memory from /proc. Then it closes the pages and
times how long the server takes to go idle (under 5 % of a core over a
second). Server errors are the tracebacks in its log.

Floors (issue 12): one page on an idle core >= 5 redraws/s and >= 30 days/s;
20 pages on a 2-core server: no errors, every page >= 1 redraw/s, server
memory <= 1.5 GB, idle again within 10 s of the pages closing; room mode with 8
teams: a round of 12 months with 5 replications each scored within 10 s.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

CHAINSIM = Path(sys.executable).with_name("chainsim")
CHROMIUM = "/usr/bin/chromium"
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--disable-renderer-backgrounding", "--disable-background-timer-throttling",
         "--disable-backgrounding-occluded-windows"]

#: Records every redraw the page shows: (time in ms, day).
WATCH = """
() => {
  window.__redraws = [];
  const clock = () => document.querySelector('[data-testid=chain-diagram]');
  let last = null;
  const look = () => {
    const c = clock();
    if (!c) return;
    const day = Number(c.dataset.day);
    if (day !== last) { last = day; window.__redraws.push([performance.now(), day]); }
  };
  new MutationObserver(look).observe(document.body, {subtree: true, childList: true,
                                                     attributes: true, characterData: true});
}
"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def tree(pid: int) -> list[int]:
    """``pid`` and every process below it."""
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        out.append(p)
        for task in Path(f"/proc/{p}/task").glob("*"):
            try:
                todo += [int(c) for c in (task / "children").read_text().split()]
            except OSError:
                pass
    return out


def cpu_seconds(pids: list[int]) -> float:
    total = 0.0
    tick = os.sysconf("SC_CLK_TCK")
    for p in pids:
        try:
            fields = Path(f"/proc/{p}/stat").read_text().rsplit(")", 1)[1].split()
            total += (int(fields[11]) + int(fields[12])) / tick
        except (OSError, IndexError):
            pass
    return total


def rss_mb(pids: list[int]) -> float:
    total = 0
    for p in pids:
        try:
            for line in Path(f"/proc/{p}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1])
        except OSError:
            pass
    return total / 1024


def start_server(extra: list[str], log) -> tuple[subprocess.Popen, str]:
    port = free_port()
    proc = subprocess.Popen([str(CHAINSIM), "workshop", *extra, "--port", str(port)],
                            stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    url = f"http://127.0.0.1:{port}/"
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url, timeout=2):
                return proc, url
        except OSError:
            time.sleep(0.3)
    proc.kill()
    raise SystemExit("the workshop server did not start")


def stop_server(proc: subprocess.Popen) -> None:
    try:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=20)
    except (ProcessLookupError, subprocess.TimeoutExpired):
        os.killpg(proc.pid, signal.SIGKILL)


def play(pages: int, seconds: float, story: str) -> dict:
    from playwright.sync_api import sync_playwright

    with tempfile.TemporaryFile("w+") as log:
        proc, url = start_server([story], log)
        server = tree(proc.pid)
        try:
            with sync_playwright() as pw:
                browser = pw.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
                opened = []
                for _ in range(pages):
                    context = browser.new_context(viewport={"width": 1400, "height": 900})
                    page = context.new_page()
                    page.goto(url)
                    page.locator("[data-testid=chain-diagram]").wait_for(timeout=120_000)
                    opened.append((context, page))
                for _, page in opened:
                    page.evaluate(WATCH)
                    page.get_by_role("button", name="Play").click()
                server = tree(proc.pid)
                browsers = [int(x) for x in subprocess.run(
                    ["pgrep", "-f", "/usr/lib/chromium/chromium"], capture_output=True, text=True).stdout.split()]
                cpu0, t0 = cpu_seconds(server), time.monotonic()
                bcpu0 = cpu_seconds(browsers)
                peak = 0.0
                while time.monotonic() - t0 < seconds:
                    time.sleep(1.0)
                    server = tree(proc.pid)
                    peak = max(peak, rss_mb(server))
                cpu = (cpu_seconds(server) - cpu0) / (time.monotonic() - t0)
                browser_cpu = (cpu_seconds(browsers) - bcpu0) / (time.monotonic() - t0)
                per_page = []
                for _, page in opened:
                    marks = page.evaluate("() => window.__redraws")
                    # steady state: leave out the first two seconds
                    marks = [m for m in marks if m[0] - marks[0][0] > 2000] if marks else []
                    if len(marks) < 2:
                        per_page.append({"redraws_per_s": 0.0, "days_per_s": 0.0})
                        continue
                    span = (marks[-1][0] - marks[0][0]) / 1000
                    per_page.append({"redraws_per_s": (len(marks) - 1) / span,
                                     "days_per_s": (marks[-1][1] - marks[0][1]) / span})
                for context, _ in opened:
                    context.close()
                browser.close()
            closed = time.monotonic()
            idle_after = None
            while time.monotonic() - closed < 60:
                before = cpu_seconds(tree(proc.pid))
                time.sleep(1.0)
                if cpu_seconds(tree(proc.pid)) - before < 0.05:
                    idle_after = time.monotonic() - closed
                    break
        finally:
            stop_server(proc)
        log.seek(0)
        text = log.read()
    errors = text.count("Traceback")
    redraws = [p["redraws_per_s"] for p in per_page]
    days = [p["days_per_s"] for p in per_page]
    return {"pages": pages, "seconds": seconds, "server_cpu_cores": cpu,
            "browser_cpu_cores": browser_cpu,
            "server_peak_mb": peak, "server_errors": errors,
            "redraws_per_s": {"min": min(redraws), "median": statistics.median(redraws)},
            "days_per_s": {"min": min(days), "median": statistics.median(days)},
            "idle_after_close_s": idle_after}


def submitted(page, tries: int = 6) -> None:
    """Press Submit until the page says the team's decision is in (a click can land on a
    button the page is redrawing, under load; a participant would click again)."""
    from playwright.sync_api import TimeoutError as PlaywrightTimeout

    for _ in range(tries):
        page.get_by_role("button", name="Submit").click()
        try:
            page.get_by_text("Submitted for round 1").wait_for(timeout=5_000)
            return
        except PlaywrightTimeout:
            continue
    raise SystemExit(f"a team's Submit was not taken after {tries} clicks")


def room_round(teams: int, story: str) -> dict:
    """Room mode: ``teams`` team pages join and submit; seconds from Play to the scoreboard."""
    import re

    from playwright.sync_api import sync_playwright

    with tempfile.TemporaryDirectory() as tmp, tempfile.TemporaryFile("w+") as log:
        proc, url = start_server([story, "--room", "--out", f"{tmp}/room"], log)
        try:
            log.seek(0)
            text = log.read()
            code = re.search(r"with the code (\w+)", text).group(1)
            facilitator = re.search(r"facilitator at\s+(\S+)", text).group(1)
            with sync_playwright() as pw:
                browser = pw.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
                for i in range(teams):
                    page = browser.new_context().new_page()
                    page.goto(url)
                    page.get_by_label("Join code").fill(code)
                    page.get_by_label("Team name").fill(f"team {i + 1}")
                    page.get_by_role("button", name="Join").click()
                    page.locator(".team-page").wait_for(timeout=60_000)
                    lever = page.locator('[data-lever="operations.capacity"]')
                    for _ in range(i % 4):  # each press lands before the next (and Submit)
                        before = lever.inner_text()
                        lever.locator("[role=slider]").press("ArrowRight")
                        page.wait_for_function(
                            "t => document.querySelector("
                            "'[data-lever=\"operations.capacity\"]').innerText !== t",
                            arg=before, timeout=30_000)
                    submitted(page)
                fac = browser.new_context().new_page()
                fac.goto(facilitator)
                fac.locator("[data-testid=join-info]").wait_for(timeout=60_000)
                start = time.monotonic()
                fac.get_by_role("button", name=re.compile("Play round 1")).click()
                fac.locator(".scoreboard").wait_for(timeout=300_000)
                seconds = time.monotonic() - start
                browser.close()
        finally:
            stop_server(proc)
        log.seek(0)
        errors = log.read().count("Traceback")
    return {"teams": teams, "months": 12, "reps": 5, "seconds_to_scoreboard": seconds,
            "server_errors": errors}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--pages", type=int, nargs="*", default=[1, 20])
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument("--story", default="balanced")
    parser.add_argument("--room", type=int, metavar="TEAMS", default=0,
                        help="instead: room mode with this many teams (the floor: 8)")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    if args.room:
        r = room_round(args.room, args.story)
        print(json.dumps(r, indent=2) if args.json else
              f"room mode, {r['teams']} teams, a round of {r['months']} months with "
              f"{r['reps']} replications each: scoreboard {r['seconds_to_scoreboard']:.1f} s "
              f"after Play (floor: 10 s); server errors: {r['server_errors']}")
        return
    results = [play(n, args.seconds, args.story) for n in args.pages]
    if args.json:
        print(json.dumps(results, indent=2))
        return
    print("| pages | redraws/s per page (min / median) | days/s per page (min / median) "
          "| server CPU (cores) | browsers' CPU (cores) | server peak memory | errors "
          "| idle after closing |")
    print("|---:|---:|---:|---:|---:|---:|---:|---:|")
    for r in results:
        idle = f"{r['idle_after_close_s']:.1f} s" if r["idle_after_close_s"] is not None \
            else "not within 60 s"
        print(f"| {r['pages']} | {r['redraws_per_s']['min']:.2f} / "
              f"{r['redraws_per_s']['median']:.2f} | {r['days_per_s']['min']:.0f} / "
              f"{r['days_per_s']['median']:.0f} | {r['server_cpu_cores']:.2f} | "
              f"{r['browser_cpu_cores']:.2f} | "
              f"{r['server_peak_mb']:.0f} MB | {r['server_errors']} | {idle} |")


if __name__ == "__main__":
    main()
