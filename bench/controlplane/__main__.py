"""python -m bench.controlplane: the command line, and the order of the runs (see the
package's docstring)."""
import argparse
import json
import os
import platform
import shutil
import signal
import sys
import tempfile
from pathlib import Path

import psutil

import bench.controlplane
from bench.controlplane import OUT
from bench.controlplane.backends import Broker, Database
from bench.controlplane.load import run_load
from bench.controlplane.stack import Stack
from bench.controlplane.tables import report
from bench.procs import Processes


def parse_args(argv=None):
    parser = argparse.ArgumentParser(prog="python -m bench.controlplane",
                                     description=bench.controlplane.__doc__.split("\n\n")[0])
    parser.add_argument("--delay", type=int, default=200, help="ms each stand-in capture takes")
    parser.add_argument("--capture-processes", type=int, default=16)
    parser.add_argument("--capture-pool", choices=("prefork", "threads"), default="prefork")
    parser.add_argument("--images", default="1,2,4",
                        help="images worker concurrencies to run, comma-separated")
    parser.add_argument("--bundles", type=int, default=20)
    parser.add_argument("--size", type=int, default=100, help="URLs per bundle")
    parser.add_argument("--big", type=int, default=1000, help="URLs of the one big bundle; 0: none")
    parser.add_argument("--small", type=int, default=300,
                        help="one-URL bundles submitted by --clients clients at once; 0: none")
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--database", choices=("sqlite", "postgresql"), default="sqlite",
                        help="a temporary SQLite file, or a private PostgreSQL server")
    parser.add_argument("--database-url", help="an existing, empty database (migrated here)")
    parser.add_argument("--broker", choices=("redis", "amqp"), default="redis",
                        help="a private redis-server, or a private RabbitMQ node")
    parser.add_argument("--broker-url", help="an existing broker (redis://… or amqp://…); "
                        "with AMQP the results go to a private redis-server")
    parser.add_argument("--beat", action=argparse.BooleanOptionalAction, default=True,
                        help="run the Procfile's beat (the watchdog), as `make run` does")
    parser.add_argument("--out", type=Path, default=OUT, help="where the figures go (JSON)")
    parser.add_argument("--keep", action="store_true", help="keep the work folder (logs)")
    args = parser.parse_args(argv)
    args.images = [int(n) for n in args.images.split(",") if n.strip()]
    if args.broker_url:
        from shootflow.config import broker_kind
        args.broker = broker_kind(args.broker_url)
        if args.broker is None:
            parser.error("--broker-url must start redis:// or amqp://")
    if args.database_url:
        args.database = "sqlite" if args.database_url.startswith("sqlite") else "postgresql"
    return args



def _interrupt(*_):
    raise KeyboardInterrupt


def loads(args):
    """(label, bundles, URLs per bundle, clients) of each load, in the order they run."""
    out = [(f"{args.bundles}×{args.size}", args.bundles, args.size, 1)] * (args.bundles > 0)
    if args.big:
        out.append((f"1×{args.big}", 1, args.big, 1))
    if args.small:
        out.append((f"{args.small}×1, {args.clients} clients", args.small, 1, args.clients))
    return out


def run_all(args, stack, runs):
    """Every load at every images concurrency, each after a warm-up; their figures are
    added to runs as each ends (a run cut short keeps those)."""
    for images in args.images:
        if images != stack.images_concurrency:
            stack.start_images(images)
        run_load(stack, "warm-up", 1, 20, f"w{images}")  # imports, connections, caches
        for label, bundles, size, clients in loads(args):
            print(f"  · images {images}: {label} …", file=sys.stderr, flush=True)
            runs.append(run_load(stack, label, bundles, size, f"i{images}-{len(runs)}",
                                 clients))
            print(f"    {runs[-1]['shots_per_s']:.1f} shots/s", file=sys.stderr, flush=True)


def header(args, broker, database, versions):
    print(f"\n## The control plane's limit: broker {broker.described}, database "
          f"{database.described}; {args.capture_processes} stand-in captures at once "
          f"({args.capture_pool} pool), {args.delay} ms per capture; {versions['broker']}, "
          f"{versions['database']}, Python {versions['python']}, {versions['cores']} cores, "
          f"load average at start {' '.join(f'{v:.2f}' for v in versions['load_at_start'])}")


def main(argv=None):
    args = parse_args(argv)
    signal.signal(signal.SIGTERM, _interrupt)
    work = Path(tempfile.mkdtemp(prefix="shootflow-controlplane-"))
    procs, broker, database, runs = Processes(), None, None, []
    settings = {k: str(v) if isinstance(v, Path) else v for k, v in vars(args).items()
                if k not in ("broker_url", "database_url")}
    try:
        broker = Broker(args.broker, args.broker_url, work)
        database = Database(args.database, args.database_url, work)
        stack = Stack(procs, work, broker, database, args)
        print(f"broker: {broker.described}; database: {database.described}; "
              f"stand-in captures: {args.capture_processes} at once ({args.capture_pool} pool), "
              f"{args.delay} ms each; web: the Procfile's gunicorn; work folder {work}",
              file=sys.stderr, flush=True)
        stack.start(args.images[0])
        versions = {"broker": broker.version(), "database": database.version(),
                    "python": platform.python_version(), "cores": psutil.cpu_count(),
                    "load_at_start": os.getloadavg()}
        run_all(args, stack, runs)
        header(args, broker, database, versions)
        report(runs)
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps({"settings": settings, "broker": broker.described,
                                        "database": database.described, "versions": versions,
                                        "runs": runs}, indent=1, default=str))
        print(f"\nFigures in {args.out}")
    except BaseException:
        if runs:
            partial = args.out.with_suffix(".partial.json")
            partial.parent.mkdir(parents=True, exist_ok=True)
            partial.write_text(json.dumps({"settings": settings, "runs": runs}, default=str))
        print(f"logs in {work / 'logs'}", file=sys.stderr)
        args.keep = True
        raise
    finally:
        signal.signal(signal.SIGTERM, signal.SIG_IGN)  # a second TERM does not cut the clean-up
        procs.stop_all()
        for server in (database, broker):
            if server is not None:
                server.stop()
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
