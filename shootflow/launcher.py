"""`make run`: start every process of the Procfile this machine needs, under honcho."""
import os
import socket
import sys
from pathlib import Path
from urllib.parse import urlsplit

from .config import BASE_DIR, Config

ALWAYS = ["web", "capture", "images", "beat", "flower"]


def reachable(url, timeout=1.0):
    """True when something accepts TCP connections at the URL's host and port."""
    parts = urlsplit(url)
    default_port = {"redis": 6379, "rediss": 6379, "amqp": 5672}.get(parts.scheme, 6379)
    try:
        with socket.create_connection((parts.hostname or "127.0.0.1",
                                       parts.port or default_port), timeout=timeout):
            return True
    except OSError:
        return False


def processes(config, environ):
    """The Procfile entries to start: a private redis only when no broker is set or running."""
    names = list(ALWAYS)
    if reachable(config.BROKER_URL):
        return names
    if "SHOOTFLOW_BROKER_URL" in environ:
        print(f"shootflow: the configured broker {config.BROKER_URL} is not answering; "
              "workers will keep retrying until it does.", file=sys.stderr)
        return names
    print("shootflow: no broker at 127.0.0.1:6379, starting a private redis-server "
          "(data in instance/redis).", file=sys.stderr)
    return names + ["redis"]


def main():
    config = Config()
    Path(config.MEDIA_DIR).mkdir(parents=True, exist_ok=True)
    port = os.environ.get("PORT", "5000")
    names = processes(config, os.environ)
    print(f"shootflow: open http://127.0.0.1:{port}/", file=sys.stderr)
    bin_dir = Path(sys.executable).parent  # the Procfile's commands live beside this Python
    os.environ["PATH"] = f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}"
    honcho = str(bin_dir / "honcho")
    os.chdir(BASE_DIR)
    os.execv(honcho, [honcho, "start", "-f", "Procfile", "-p", port, *names])


if __name__ == "__main__":
    main()
