"""`make run`: a private redis-server only when no broker is set and none answers, the
processes SHOOTFLOW_PROCESSES names if it is set; as root,
the processes run as an unprivileged user so that Chromium keeps its sandbox."""
import os
import pwd
import subprocess
from types import SimpleNamespace

import pytest

from shootflow.launcher import prepare_user, processes, run_as, writable_paths


def test_running_broker_is_used(redis_server):
    config = SimpleNamespace(BROKER_URL=redis_server.url)
    assert processes(config, {}) == ["web", "capture", "interactive", "images", "beat", "flower"]


def test_no_broker_starts_a_private_redis(closed_port_url):
    config = SimpleNamespace(BROKER_URL=closed_port_url.replace("http", "redis"))
    assert processes(config, {}) == ["web", "capture", "interactive", "images", "beat", "flower", "redis"]


def test_configured_but_down_broker_is_not_replaced(closed_port_url, capsys):
    url = closed_port_url.replace("http", "redis")
    config = SimpleNamespace(BROKER_URL=url)
    assert processes(config, {"SHOOTFLOW_BROKER_URL": url}) == ["web", "capture", "interactive", "images", "beat", "flower"]
    assert "is not answering" in capsys.readouterr().err


def test_the_processes_can_be_chosen(closed_port_url, capsys):
    """A second capture host runs its capture workers only, whatever answers where."""
    config = SimpleNamespace(BROKER_URL=closed_port_url.replace("http", "redis"))
    assert processes(config, {"SHOOTFLOW_PROCESSES": "capture"}) == ["capture"]
    assert processes(config, {"SHOOTFLOW_PROCESSES": " web, images,beat ,web"}) == [
        "web", "images", "beat"]
    assert capsys.readouterr().err == ""  # nothing said of a broker it does not look for


@pytest.mark.parametrize("value, message", [
    ("capture,crawler", "'crawler' is not one"),
    ("Capture", "'Capture' is not one"),
    ("", "it names none"),
    (" , ", "it names none"),
])
def test_unknown_processes_stop_startup(value, message):
    with pytest.raises(SystemExit) as stopped:
        processes(SimpleNamespace(BROKER_URL="redis://127.0.0.1:1/0"),
                  {"SHOOTFLOW_PROCESSES": value})
    assert "SHOOTFLOW_PROCESSES" in str(stopped.value) and message in str(stopped.value)
    assert "web, capture, interactive, images, beat, flower, redis" in str(stopped.value)


@pytest.mark.parametrize("environ, euid, user", [
    ({}, 1000, None),  # not root: run as whoever started it
    ({}, 0, "shootflow"),
    ({"SHOOTFLOW_RUN_AS": "capture"}, 0, "capture"),
    ({"SHOOTFLOW_RUN_AS": "root"}, 0, None),  # said on purpose: stay root, no sandbox
    ({"SHOOTFLOW_RUN_AS": " "}, 0, "shootflow"),
])
def test_started_as_root_the_processes_run_as_an_unprivileged_user(environ, euid, user):
    assert run_as(environ, euid) == user


def test_what_the_processes_write_is_handed_over(tmp_path):
    instance, media = tmp_path / "instance", tmp_path / "media"

    def config(database):
        return SimpleNamespace(INSTANCE_DIR=str(instance), MEDIA_DIR=str(media),
                               SQLALCHEMY_DATABASE_URI=database)
    assert writable_paths(config(f"sqlite:///{instance / 'db.sqlite'}")) == [instance, media]
    assert writable_paths(config(f"sqlite:///{tmp_path / 'db.sqlite'}"))[2:] == [
        tmp_path / "db.sqlite", tmp_path / "db.sqlite-wal", tmp_path / "db.sqlite-shm"]
    assert writable_paths(config("postgresql://db/shootflow")) == [instance, media]


@pytest.mark.skipif(os.geteuid() != 0, reason="creating a user needs root")
def test_the_user_is_created_and_given_the_writable_folders(tmp_path):
    name = f"sftest{os.getpid() % 100000}"
    (tmp_path / "instance" / "media").mkdir(parents=True)
    (tmp_path / "instance" / "media" / "a.png").write_bytes(b"x")
    try:
        ids = prepare_user(name, [tmp_path / "instance"], tmp_path / "home")
        user = pwd.getpwnam(name)
        for path in (tmp_path / "home", tmp_path / "instance", tmp_path / "instance" / "media",
                     tmp_path / "instance" / "media" / "a.png"):
            assert (path.stat().st_uid, path.stat().st_gid) == (user.pw_uid, user.pw_gid)
        assert (tmp_path / "instance").stat().st_mode & 0o777 == 0o700
        # None only when the user cannot read the checkout (e.g. one under /root)
        assert ids in ((user.pw_uid, user.pw_gid), None)
        assert prepare_user(name, [], tmp_path / "home") == ids  # an existing user is reused
    finally:
        subprocess.run(["userdel", name], capture_output=True)
