"""shootflow against the limit: throughput, latency, scale and queue overhead, side by side
in one run on the same local pages. Prints tables; see bench/README.md.

    .venv/bin/python -m bench.run            # everything, N=1000 included (~15-25 min)
    .venv/bin/python -m bench.run --quick    # a few minutes: N=30, no N=1000, no profile

It starts everything it measures (redis-server on a free port, the corpus page server,
gunicorn and the two Celery workers exactly as the Procfile starts them, the baseline
loops) and stops every one of them at the end, on Ctrl-C or on error too.

This module is the command line and the order of the sections; each section is a module
of its own (bench/throughput.py, latency.py, scale.py, anatomy.py, overhead.py,
profiling.py, submit.py), on the stack of bench/stack.py.
"""
import argparse
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
from datetime import datetime
from pathlib import Path

import psutil

from bench import anatomy, corpus, latency, overhead, profiling, scale, submit, throughput
from bench.bundle import run_bundle
from bench.procs import ROOT, Processes, stale_runs
from bench.report import Report, pct
from bench.stack import BIN, Stack

SECTIONS = ("throughput", "latency", "fairness", "scheduled", "scale", "overhead", "anatomy",
            "profile", "submit")


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true",
                        help="N=30, one round, no N=1000 and no profile: a few minutes")
    parser.add_argument("--full", dest="full", action="store_true", default=None,
                        help="include the N=1000 bundle (the default unless --quick)")
    parser.add_argument("--no-full", dest="full", action="store_false")
    parser.add_argument("--n", type=int, help="pages per side-by-side run (100; quick 30)")
    parser.add_argument("--rounds", type=int, help="side-by-side rounds (2; quick 1)")
    parser.add_argument("--latency-runs", type=int, default=20)
    parser.add_argument("--submit-runs", type=int, default=20,
                        help=f"{submit.SUBMIT_URLS:,}-URL bundles the submit section POSTs (20)")
    parser.add_argument("--designs", help="compare the whole stack with only these designs "
                        "(comma-separated: bare, bare-noguard, engine, naive; default all)")
    parser.add_argument("--profile", dest="profile", action="store_true", default=None,
                        help="py-spy the workers during an extra bundle (default when "
                             "py-spy is installed, except with --quick)")
    parser.add_argument("--no-profile", dest="profile", action="store_false")
    parser.add_argument("--sections", default=",".join(SECTIONS),
                        help="comma-separated subset of: " + ", ".join(SECTIONS))
    parser.add_argument("--out", default=str(ROOT / "bench" / "results" / "latest.txt"))
    parser.add_argument("--keep", action="store_true", help="keep the work folder and logs")
    args = parser.parse_args(argv)
    args.argv = sys.argv[1:] if argv is None else argv
    args.sections = [x.strip() for x in args.sections.split(",") if x.strip()]
    unknown = set(args.sections) - set(SECTIONS)
    if unknown:
        parser.error(f"unknown sections: {', '.join(sorted(unknown))}")
    args.n = args.n or (30 if args.quick else 100)
    args.rounds = args.rounds or (1 if args.quick else 2)
    args.full = (not args.quick) if args.full is None else args.full
    if args.profile is None:
        args.profile = not args.quick and (BIN / "py-spy").exists()
    if args.profile and not (BIN / "py-spy").exists():
        parser.error("--profile needs py-spy: .venv/bin/pip install py-spy==0.4.3")
    return args


def main(argv=None):
    args = parse_args(argv)

    def on_signal(signum, _frame):
        raise KeyboardInterrupt(f"signal {signum}")
    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGHUP, on_signal)
    signal.signal(signal.SIGINT, signal.default_int_handler)  # even when started with it ignored
    end_stale_runs()
    report = Report()
    procs = Processes()
    work = Path(tempfile.mkdtemp(prefix="shootflow-bench-"))
    status = 1
    try:
        settings = (submit.submit_settings(args.submit_runs) if "submit" in args.sections
                    else None)
        stack = Stack(procs, work, report, settings)
        stack.start()
        results = sections(args, report, procs, stack)
        status = 0 if results is not None else 1
    except KeyboardInterrupt as exc:
        print(f"\ninterrupted ({str(exc) or 'Ctrl-C'}); stopping everything", file=sys.stderr)
        status = 130
    finally:
        signal.signal(signal.SIGINT, signal.SIG_IGN)  # a second Ctrl-C must not cut cleanup
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        left = procs.stop_all()
        if left:
            print(f"had to kill {len(left)} leftover processes: {left[:5]}", file=sys.stderr)
        if args.keep or status not in (0, 130):
            print(f"work folder and logs kept in {work}", file=sys.stderr)
        else:
            shutil.rmtree(work, ignore_errors=True)
        write_report(report, args.out, status)
    return status


def end_stale_runs():
    """Kill what an earlier bench run left behind when it was killed itself."""
    stale = stale_runs()
    if stale:
        print(f"ending {len(stale)} processes left by an earlier bench run that was killed",
              file=sys.stderr)
        for pid in stale:
            try:
                os.kill(pid, signal.SIGKILL)
            except OSError:
                pass


def write_report(report, out, status):
    """The report's lines to out, or beside it as .partial when the run did not complete
    (never overwriting a complete report with a partial one)."""
    if not report.lines:
        return
    out = Path(out)
    if status != 0:
        out = out.with_name(out.stem + ".partial" + out.suffix)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text("\n".join(report.lines) + "\n")
    print(f"\nreport written to {out}", file=sys.stderr)


def load_average():
    return " ".join(f"{v:.2f}" for v in os.getloadavg())


def sections(args, report, procs, stack):
    """Every section asked for, in this order; the figures also go to <out>.json."""
    machine_header(report, args, stack)
    want = set(args.sections)
    results = {}
    report.log("warming up the workers (one bundle of /warm.html pages)")
    warm = run_bundle(stack, corpus.warm_urls(stack.pages, 6), report, "warm-up", probe=False)
    if not warm["check"]["ok"]:
        raise RuntimeError(f"warm-up bundle failed: {warm['check']['summary']}")
    if "throughput" in want:
        results["throughput"] = throughput.section(args, report, procs, stack)
    if "latency" in want:
        results["latency"] = latency.section(report, stack, args.latency_runs)
    if "fairness" in want:  # a one-URL bundle while another client's big bundle runs
        results["fairness"] = latency.fairness_section(report, stack, results.get("latency"),
                                                       args.full)
    if "scheduled" in want:  # a one-URL bundle while hundreds of watch runs wait
        results["scheduled"] = latency.scheduled_section(report, stack, results.get("latency"))
    if "scale" in want:
        results["scale"] = scale.section(args, report, stack)
        results["submit"] = anatomy.submit_section(report, procs, stack,
                                                   max(r["n"] for r in results["scale"]))
    if "overhead" in want:
        capture_runs = results.get("throughput", {}).get("stack", []) + results.get("scale", [])
        results["overhead"] = overhead.section(args, report, procs, stack, capture_runs)
    if "anatomy" in want:
        results["anatomy"] = anatomy.section(args, report, procs, stack)
    if "profile" in want and args.profile:
        results["profile"] = profiling.section(report, stack)
    if "submit" in want and args.submit_runs > 0:  # the POST of 1,000 URLs, cancelled at once
        results["submit_requests"] = submit.section(report, stack, args.submit_runs)
    targets(report, args, results)
    report.out(f"\nload average at the end: {load_average()}")
    out = Path(args.out).with_suffix(".json")
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(results, indent=1, default=str))
    return results


def machine_header(report, args, stack):
    head = subprocess.run(["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"],
                          capture_output=True, text=True).stdout.strip() or "?"
    dirty = subprocess.run(["git", "--no-optional-locks", "-C", str(ROOT), "status",
                            "--porcelain", "--",
                            "shootflow", "templates", "celeryconfig.py", "Procfile", "wsgi.py",
                            "migrations"], capture_output=True, text=True).stdout.strip()
    chromium = subprocess.run([os.environ.get("SHOOTFLOW_CHROMIUM", "/usr/bin/chromium"),
                               "--version"], capture_output=True, text=True).stdout.strip()
    report.out(f"# shootflow bench — {datetime.now().strftime('%Y-%m-%d %H:%M')}")
    report.out()
    report.out(f"- code: {head}{' + uncommitted changes in the product code' if dirty else ''}"
               f"; {chromium}; Python {sys.version.split()[0]}")
    report.out(f"- machine: {os.cpu_count()} cores, "
               f"{psutil.virtual_memory().total / 2**30:.0f} GiB; "
               f"load average at start {load_average()}")
    s = stack.corpus_stats
    report.out(f"- corpus: {s['pages']} pages ({s['html_bytes'] / 1e6:.1f} MB HTML), "
               f"{s['images']} images ({s['image_bytes'] / 1e6:.1f} MB), {s['with_fonts']} with "
               f"web fonts ({', '.join(s['fonts']) or 'none found'}), {s['with_js']} with JS")
    report.out(f"- stack: Procfile web/capture/images, default concurrency; "
               f"options: {' '.join(args.argv) or '(none)'}")
    if stack.settings:
        report.out("- settings for the submit section: " + ", ".join(
            f"{name}={value}" for name, value in stack.settings.items()))


def targets(report, args, results):
    """The benchmark issue's targets against what this run measured."""
    rows = []
    pps = throughput.pages_per_second(results.get("throughput", {}))
    if "bare" in pps:
        rows.append([f"whole stack ≥ 90% of the bare reused-driver loop (N={args.n})",
                     f"{pps['stack'] / pps['bare'] * 100:.0f}%",
                     pps["stack"] / pps["bare"] >= 0.9])
    if "naive" in pps:
        rows.append([f"whole stack ≥ 3.5× driver-per-capture (N={args.n})",
                     f"{pps['stack'] / pps['naive']:.2f}×", pps["stack"] / pps["naive"] >= 3.5])
    if results.get("latency"):
        lat_p50 = pct([x["total"] for x in results["latency"]], 50)
        rows.append(["one-URL latency p50 < 1 s", f"{lat_p50:.0f} ms", lat_p50 < 1000])
    sizes = results.get("scale", [])
    big = [r for r in sizes if r["n"] == 1000]
    if big:
        b, n100 = big[0], sizes[1]["pps"]
        ratio = b["pps"] / n100
        rows.append([f"N=1000 throughput within 10% of N={args.n}",
                     f"{ratio * 100:.0f}% ({b['pps']:.2f} vs {n100:.2f} pages/s)",
                     ratio >= 0.9])
        rows.append(["N=1000: no lost or duplicated shots",
                     f"lost {b['check']['lost']}, duplicated {scale.duplicated(b)}",
                     b["check"]["ok"]])
        worst = max(b["web"][kind]["p95"] for kind in ("full", "htmx", "more"))
        rows.append(["bundle page p95 < 200 ms during N=1000",
                     f"full page {b['web']['full']['p95']:.0f} ms, htmx poll "
                     f"{b['web']['htmx']['p95']:.0f} ms, next cards "
                     f"{b['web']['more']['p95']:.0f} ms", worst < 200])
    elif "scale" in args.sections:
        rows.append(["N=1000 targets", "not run (--quick / --no-full)", None])
    report.table("Targets", ["target", "measured", "met"],
                 [[t, m, "yes" if ok else ("–" if ok is None else "MISSED")]
                  for t, m, ok in rows])


if __name__ == "__main__":
    sys.exit(main())
