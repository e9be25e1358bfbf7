"""The capture engine alone: Browser.capture (or BrowserSession.capture) in a loop over the
same local pages, per-capture median and p95, nothing else running in the process.

    .venv/bin/python -m bench.engine                  # 3 runs of 60 captures, Browser.capture
    .venv/bin/python -m bench.engine --session        # the same through BrowserSession.capture
    .venv/bin/python -m bench.engine --sites 2        # alternate 127.0.0.1 and localhost
    .venv/bin/python -m bench.engine --corpus         # bench.corpus pages (images, fonts, JS)

Each run starts a new browser, warms it up with a few captures, then times each capture.
By default the pages are shootflow.testing.pages.PageServer's small page, all from one site: the case
where a tab reused from capture to capture keeps its renderer, and a new tab costs most.
--sites 2 makes every capture change site (Chromium then changes renderer in a reused tab
too); --corpus serves bench.corpus's pages, whose shared stylesheet, script and fonts a
warm HTTP cache would hold. CPU is that of this process and every process under
ChromeDriver, exited helpers included (their parents' cutime/cstime), so work moved off the
critical path still counts. To compare two versions, run the same command from each
checkout, alternating (the machine is shared: look at the spread between runs).
"""
import argparse
import json
import os
import statistics
import subprocess
import sys
import time

import psutil

import shootflow
from bench import corpus
from bench.procs import free_port, port_open, wait_for
from shootflow.capture import Browser, BrowserOptions, BrowserSession
from shootflow.capture.processes import read, tree
from shootflow.testing.pages import PageServer

# localhost resolves to 127.0.0.1 and ::1 here; the guard refuses a name if any of its
# addresses is refused.
LOCAL = ("127.0.0.1/32", "::1/128")


def pct(values, p):
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


def _cpu_with_children(proc):
    """User + system seconds of proc and of its reaped children (0 when it is gone)."""
    t = read(proc, "cpu_times")
    return t.user + t.system + t.children_user + t.children_system if t else 0.0


def cpu_seconds(driver_pid):
    """CPU of this process and of ChromeDriver's tree so far, exited children included."""
    return sum(_cpu_with_children(proc) for proc in [*tree(driver_pid), psutil.Process()])


class Pages:
    """The URLs to capture and the title each must show."""

    def __init__(self, args):
        self.server = self.corpus = None
        if args.corpus:
            port = free_port()
            self.corpus = subprocess.Popen([sys.executable, "-m", "bench.corpus", "--port",
                                            str(port)], stdout=subprocess.DEVNULL)
            wait_for(lambda: port_open(port), timeout=60, message="the corpus server")
            bases = [f"http://127.0.0.1:{port}", f"http://localhost:{port}"][:args.sites]
            self.urls = [url.replace(bases[0], bases[n % len(bases)], 1)
                         for n, url in enumerate(corpus.page_urls(bases[0], args.captures))]
            self.warm = corpus.warm_urls(bases[0], args.warm)
            self.titles = [corpus.expected_title(url) for url in self.urls]
        else:
            self.server = PageServer()
            port = self.server.base.rsplit(":", 1)[1]
            bases = [f"http://127.0.0.1:{port}", f"http://localhost:{port}"][:args.sites]
            self.titles = [f"Engine {n}" for n in range(args.captures)]
            self.urls = [f"{bases[n % len(bases)]}/page?title=Engine+{n}&color=%232040a0"
                         for n in range(args.captures)]
            self.warm = [f"{bases[n % len(bases)]}/page?title=Warm+{n}" for n in range(args.warm)]

    def stop(self):
        if self.server is not None:
            self.server.stop()
        if self.corpus is not None:
            self.corpus.terminate()
            self.corpus.wait(10)


def one_run(pages, args, run):
    options = BrowserOptions(allowed_networks=LOCAL)
    if args.session:
        session = BrowserSession(options, max_captures=args.max_captures)
        capture, pid, stop = session.capture, (lambda: session.browser.pid), session.shutdown
    else:
        browser = Browser(options)
        capture, pid, stop = browser.capture, (lambda: browser.pid), browser.quit
    try:
        for url in pages.warm:
            capture(url)
        started_pid = pid()
        times, cpu0, wall0 = [], cpu_seconds(started_pid), time.monotonic()
        for url, title in zip(pages.urls, pages.titles):
            t0 = time.monotonic()
            result = capture(url)
            times.append((time.monotonic() - t0) * 1000)
            assert result.title == title, (result.title, url)
        wall = time.monotonic() - wall0
        # A recycled browser has a new ChromeDriver; its predecessor's CPU is not counted.
        cpu = cpu_seconds(started_pid) - cpu0 if pid() == started_pid else None
    finally:
        stop()
    return {"run": run, "n": len(times), "median_ms": statistics.median(times),
            "p95_ms": pct(times, 95), "mean_ms": statistics.fmean(times),
            "per_s": len(times) / wall,
            "cpu_ms": cpu * 1000 / len(times) if cpu is not None else None,
            "load1": os.getloadavg()[0]}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--captures", type=int, default=60)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--warm", type=int, default=5)
    parser.add_argument("--session", action="store_true",
                        help="time BrowserSession.capture (recycling included) instead")
    parser.add_argument("--max-captures", type=int, default=100)
    parser.add_argument("--sites", type=int, choices=(1, 2), default=1)
    parser.add_argument("--corpus", action="store_true", help="bench.corpus pages")
    parser.add_argument("--json", action="store_true", help="one JSON line per run")
    args = parser.parse_args(argv)
    pages = Pages(args)
    what = "BrowserSession.capture" if args.session else "Browser.capture"
    print(f"{what}, {'corpus' if args.corpus else 'small'} pages, {args.sites} site(s), "
          f"{args.captures} captures x {args.runs} runs, "
          f"shootflow from {os.path.dirname(shootflow.__file__)}")
    try:
        for run in range(1, args.runs + 1):
            row = one_run(pages, args, run)
            cpu = "-" if row["cpu_ms"] is None else f"{row['cpu_ms']:.0f}"
            print(json.dumps(row) if args.json else
                  f"run {run}: median {row['median_ms']:.1f} ms, p95 {row['p95_ms']:.1f} ms, "
                  f"mean {row['mean_ms']:.1f} ms, {row['per_s']:.2f}/s, CPU {cpu} ms/capture, "
                  f"load {row['load1']:.1f}", flush=True)
    finally:
        pages.stop()


if __name__ == "__main__":
    main()
