"""Flower as the Procfile starts it: behind basic auth, with a generated password if none is set."""
import base64
import os
import re
import stat
import subprocess
import sys
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from shootflow.flower import flower_environment
from shootflow.testing.servers import ROOT, free_port, wait_for


def status(url, auth=None):
    request = urllib.request.Request(url)
    if auth:
        token = base64.b64encode(":".join(auth).encode()).decode()
        request.add_header("Authorization", f"Basic {token}")
    try:
        with urllib.request.urlopen(request, timeout=5) as response:
            return response.status
    except urllib.error.HTTPError as exc:
        return exc.code
    except OSError:
        return None


@pytest.fixture
def start_flower(test_env, tmp_path):
    procs = []

    def start(**settings):
        port = free_port()
        env = dict(os.environ, SHOOTFLOW_FLOWER_PORT=str(port),
                   SHOOTFLOW_INSTANCE_DIR=str(tmp_path / "instance"), **settings)
        log = tmp_path / f"flower-{port}.log"
        proc = subprocess.Popen([sys.executable, "-m", "shootflow.flower"], cwd=ROOT, env=env,
                                stdout=open(log, "wb"), stderr=subprocess.STDOUT)
        procs.append(proc)
        url = f"http://127.0.0.1:{port}/"
        wait_for(lambda: status(url) is not None, timeout=30, message="Flower to listen")
        return url, log
    yield start
    for proc in procs:
        proc.terminate()
        proc.wait(10)


def test_flower_refuses_without_credentials(start_flower):
    url, _ = start_flower(SHOOTFLOW_FLOWER_USER="ops", SHOOTFLOW_FLOWER_PASSWORD="s3cret-pw")
    assert status(url) == 401
    assert status(url, ("ops", "wrong")) == 401
    assert status(url, ("ops", "s3cret-pw")) == 200


def test_flower_without_a_password_gets_a_generated_one_in_a_private_file(start_flower):
    url, log = start_flower()
    match = re.search(r"user 'admin', password in (\S+) ", log.read_text())
    assert match, log.read_text()
    password_file = Path(match.group(1))
    password = password_file.read_text().strip()
    assert stat.S_IMODE(password_file.stat().st_mode) == 0o600
    assert password not in log.read_text()
    assert status(url) == 401
    assert status(url, ("admin", password)) == 200


def test_the_generated_password_is_kept_across_restarts(tmp_path):
    environ = {"SHOOTFLOW_INSTANCE_DIR": str(tmp_path)}
    env, user, password_file = flower_environment(environ)
    assert password_file == tmp_path / "flower_password" and user == "admin"
    assert env["FLOWER_BASIC_AUTH"] == f"admin:{password_file.read_text().strip()}"
    assert flower_environment(environ)[0]["FLOWER_BASIC_AUTH"] == env["FLOWER_BASIC_AUTH"]
    chosen, _, no_file = flower_environment({**environ, "SHOOTFLOW_FLOWER_PASSWORD": "s3cret-pw"})
    assert chosen["FLOWER_BASIC_AUTH"] == "admin:s3cret-pw" and no_file is None


@pytest.mark.parametrize("settings, message", [
    ({"SHOOTFLOW_FLOWER_USER": "a:b"}, "SHOOTFLOW_FLOWER_USER must be non-empty"),
    ({"SHOOTFLOW_FLOWER_PASSWORD": "x,y"}, "must not contain ','"),
    ({"SHOOTFLOW_FLOWER_PORT": "http"}, "must be a port number"),
])
def test_bad_flower_settings_stop_with_a_message(settings, message):
    env = dict(os.environ, **settings)
    result = subprocess.run([sys.executable, "-m", "shootflow.flower"], cwd=ROOT, env=env,
                            capture_output=True, text=True, timeout=30)
    assert result.returncode != 0
    assert message in result.stderr
