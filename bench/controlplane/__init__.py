"""The control plane's limit: how many shots a second the web app, the broker, the database and
the images lane sustain when capturing costs nothing but a set delay.

The capture workers run the stand-in engine of `bench/standin.py` (a prepared PNG after
`--delay` ms, many pool processes), so the capture side is never what waits; everything
else is the product as the Procfile starts it: bundles are submitted with
`POST /api/v1/bundles` to gunicorn, a worker dispatches them, `shots.capture` claims, writes
and commits each shot, the images lane makes real thumbnails with Pillow, and the bundles
settle. Per run it reports shots/s from the first POST to the last shot done, the CPU of
every part (psutil), the length of every queue every 0.5 s, and where each shot waited.

    .venv/bin/python -m bench.controlplane [--delay 200] [--capture-processes 16]
        [--images 1,2,4] [--bundles 20 --size 100] [--big 1000] [--small 300]
        [--database sqlite|postgresql] [--database-url URL]
        [--broker redis|amqp] [--broker-url URL]

Without a URL the bench starts its own servers: a temporary SQLite file or a private
PostgreSQL server, a private redis-server or RabbitMQ node (the result store is then a
private redis-server). Figures go to bench/results/controlplane.json; see bench/README.md,
"The control plane's limit".

The package: __main__.py the command line and the order of the runs, backends.py the
broker and the database, stack.py the processes of the product (web, the stand-in capture
worker, images, beat), load.py one load submitted and followed to its end with what is
sampled meanwhile, tables.py the report.
"""
from bench.procs import ROOT
from shootflow.monitoring import QUEUES  # noqa: F401  (the package's, for its modules)

ROLES = ("web", "capture (stand-in)", "images", "beat", "broker", "results (Redis)", "database",
         "bench")
OUT = ROOT / "bench" / "results" / "controlplane.json"
