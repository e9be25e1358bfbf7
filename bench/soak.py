"""Memory soak: N captures in a row on one capture process; prints the memory of the worker
and its Chromium as the captures go, to show whether it levels off.

    .venv/bin/python -m bench.soak [--captures 500] [--recycle 100]
"""
import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from shootflow.capture.processes import read, tree  # noqa: E402
from shootflow.testing.pages import PageServer  # noqa: E402
from shootflow.testing.servers import RedisServer, wait_for  # noqa: E402
from shootflow.testing.workers import CeleryWorker  # noqa: E402


def tree_rss(pid):
    """Proportional set size (MiB) of a process and everything under it, and how many
    Chromium processes there are."""
    total, browsers = 0, 0
    for proc in tree(pid):
        memory = read(proc, "memory_full_info")  # None for a zombie or a process now gone
        if memory is not None:
            total += memory.pss  # shared pages counted once
            browsers += read(proc, "name") == "chromium"
    return total / 2**20, browsers


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--captures", type=int, default=500)
    parser.add_argument("--recycle", type=int, default=100,
                        help="SHOOTFLOW_BROWSER_MAX_CAPTURES for the run")
    parser.add_argument("--timeout", type=int, default=1800)
    args = parser.parse_args()

    work = Path(tempfile.mkdtemp(prefix="shootflow-soak-"))
    redis = RedisServer(work)
    pages = PageServer()
    os.environ.update(
        SHOOTFLOW_DATABASE_URL=f"sqlite:///{work / 'soak.db'}",
        SHOOTFLOW_MEDIA_DIR=str(work / "media"), SHOOTFLOW_BROKER_URL=redis.url,
        SHOOTFLOW_ALLOWED_NETWORKS="127.0.0.1/32", SHOOTFLOW_MAX_BUNDLE_URLS="100000",
        SHOOTFLOW_BROWSER_MAX_CAPTURES=str(args.recycle))
    from flask_migrate import upgrade

    from shootflow import create_app
    from shootflow.extensions import db
    from shootflow.models import Shot
    from shootflow.services import submit_bundle

    app = create_app()
    worker = None
    try:
        with app.app_context():
            upgrade()
            worker = CeleryWorker(dict(os.environ), work / "worker.log", concurrency=1)
            worker.wait_ready(app.extensions["celery"])
            urls = [pages.url(title=f"Soak {n}", color=f"#{(n * 2654435761) & 0xFFFFFF:06x}",
                              text="lorem ipsum " * (n % 50) * 3) for n in range(args.captures)]
            started = time.monotonic()
            bundle = submit_bundle(urls, "soak")
            print(f"{'captures':>9} {'seconds':>8} {'worker+browser PSS MiB':>19} {'chromium procs':>15}")
            marks = iter(range(0, args.captures + 1, max(1, args.captures // 20)))
            mark, peak, samples = next(marks), 0.0, []

            def progress():
                nonlocal mark, peak
                db.session.expire_all()
                done = db.session.query(Shot).filter(
                    Shot.bundle_id == bundle.id, Shot.state.in_(("done", "failed"))).count()
                rss, browsers = tree_rss(worker.proc.pid)
                peak = max(peak, rss)
                while done >= mark:
                    samples.append((mark, rss))
                    print(f"{mark:>9} {time.monotonic() - started:>8.1f} {rss:>19.0f} "
                          f"{browsers:>15}", flush=True)
                    mark = next(marks, args.captures + 1)
                return done >= args.captures
            wait_for(progress, timeout=args.timeout, interval=0.5,
                     message="the soak to finish")
            failed = db.session.query(Shot).filter(Shot.state == "failed").count()
            elapsed = time.monotonic() - started
            later = [rss for n, rss in samples if n >= args.captures // 2]
            first = [rss for n, rss in samples if 0 < n < args.captures // 2]
            print(f"\n{args.captures} captures in {elapsed:.0f} s "
                  f"({args.captures / elapsed:.2f}/s), {failed} failed; peak {peak:.0f} MiB; "
                  f"mean of the first half {sum(first) / len(first):.0f} MiB, "
                  f"of the second half {sum(later) / len(later):.0f} MiB")
    finally:
        if worker:
            worker.stop()
        pages.stop()
        redis.stop()


if __name__ == "__main__":
    main()
