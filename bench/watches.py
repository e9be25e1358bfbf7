"""How fast beat's tick starts watch runs when many are due at once: N watches due in the
same minute, one tick (`watches.tick`'s own code), against a private Redis and SQLite; no
worker, so what is timed is reading the rows, writing the runs and sending the captures.

    .venv/bin/python -m bench.watches [--watches 2000]
"""
import argparse
import os
import sys
import tempfile
import time
from datetime import timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from shootflow.testing.servers import RedisServer  # noqa: E402


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--watches", type=int, default=2000)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="shootflow-watches-bench-"))
    redis = RedisServer(work)
    os.environ.update(SHOOTFLOW_DATABASE_URL=f"sqlite:///{work / 'bench.db'}",
                      SHOOTFLOW_MEDIA_DIR=str(work / "media"), SHOOTFLOW_BROKER_URL=redis.url,
                      SHOOTFLOW_INSTANCE_DIR=str(work / "instance"))
    from flask_migrate import upgrade

    from shootflow import create_app
    from shootflow.extensions import db
    from shootflow.models import Watch, WatchRun, utcnow
    from shootflow.workflows.dispatch import tick

    app = create_app()
    try:
        with app.app_context():
            upgrade()
            due = utcnow() - timedelta(seconds=30)
            db.session.add_all(Watch(url=f"https://example.com/{n}", schedule="*/15 * * * *",
                                     created_at=due, next_run_at=due)
                               for n in range(args.watches))
            db.session.commit()
            started = time.monotonic()
            count = tick.run()
            elapsed = time.monotonic() - started
            runs = db.session.query(WatchRun).count()
            queued = sum(redis_client(redis.url).llen(q) for q in ("capture.scheduled",))
        print(f"{args.watches:,} watches due at once: one tick started {count:,} runs "
              f"({runs:,} rows, {queued:,} capture messages) in {elapsed:.2f} s, "
              f"{count / elapsed:,.0f} runs/s")
    finally:
        redis.stop()


def redis_client(url):
    import redis
    return redis.Redis.from_url(url)


if __name__ == "__main__":
    main()
