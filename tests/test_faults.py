"""Faults produced for real against a real worker, broker and Chromium, and what holds."""
import json
import os
import pickle
import signal
import uuid
from pathlib import Path

import psutil
import pytest

from shootflow.capture import BrowserError, BrowserOptions, BrowserSession, PageError
from shootflow.capture.processes import tree
from shootflow.models import Bundle, Shot
from shootflow.testing.servers import wait_for
from shootflow.testing.workers import alive_chromium
from tests.helpers import fresh, row_counts, wait_finished


def active_task(celery_app, task_id):
    """The worker's view of a running task: its pool process id among other things."""
    for tasks in (celery_app.control.inspect(timeout=1).active() or {}).values():
        for task in tasks:
            if task["id"] == task_id:
                return task
    return None


@pytest.mark.amqp
def test_capture_process_killed_mid_capture_is_captured_again_once(
        ctx, app, client, worker, celery_app, pages):
    body = client.post("/api/v1/bundles", json={
        "urls": [pages.url("/slow", seconds=3, fault=1)]}).get_json()
    shot_id = client.get(body["url"]).get_json()["shots"][0]["id"]
    # The id of the message that took the shot is on the row once it is running.
    running = wait_for(lambda: (s := fresh(Shot, shot_id)).state == "running" and s,
                       timeout=30, message="the capture to start")
    task = wait_for(lambda: active_task(celery_app, running.task_id), timeout=30,
                    message="the capture to be running")
    killed = psutil.Process(task["worker_pid"])
    browser = wait_for(lambda: alive_chromium(p.pid for p in tree(killed.pid)), timeout=30,
                       message="the capture's browser to start")
    killed.send_signal(signal.SIGKILL)

    bundle = wait_finished(body["id"], timeout=60)
    wait_for(lambda: not alive_chromium(browser), timeout=15,
             message="the killed process's browser to be reaped")
    assert bundle.state == "done"
    shot = bundle.shots[0]
    assert shot.title == "slow" and shot.error is None
    folder = Path(app.config["MEDIA_DIR"], shot.image_path).parent
    assert sorted(p.name for p in folder.iterdir()) == ["full.png", "thumb.jpg"]


@pytest.fixture
def session():
    session = BrowserSession(BrowserOptions(page_load_timeout=3, egress_guard=False))
    yield session
    session.shutdown()


def test_page_looping_javascript_times_out_and_the_next_capture_works(session, pages):
    with pytest.raises(PageError, match=r"^timed out after 3 s$"):
        session.capture(pages.url(script="while (true) {}"))
    assert session.capture(pages.url(title="Next")).title == "Next"
    assert session.started == 2


def test_renderer_that_runs_out_of_memory_fails_and_the_next_capture_works(session, pages):
    hog = "let a = []; while (true) { a.push(new Array(1e7).fill(1.5)); }"
    with pytest.raises((PageError, BrowserError)):
        session.capture(pages.url(script=hog))
    assert session.capture(pages.url(title="After the crash")).title == "After the crash"


class Evil:
    """Unpickling this would run a command: the worker must never unpickle."""

    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def publish_raw(celery_app, body, content_type, task="shots.capture"):
    headers = {"lang": "py", "task": task, "id": str(uuid.uuid4()), "root_id": None,
               "parent_id": None, "group": None, "retries": 0, "eta": None, "expires": None,
               "argsrepr": "fault test", "kwargsrepr": "{}"}
    with celery_app.connection_for_write() as connection:
        connection.default_channel.basic_publish(
            connection.default_channel.prepare_message(
                body, content_type=content_type, content_encoding="binary"
                if isinstance(body, bytes) else "utf-8", headers=headers),
            exchange="capture", routing_key="capture")


@pytest.mark.amqp
def test_malformed_and_non_json_messages_run_nothing(ctx, tmp_path, worker, celery_app, client,
                                                    pages):
    marker = tmp_path / "unpickled"
    before = row_counts()
    publish_raw(celery_app, pickle.dumps(((Evil(marker),), {}, {})),
                "application/x-python-serialize")
    publish_raw(celery_app, b"{not json", "application/json")
    publish_raw(celery_app, json.dumps([["../../etc/passwd"], {}, {}]), "application/json")
    publish_raw(celery_app, json.dumps({"unexpected": "shape"}), "application/json")

    # A real bundle behind them on the same queue: once it is done, they were dealt with.
    body = client.post("/api/v1/bundles", json={"urls": [pages.url(title="After")]}).get_json()
    assert wait_finished(body["id"]).state == "done"
    assert not marker.exists()
    assert worker.proc.poll() is None
    bundles, shots = row_counts()
    assert (bundles, shots) == (before[0] + 1, before[1] + 1)
    assert fresh(Bundle, body["id"]).shots[0].title == "After"
    log = Path(worker.logfile).read_text()
    assert "Refusing to deserialize untrusted content of type pickle" in log
    assert log.count("dropped a malformed shots.capture message") == 1
