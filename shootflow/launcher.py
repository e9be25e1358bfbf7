"""`make run`: start every process of the Procfile this machine needs, under honcho.

Started as root, it runs them all as an unprivileged user instead (SHOOTFLOW_RUN_AS,
default `shootflow`, created when missing), so that Chromium keeps its sandbox: as root,
Chromium starts only with --no-sandbox."""
import os
import pwd
import shutil
import socket
import subprocess
import sys
from pathlib import Path
from urllib.parse import urlsplit

from .config import BASE_DIR, Config

ALWAYS = ["web", "capture", "interactive", "images", "beat", "flower"]
RUN_AS_VAR = "SHOOTFLOW_RUN_AS"
PROCESSES_VAR = "SHOOTFLOW_PROCESSES"


def reachable(url, timeout=1.0):
    """True when something accepts TCP connections at the URL's host and port."""
    parts = urlsplit(url)
    default_port = {"amqp": 5672, "pyamqp": 5672, "amqps": 5671}.get(parts.scheme, 6379)
    try:
        with socket.create_connection((parts.hostname or "127.0.0.1",
                                       parts.port or default_port), timeout=timeout):
            return True
    except OSError:
        return False


def chosen(text):
    """The Procfile entries SHOOTFLOW_PROCESSES names (`capture` on a second capture host,
    say), in its order; a missing or unknown name stops startup, naming the known ones."""
    names = [name.strip() for name in text.split(",") if name.strip()]
    known = [*ALWAYS, "redis"]
    unknown = [name for name in names if name not in known]
    if unknown or not names:
        raise SystemExit(f"shootflow: {PROCESSES_VAR} lists Procfile entries separated by "
                         f"commas, out of {', '.join(known)}; "
                         + (f"{', '.join(map(repr, unknown))} is not one" if unknown
                            else "it names none"))
    return list(dict.fromkeys(names))


def processes(config, environ):
    """The Procfile entries to start: those SHOOTFLOW_PROCESSES names, if set; else all of
    them, with a private redis only when no broker is set or running.

    A configured broker is never replaced, RabbitMQ included; with RabbitMQ, Config has made
    sure the result store is named (SHOOTFLOW_RESULT_BACKEND), so nothing is started for it."""
    if PROCESSES_VAR in environ:
        return chosen(environ[PROCESSES_VAR])
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


def run_as(environ, euid):
    """The user to run the processes as: None (stay) unless started as root."""
    if euid != 0:
        return None
    name = environ.get(RUN_AS_VAR, "shootflow").strip() or "shootflow"
    return None if name == "root" else name


def writable_paths(config):
    """What the processes write: the instance folder, the media folder, a SQLite database."""
    instance = Path(config.INSTANCE_DIR)
    paths = [instance, Path(config.MEDIA_DIR)]
    uri = config.SQLALCHEMY_DATABASE_URI
    if uri.startswith("sqlite:///"):
        database = Path(uri.removeprefix("sqlite:///"))
        if not database.is_relative_to(instance):  # its folder must be writable to the user
            paths += [database.with_name(database.name + end) for end in ("", "-wal", "-shm")]
    return paths


def _chown_tree(path, uid, gid):
    if not path.exists():
        return
    os.chown(path, uid, gid, follow_symlinks=False)
    if path.is_dir() and not path.is_symlink():
        for root, dirs, files in os.walk(path):
            for entry in dirs + files:
                os.chown(os.path.join(root, entry), uid, gid, follow_symlinks=False)


def prepare_user(name, paths, home):
    """Create the user if missing and hand it paths; (uid, gid), or None if it can't run
    shootflow from here (the checkout or its virtualenv unreadable to it)."""
    try:
        user = pwd.getpwnam(name)
    except KeyError:
        subprocess.run(["useradd", "--system", "--user-group", "--no-create-home",
                        "--home-dir", str(home), "--shell", "/usr/sbin/nologin", name],
                       check=True)
        user = pwd.getpwnam(name)
    Path(home).mkdir(parents=True, exist_ok=True)
    for path in [Path(home), *paths]:
        _chown_tree(path, user.pw_uid, user.pw_gid)
        if path.is_dir():
            path.chmod(0o700)  # the database, keys and captures are the user's alone
    probe = [shutil.which("setpriv"), f"--reuid={user.pw_uid}", f"--regid={user.pw_gid}",
             "--init-groups", sys.executable, "-c", "import wsgi"]
    if subprocess.run(probe, cwd=BASE_DIR, capture_output=True).returncode != 0:
        return None
    return user.pw_uid, user.pw_gid


def main():
    config = Config()
    Path(config.MEDIA_DIR).mkdir(parents=True, exist_ok=True)
    port = os.environ.get("PORT", "5000")
    names = processes(config, os.environ)
    bin_dir = Path(sys.executable).parent  # the Procfile's commands live beside this Python
    os.environ["PATH"] = f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}"
    command = [str(bin_dir / "honcho"), "start", "-f", "Procfile", "-p", port, *names]
    user = run_as(os.environ, os.geteuid())
    if user is not None:
        home = Path(config.INSTANCE_DIR) / "home"
        ids = prepare_user(user, writable_paths(config), home)
        if ids is None:
            print(f"shootflow: user {user!r} cannot read {BASE_DIR} or its virtualenv, so the "
                  "processes run as root and Chromium without its sandbox. Move the checkout "
                  f"where {user!r} can read it, or set {RUN_AS_VAR}=root to say this is "
                  "intended.", file=sys.stderr)
        else:
            print(f"shootflow: running the processes as user {user!r} (Chromium sandboxed)",
                  file=sys.stderr)
            os.environ.update(HOME=str(home), USER=user, LOGNAME=user)
            command = ["setpriv", f"--reuid={ids[0]}", f"--regid={ids[1]}", "--init-groups",
                       *command]
    if "web" in names:
        print(f"shootflow: open http://127.0.0.1:{port}/", file=sys.stderr)
    else:
        print(f"shootflow: starting {', '.join(names)}", file=sys.stderr)
    os.chdir(BASE_DIR)
    os.execvp(command[0], command)


if __name__ == "__main__":
    main()
