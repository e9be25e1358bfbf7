"""The `flower` process: Flower on the shootflow broker, always behind a password."""
import os
import secrets
import sys
from pathlib import Path

from .config import BASE_DIR, broker_kind, instance_dir, private_file

PASSWORD_FILE = "flower_password"


def flower_environment(environ):
    """Flower's settings from SHOOTFLOW_FLOWER_*; without a password, the one kept in the
    instance folder (made on first start). Returns (env, user, password file or None)."""
    user = environ.get("SHOOTFLOW_FLOWER_USER", "admin")
    password = environ.get("SHOOTFLOW_FLOWER_PASSWORD", "")
    port = environ.get("SHOOTFLOW_FLOWER_PORT", "5555")
    if not port.isdigit() or not 0 < int(port) < 65536:
        raise SystemExit(f"SHOOTFLOW_FLOWER_PORT must be a port number, got {port!r}")
    if not user or any(ch in user for ch in ":,"):
        raise SystemExit("SHOOTFLOW_FLOWER_USER must be non-empty and contain no ':' or ','")
    if "," in password:
        raise SystemExit("SHOOTFLOW_FLOWER_PASSWORD must not contain ','")
    password_file = None
    if not password:
        # In a 0600 file, not in the logs: logs are read by more people, and kept longer.
        password_file = instance_dir(environ) / PASSWORD_FILE
        password = private_file(password_file, lambda: secrets.token_urlsafe(18))
    env = dict(environ)
    # Through the environment, not argv, so the password does not show in the process table.
    env.update(FLOWER_BASIC_AUTH=f"{user}:{password}", FLOWER_PORT=port,
               FLOWER_ADDRESS=environ.get("SHOOTFLOW_FLOWER_ADDRESS", "127.0.0.1"))
    return env, user, password_file


def main():
    env, user, password_file = flower_environment(os.environ)
    address, port = env["FLOWER_ADDRESS"], env["FLOWER_PORT"]
    if password_file:
        print(f"shootflow: Flower at http://{address}:{port}/ — user {user!r}, password in "
              f"{password_file} (set SHOOTFLOW_FLOWER_PASSWORD to choose one)", flush=True)
    if (broker_kind(env.get("SHOOTFLOW_BROKER_URL", "")) == "amqp"
            and not env.get("FLOWER_BROKER_API")):
        # Flower reads RabbitMQ's queues only through its management plugin's HTTP API; the
        # Workers and Tasks tabs (and revoking) go through the broker and work regardless.
        print("shootflow: Flower's Broker tab is empty on RabbitMQ unless FLOWER_BROKER_API "
              "names its management API (http://USER:PASSWORD@HOST:15672/api/); /ops shows "
              "the queue lengths", flush=True)
    celery = str(Path(sys.executable).with_name("celery"))
    os.chdir(BASE_DIR)
    os.execve(celery, [celery, "-A", "wsgi:celery_app", "flower"], env)


if __name__ == "__main__":
    main()
