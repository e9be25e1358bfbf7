"""Polling a big bundle: what one poll costs in bytes and server time, the full form
(GET /api/v1/bundles/<id>, as before) against the status form, the changed shots only
(…/shots?since=) and a 304 Not Modified for an unchanged ETag. The rows of a finished
1,000-shot bundle are written directly into a temporary SQLite database (shots that look like
real captures: title, facts, timings, headers), so no broker, worker or Chromium is needed;
the requests go through the whole Flask app (test client), and the time is the median
wall-clock time of a request in this process.

    .venv/bin/python -m bench.polling [--shots 1000] [--runs 30]
"""
import argparse
import os
import statistics
import sys
import tempfile
import time
from datetime import timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))


def make_bundle(shots):
    """A finished bundle of `shots` done shots, with the facts a capture leaves."""
    from shootflow.extensions import db
    from shootflow.lifecycle import create_bundle
    from shootflow.models import utcnow

    bundle = create_bundle([f"https://site{i}.example/page/{i}?q=x" for i in range(shots)],
                           client="bench")
    now = utcnow()
    for i, shot in enumerate(bundle.shots):
        shot.state, shot.title = "done", f"Page {i} — an example site's title"
        shot.final_url, shot.http_status = shot.url, 200
        shot.image_path = f"shots/{i:02}/x/full.png"
        shot.thumbnail_path = f"shots/{i:02}/x/thumb.jpg"
        shot.format, shot.width, shot.height, shot.truncated = "png", 1280, 800, False
        shot.image_bytes, shot.sha256, shot.attempts = 180_000 + i, f"{i:064x}", 1
        shot.queued_at = shot.dispatched_at = now - timedelta(seconds=30)
        shot.started_at, shot.captured_at, shot.finished_at = now, now, now
        shot.facts = {"redirects": [shot.url], "console_errors": [],
                      "response_headers": {"content-type": "text/html; charset=utf-8",
                                           "cache-control": "max-age=600",
                                           "server": "nginx", "etag": f'"{i:x}"'},
                      "timings": {"navigation": 420, "ready": 35, "capture": 160,
                                  "encode": 0, "processing": 40}, "boxes": []}
    bundle.state, bundle.finished_at = "done", now
    db.session.commit()
    return bundle.id


def measure(client, path, runs, headers=None):
    """(status, body bytes, median ms, headers of the last answer) of GET path."""
    times, response = [], None
    for _ in range(runs):
        started = time.perf_counter()
        response = client.get(path, headers=headers or {})
        body = response.get_data()
        times.append((time.perf_counter() - started) * 1000)
    return response.status_code, len(body), statistics.median(times), response.headers


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--shots", type=int, default=1000)
    parser.add_argument("--runs", type=int, default=30)
    options = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="shootflow-polling-") as work:
        report(options, Path(work))


def report(options, work):
    os.environ.update({"SHOOTFLOW_DATABASE_URL": f"sqlite:///{work / 'bench.db'}",
                       "SHOOTFLOW_INSTANCE_DIR": str(work / "instance"),
                       "SHOOTFLOW_MEDIA_DIR": str(work / "media"),
                       "SHOOTFLOW_MAX_BUNDLE_URLS": str(options.shots)})
    import logging

    from shootflow import create_app
    from shootflow.extensions import db
    from shootflow.models import Shot, utcnow

    app = create_app()
    logging.getLogger().setLevel(logging.WARNING)
    with app.app_context():
        db.create_all()  # the models' tables (tests/test_migrations holds the migrations to them)
        bundle_id = make_bundle(options.shots)
        client = app.test_client()
        base = f"/api/v1/bundles/{bundle_id}"
        since = utcnow().isoformat()
        for shot in db.session.scalars(db.select(Shot).where(Shot.bundle_id == bundle_id)
                                       .order_by(Shot.position).limit(10)):
            shot.title += " (changed)"  # as a capture finishing would
        db.session.commit()
        after = (utcnow() + timedelta(seconds=1)).isoformat()  # nothing changed since
        rows = []
        for label, path in (("full form (as before)", base),
                            ("status form", f"{base}/status"),
                            ("shots changed since (10)", f"{base}/shots?since={since}"),
                            ("shots changed since (none)", f"{base}/shots?since={after}"),
                            ("shots, first page of 100", f"{base}/shots")):
            status, size, ms, headers = measure(client, path, options.runs)
            rows.append((label, path, status, size, ms))
            if "ETag" in headers:
                tagged = measure(client, path, options.runs, {"If-None-Match": headers["ETag"]})
                rows.append((label.replace(" (as before)", "") + ", unchanged: 304", path,
                             *tagged[:3]))
    print(f"Polling one finished {options.shots:,}-shot bundle "
          f"(median of {options.runs} requests each)\n")
    print(f"{'poll':<36} {'status':>6} {'bytes':>10} {'server ms':>10}")
    for label, _path, status, size, ms in rows:
        print(f"{label:<36} {status:>6} {size:>10,} {ms:>10.2f}")


if __name__ == "__main__":
    main()
