"""The `shootflow` command as a person runs it: a subprocess talking over HTTP to the app
(live_server) with a real worker capturing real pages. Its arguments are checked before it
talks to anyone, and every failure is one line: unreachable, refused, or shots that failed."""
import hashlib
import io
import json
import logging
import os
import pty
import re
import secrets
import signal
import subprocess
import sys
import zipfile

import pytest
import requests

from shootflow.models import Shot
from shootflow.storage import MediaStore
from shootflow.testing.servers import LiveServer, free_port, wait_for
from tests.helpers import fresh, new_token, new_user

FINAL = {"done", "partial", "failed", "cancelled"}


def shootflow(*args, server, cwd=None, stdin=None, env=None, timeout=180):
    """Run the command (as `python -m`, so the tested code is this checkout's)."""
    environment = {key: value for key, value in os.environ.items() if key != "SHOOTFLOW_TOKEN"}
    environment.update(SHOOTFLOW_SERVER=server, **(env or {}))
    return subprocess.run([sys.executable, "-m", "shootflow.client.commands", *args],
                          cwd=cwd, input=stdin, env=environment, capture_output=True,
                          text=True, timeout=timeout)


@pytest.fixture
def cli(live_server, tmp_path):
    def run(*args, **kwargs):
        kwargs.setdefault("cwd", tmp_path)
        return shootflow(*args, server=live_server.url, **kwargs)
    return run


@pytest.fixture
def api(live_server):
    with requests.Session() as session:
        def call(method, path, **kwargs):
            return session.request(method, live_server.url + path, timeout=30, **kwargs)
        yield call


def _bundle_of(result):
    """The bundle id a waiting capture names first on stderr."""
    return re.match(r"bundle ([0-9a-f]{24}): ", result.stderr)[1]


def _finished(api, bundle_id):
    return wait_for(lambda: (body := api("GET", f"/api/v1/bundles/{bundle_id}").json())
                    ["state"] in FINAL and body, timeout=90, message=f"bundle {bundle_id}")


def _sha256(data):
    return hashlib.sha256(data).hexdigest()


# Capturing ----------------------------------------------------------------------------------

def test_capture_shows_progress_and_writes_the_servers_images(worker, pages, api, cli,
                                                              tmp_path):
    tag = secrets.token_hex(4)
    urls = [pages.url(title=f"cli {tag} {n}", color=color)
            for n, color in enumerate(("#ff0000", "#00ff00", "#0000ff"))]
    # Two from the arguments, one from standard input among a comment and a blank line.
    result = cli("capture", *urls[:2], "-f", "-", "--out", "shots", "--viewport", "800x600",
                 stdin=f"# the third\n\n{urls[2]}\n")
    assert result.returncode == 0, result.stderr

    # Not a terminal: plain lines, never a bar redrawn with carriage returns or escapes.
    progress = re.findall(r"^(queued|running|done): (\d)/3 done$", result.stderr, re.M)
    assert progress and progress[-1] == ("done", "3"), result.stderr
    assert "\r" not in result.stderr and "\x1b[" not in result.stderr

    bundle = api("GET", f"/api/v1/bundles/{_bundle_of(result)}").json()
    assert [shot["url"] for shot in bundle["shots"]] == urls
    written = result.stdout.split()
    assert sorted(p.name for p in (tmp_path / "shots").iterdir()) == sorted(
        os.path.basename(path) for path in written)
    for number, (path, shot) in enumerate(zip(written, bundle["shots"]), start=1):
        assert path == f"shots/{number:03d}-{shot['id']}.png"
        assert shot["options"]["viewport"] == "800x600"
        data = (tmp_path / path).read_bytes()
        served = api("GET", shot["image_url"]).content
        assert _sha256(data) == _sha256(served) == shot["sha256"]


def test_capture_names_the_url_that_failed(worker, pages, api, cli, closed_port_url,
                                           tmp_path, caplog):
    good = pages.url(title=f"fine {secrets.token_hex(4)}")
    caplog.set_level(logging.INFO, logger="werkzeug")  # live_server's request log
    result = cli("capture", good, closed_port_url)
    assert result.returncode == 3, result.stderr
    bundle = api("GET", f"/api/v1/bundles/{_bundle_of(result)}").json()
    # It polls the cheap status, and the refused page's retries (2 s, then 4 s) leave the
    # bundle unchanged for a while: those polls are answered 304 (ETag, If-None-Match).
    polls = re.findall(rf'"GET /api/v1/bundles/{bundle["id"]}/status HTTP/1.1" (\d+)',
                       caplog.text)
    assert polls[0] == "200" and "304" in polls, polls
    assert bundle["state"] == "partial"
    failed = next(shot for shot in bundle["shots"] if shot["state"] == "failed")
    assert f"failed: {closed_port_url}: {failed['error']}" in result.stderr.splitlines()
    assert "partial: 1/2 done, 1 failed" in result.stderr
    done = bundle["shots"][0]
    image = tmp_path / bundle["id"] / f"001-{done['id']}.png"  # ./<bundle id> by default
    assert result.stdout.split() == [f"{bundle['id']}/{image.name}"]
    assert _sha256(image.read_bytes()) == done["sha256"]
    assert "Traceback" not in result.stderr


def _read_terminal(controller):
    """Everything written to a pseudo-terminal until its other end is closed."""
    seen = io.BytesIO()
    while True:
        try:
            chunk = os.read(controller, 65536)
        except OSError:  # EIO: the command has exited and the terminal is closed
            break
        if not chunk:
            break
        seen.write(chunk)
    os.close(controller)
    return seen.getvalue().decode(errors="replace")


@pytest.mark.parametrize("stdout", ["terminal", "pipe"])
def test_a_bar_only_when_the_output_is_a_terminal(stdout, worker, pages, live_server,
                                                  tmp_path):
    """stderr on a terminal: rich's bar redrawn in place if stdout is one too; with stdout
    piped into something that keeps it, plain lines."""
    controller, terminal = pty.openpty()
    env = {**os.environ, "SHOOTFLOW_SERVER": live_server.url, "TERM": "xterm",
           "COLUMNS": "100"}
    proc = subprocess.Popen([sys.executable, "-m", "shootflow.client.commands", "capture",
                             pages.url(title=f"terminal {stdout}")], cwd=tmp_path, env=env,
                            stdin=subprocess.DEVNULL, stderr=terminal,
                            stdout=terminal if stdout == "terminal" else subprocess.PIPE)
    os.close(terminal)
    text = _read_terminal(controller)
    assert proc.wait(60) == 0, text
    if stdout == "terminal":
        assert "\x1b[2K" in text and "\r" in text, text  # lines erased and redrawn
        assert "done: 1/1 done" in text and "1/1" in text
        assert not re.search(r"^queued: 0/1 done\r?$", text, re.M), text
    else:
        assert "\x1b[" not in text, text
        assert re.search(r"^done: 1/1 done\r?$", text, re.M), text
        assert proc.stdout.read().decode().endswith(".png\n")


def test_without_wait_it_prints_the_bundle_and_its_page(worker, pages, api, cli,
                                                        live_server):
    result = cli("capture", "--no-wait", pages.url(title="no wait"))
    assert result.returncode == 0, result.stderr
    bundle_id, page = result.stdout.split()
    assert page == f"{live_server.url}/bundles/{bundle_id}"
    assert api("GET", page.removeprefix(live_server.url)).status_code == 200
    assert _finished(api, bundle_id)["state"] == "done"


def test_interrupted_it_stops_waiting_and_says_where_the_bundle_is(worker, pages, api,
                                                                  live_server, tmp_path):
    env = {**os.environ, "SHOOTFLOW_SERVER": live_server.url}
    proc = subprocess.Popen([sys.executable, "-m", "shootflow.client.commands", "capture",
                             pages.url("/slow", seconds=3)], cwd=tmp_path, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    first = proc.stderr.readline()  # "bundle <id>: <page>", then it polls
    bundle_id = re.match(r"bundle ([0-9a-f]{24}): ", first)[1]
    assert re.match(r"(queued|running): 0/1 done", proc.stderr.readline())
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=30)
    assert proc.returncode == 130, err
    assert err.strip() == f"Stopped waiting; the bundle goes on: {live_server.url}/bundles/" \
                          f"{bundle_id}"
    assert out == "" and list(tmp_path.iterdir()) == []
    assert _finished(api, bundle_id)["state"] in FINAL  # it went on without the command


# Reading bundles ----------------------------------------------------------------------------

@pytest.fixture(scope="module")
def captured(worker, pages, live_server):
    """A finished bundle of two pages whose titles carry a word no other bundle has."""
    tag = f"findme{secrets.token_hex(4)}"
    urls = [pages.url(title=f"{tag} one"), pages.url(title=f"{tag} two")]
    body = requests.post(f"{live_server.url}/api/v1/bundles", json={"urls": urls},
                         timeout=30).json()
    bundle = wait_for(lambda: (b := requests.get(f"{live_server.url}/api/v1/bundles/"
                                                 f"{body['id']}", timeout=30).json())
                      ["state"] in FINAL and b, timeout=90, message="the bundle")
    assert bundle["state"] == "done"
    return {"tag": tag, **bundle}


def test_status_says_state_and_counts(captured, api, cli, live_server):
    result = cli("status", captured["id"])
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0] == f"{captured['id']}  done  2/2 done"
    assert lines[-1] == f"{live_server.url}/bundles/{captured['id']}"
    result = cli("status", captured["id"], "--json")
    assert json.loads(result.stdout) == api("GET", f"/api/v1/bundles/{captured['id']}/status"
                                            ).json()


def test_ls_finds_the_bundle(captured, cli):
    result = cli("ls", "--search", captured["tag"].upper(), "--json")
    assert result.returncode == 0, result.stderr
    assert [bundle["id"] for bundle in json.loads(result.stdout)] == [captured["id"]]
    line = cli("ls", "--search", captured["tag"], "--state", "done").stdout.strip()
    assert line.startswith(f"{captured['id']}  done ") and "2/2 done" in line
    assert f"{captured['tag']} one" in line
    assert cli("ls", "--search", captured["tag"], "--state", "failed", "--json").stdout \
        .strip() == "[]"
    nothing = cli("ls", "--search", f"no-{captured['tag']}")
    assert (nothing.returncode, nothing.stdout, nothing.stderr) == (0, "", "No bundles.\n")
    assert len(json.loads(cli("ls", "--limit", "1", "--json").stdout)) == 1


def test_export_writes_the_zip(captured, cli, tmp_path):
    result = cli("export", captured["id"], "--zip", "out.zip")
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "out.zip"
    assert re.search(r"^out\.zip: 100% of [\d.]+ [kM]B$", result.stderr, re.M), result.stderr
    with zipfile.ZipFile(tmp_path / "out.zip") as archive:
        assert archive.testzip() is None
        manifest = json.loads(archive.read("manifest.json"))
        shots = manifest["shots"]
        assert [shot["id"] for shot in shots] == [shot["id"] for shot in captured["shots"]]
        for shot in shots:
            assert _sha256(archive.read(shot["image"])) == shot["sha256"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.zip"]


def test_export_of_an_unknown_bundle_writes_nothing(live_server, cli, tmp_path):
    result = cli("export", "0" * 24, "--zip", "out.zip")
    assert result.returncode == 1
    assert result.stderr == f"Error: No bundle with id {'0' * 24}.\n"
    assert list(tmp_path.iterdir()) == []


# Watches ------------------------------------------------------------------------------------

@pytest.mark.parametrize("files", [False, True], ids=["keep-images", "files"])
def test_watch_round_trip(worker, pages, api, cli, app, files):
    url = pages.url(title=f"watched {secrets.token_hex(4)}")
    added = cli("watch", "add", url, "--every", "15m", "--dark", "--ignore", "h1",
                "--threshold", "0.05", "--timezone", "Europe/Berlin")
    assert added.returncode == 0, added.stderr
    watch_id = added.stdout.strip()
    watch = api("GET", f"/api/v1/watches/{watch_id}").json()
    assert (watch["url"], watch["schedule"], watch["timezone"], watch["threshold"],
            watch["ignore"], watch["options"], watch["paused"]) == (
        url, "every 15 minutes", "Europe/Berlin", 0.05, ["h1"], {"dark_mode": True}, False)
    assert "webhook secret (shown once): " in added.stderr

    listed = json.loads(cli("watch", "ls", "--json").stdout)
    assert watch_id in [item["id"] for item in listed]
    assert any(line.startswith(f"{watch_id}  active  ")
               for line in cli("watch", "ls").stdout.splitlines())

    for action, paused in (("pause", True), ("resume", False)):
        result = cli("watch", action, watch_id)
        assert result.returncode == 0, result.stderr
        assert api("GET", f"/api/v1/watches/{watch_id}").json()["paused"] is paused

    ran = cli("watch", "run", watch_id)
    assert ran.returncode == 0, ran.stderr
    bundle_id = ran.stdout.split()[0]
    shot = _finished(api, bundle_id)["shots"][0]
    assert shot["state"] == "done" and shot["options"]["dark_mode"] is True

    with app.app_context():
        image = MediaStore(app.config["MEDIA_DIR"]).absolute(fresh(Shot, shot["id"]).image_path)
    removed = cli("watch", "rm", watch_id, *(["--files"] if files else []))
    assert removed.returncode == 0, removed.stderr
    assert api("GET", f"/api/v1/watches/{watch_id}").status_code == 404
    # Without --files the run's bundle stays, with its image; with it, both go.
    assert api("GET", f"/api/v1/shots/{shot['id']}").status_code == (404 if files else 200)
    assert image.exists() is not files
    again = cli("watch", "rm", watch_id)
    assert (again.returncode, again.stderr) == (1, f"Error: No watch with id {watch_id}.\n")


# Rejections ---------------------------------------------------------------------------------

@pytest.mark.parametrize("args, says", [
    (["capture"], "Give at least one URL"),
    (["capture", "example.com", "--viewport", "abc"], "Invalid value for '--viewport'"),
    (["capture", "example.com", "--viewport", "100x100"], "320–3840 wide"),
    (["capture", "example.com", "--preset", "watch"], "Invalid value for '--preset'"),
    (["capture", "example.com", "--format", "gif"], "Invalid value for '--format'"),
    (["capture", "example.com", "--quality", "50"], "Invalid value for '--quality'"),
    (["capture", "example.com", "--scale", "4"], "Invalid value for '--scale'"),
    (["capture", "example.com", "--delay", "soon"], "Invalid value for '--delay'"),
    (["capture", "example.com", "--header", "no colon"], "'NAME: VALUE'"),
    (["capture", "example.com", "--cookie", "novalue"], "NAME=VALUE"),
    (["capture", "example.com", "--option", "scale"], "KEY=VALUE"),
    (["capture", "example.com", "--option", "scale=9"], "Invalid value for '--option'"),
    (["capture", "example.com", "--option", "full_page=yes"], "Invalid value for '--option'"),
    (["capture", "--file", "no-such-file"], "Invalid value for '-f' / '--file'"),
    (["watch", "add", "example.com"], "one of --every (such as 1h) or --cron"),
    (["watch", "add", "example.com", "--every", "1h", "--cron", "@daily"], "one of --every"),
    (["watch", "add", "example.com", "--every", "0m"], "Invalid value for '--every'"),
    (["watch", "add", "example.com", "--every", "30s"], "Invalid value for '--every'"),
    (["watch", "add", "example.com", "--cron", "* * *"], "Invalid value for '--cron'"),
    (["watch", "add", "example.com", "--every", "1h", "--timezone", "Mars/Base"],
     "Invalid value for '--timezone'"),
    (["watch", "add", "example.com", "--every", "1h", "--threshold", "2"],
     "Invalid value for '--threshold'"),
    (["watch", "add", "example.com", "--every", "1h", "--viewport", "phone", "--preset",
      "tablet"], "a watch takes one viewport"),
    (["watch", "pause"], "Missing argument 'WATCH_ID'"),
    (["watch", "frobnicate"], "No such command 'frobnicate'"),
    (["ls", "--state", "lost"], "Invalid value for '--state'"),
    (["ls", "--limit", "0"], "Invalid value for '--limit'"),
    (["status"], "Missing argument 'BUNDLE_ID'"),
    (["export"], "Missing argument 'BUNDLE_ID'"),
    (["--server", "localhost:5000", "ls"], "Invalid value for '--server'"),
], ids=lambda value: " ".join(value) if isinstance(value, list) else None)
def test_bad_arguments_are_usage_errors(args, says, tmp_path):
    """Exit 2 with the usage, decided before any request: the server here is a port nothing
    listens on, so a command that tried to talk would exit 1 instead."""
    result = shootflow(*args, server=f"http://127.0.0.1:{free_port()}", cwd=tmp_path)
    assert result.returncode == 2, result.stderr
    assert result.stderr.startswith("Usage: shootflow ")
    assert says in result.stderr
    assert result.stdout == "" and "Traceback" not in result.stderr


@pytest.mark.parametrize("args", [["ls"], ["status", "0" * 24], ["capture", "example.com"],
                                  ["export", "0" * 24], ["watch", "ls"],
                                  ["watch", "add", "example.com", "--every", "1h"]],
                         ids=" ".join)
def test_an_unreachable_server_is_one_line(args, live_server, tmp_path):
    port = free_port()
    # --server wins over SHOOTFLOW_SERVER, which names the working server here.
    result = shootflow("--server", f"http://127.0.0.1:{port}", *args, server=live_server.url,
                       cwd=tmp_path)
    assert result.returncode == 1
    assert result.stdout == ""
    assert result.stderr == (f"Error: cannot reach the shootflow server at "
                             f"http://127.0.0.1:{port}: Connection refused (is it running? set "
                             "--server or SHOOTFLOW_SERVER)\n")
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("where, answer", [
    ("pages", "answered 200 but not with JSON"),  # the page server's page, whatever the path
    ("elsewhere", "answered 404 NOT FOUND without shootflow's JSON"),  # an HTML 404
])
def test_a_server_that_is_not_shootflow_is_one_line(where, answer, pages, live_server,
                                                    tmp_path):
    server = pages.base if where == "pages" else f"{live_server.url}/elsewhere"
    result = shootflow("ls", server=server, cwd=tmp_path)
    assert result.returncode == 1
    assert result.stderr == (f"Error: GET {server}/api/v1/bundles?limit=20 {answer}: is "
                             f"{server} a shootflow server?\n")


def _refusal(answer):
    body = answer.json()
    assert 400 <= answer.status_code < 500, body
    return f"Error: {body['error']}" + (f" (field: {body['field']})" if "field" in body else "")


REFUSALS = {  # the command, and the same request sent to the API (PAGE: the page server)
    "invalid-url": (["capture", "javascript:alert(1)"],
                    ("POST", "/bundles", {"urls": ["javascript:alert(1)"]})),
    "too-many-urls": (["capture", *(f"PAGE/?n={n}" for n in range(6))],  # the tests allow 5
                      ("POST", "/bundles", {"urls": [f"PAGE/?n={n}" for n in range(6)]})),
    "unknown-option": (["capture", "PAGE/", "--option", "bogus=1"],
                       ("POST", "/bundles", {"urls": ["PAGE/"], "options": {"bogus": 1}})),
    "watch-url": (["watch", "add", "ftp://PAGE/", "--every", "1h"],
                  ("POST", "/watches", {"url": "ftp://PAGE/", "schedule": "every 1 hour"})),
    "too-often": (["watch", "add", "PAGE/", "--cron", "*/5 * * * *"],
                  ("POST", "/watches", {"url": "PAGE/", "schedule": "*/5 * * * *"})),
    "unknown-bundle": (["status", "f" * 24], ("GET", f"/bundles/{'f' * 24}/status", None)),
    "unknown-watch": (["watch", "run", "f" * 24], ("POST", f"/watches/{'f' * 24}/run", None)),
}


@pytest.mark.parametrize("case", REFUSALS)
def test_a_refusal_prints_the_servers_message(case, pages, api, cli, app):
    """A 4xx is the server's own message on one line, exit 1, and nothing is kept."""
    page = pages.base.removeprefix("http://")
    args, (method, path, body) = json.loads(json.dumps(REFUSALS[case]).replace("PAGE", page))
    minimum = app.config["MIN_WATCH_INTERVAL"]
    app.config["MIN_WATCH_INTERVAL"] = 3600  # so that every 5 minutes is too often
    try:
        expected = _refusal(api(method, "/api/v1" + path, json=body))
        newest = [b["id"] for b in api("GET", "/api/v1/bundles?limit=1").json()["bundles"]]
        watches = api("GET", "/api/v1/watches").json()["watches"]
        result = cli(*args)
    finally:
        app.config["MIN_WATCH_INTERVAL"] = minimum
    assert result.returncode == 1
    assert result.stderr == expected + "\n"
    assert "Usage:" not in result.stderr and result.stdout == ""
    assert [b["id"] for b in api("GET", "/api/v1/bundles?limit=1").json()["bundles"]] == newest
    assert api("GET", "/api/v1/watches").json()["watches"] == watches


def test_the_token_is_sent(auth_app, tmp_path):
    server = LiveServer(auth_app)
    try:
        token = new_token(auth_app, new_user(auth_app, "cli"))
        refused = shootflow("ls", server=server.url, cwd=tmp_path)
        assert refused.returncode == 1
        assert refused.stderr.startswith("Error: Sign in with an API token")
        for how in (["--token", token], []):
            result = shootflow(*how, "ls", "--json", server=server.url, cwd=tmp_path,
                               env={} if how else {"SHOOTFLOW_TOKEN": token})
            assert (result.returncode, result.stdout.strip()) == (0, "[]"), result.stderr
    finally:
        server.stop()
