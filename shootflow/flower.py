"""The `flower` process: Flower on the shootflow broker, always behind a password."""
import os
import secrets
import sys
from pathlib import Path

from .config import BASE_DIR


def flower_environment(environ):
    """Flower's settings from SHOOTFLOW_FLOWER_*; a random password when none is set."""
    user = environ.get("SHOOTFLOW_FLOWER_USER", "admin")
    password = environ.get("SHOOTFLOW_FLOWER_PASSWORD", "")
    port = environ.get("SHOOTFLOW_FLOWER_PORT", "5555")
    if not port.isdigit() or not 0 < int(port) < 65536:
        raise SystemExit(f"SHOOTFLOW_FLOWER_PORT must be a port number, got {port!r}")
    if not user or any(ch in user for ch in ":,"):
        raise SystemExit("SHOOTFLOW_FLOWER_USER must be non-empty and contain no ':' or ','")
    if "," in password:
        raise SystemExit("SHOOTFLOW_FLOWER_PASSWORD must not contain ','")
    generated = not password
    if generated:
        password = secrets.token_urlsafe(18)
    env = dict(environ)
    # Through the environment, not argv, so the password does not show in the process table.
    env.update(FLOWER_BASIC_AUTH=f"{user}:{password}", FLOWER_PORT=port,
               FLOWER_ADDRESS=environ.get("SHOOTFLOW_FLOWER_ADDRESS", "127.0.0.1"))
    return env, user, password if generated else None


def main():
    env, user, generated = flower_environment(os.environ)
    address, port = env["FLOWER_ADDRESS"], env["FLOWER_PORT"]
    if generated:
        print(f"shootflow: Flower at http://{address}:{port}/ — user {user!r}, "
              f"generated password {generated!r} (set SHOOTFLOW_FLOWER_PASSWORD to choose one)",
              flush=True)
    celery = str(Path(sys.executable).with_name("celery"))
    os.chdir(BASE_DIR)
    os.execve(celery, [celery, "-A", "wsgi:celery_app", "flower"], env)


if __name__ == "__main__":
    main()
