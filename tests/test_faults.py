"""Faults produced for real against a real worker, broker and Chromium, and what holds."""
import json
import os
import pickle
import signal
import time
import uuid
from pathlib import Path

import psutil
import pytest

from shootflow.capture import BrowserError, BrowserOptions, BrowserSession, PageError
from shootflow.capture.processes import tree
from shootflow.models import Bundle, Shot
from tests.helpers import fresh, row_counts, wait_finished
from tests.servers import CeleryWorker, alive_chromium, wait_for


def active_task(celery_app, task_id):
    """The worker's view of a running task: its pool process id among other things."""
    for tasks in (celery_app.control.inspect(timeout=1).active() or {}).values():
        for task in tasks:
            if task["id"] == task_id:
                return task
    return None


def test_capture_process_killed_mid_capture_is_captured_again_once(
        ctx, app, client, worker, celery_app, pages):
    body = client.post("/api/v1/bundles", json={
        "urls": [pages.url("/slow", seconds=3, fault=1)]}).get_json()
    shot_id = client.get(body["url"]).get_json()["shots"][0]["id"]
    task_id = fresh(Shot, shot_id).task_id
    task = wait_for(lambda: active_task(celery_app, task_id), timeout=30,
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


def test_redis_stopped_mid_bundle_and_started_again(ctx, client, worker, celery_app, pages,
                                                    redis_server):
    """30 s without a broker: pages stay up and say so; afterwards every shot ends final."""
    urls = [pages.url("/slow", seconds=2, outage=n) for n in range(4)]
    body = client.post("/api/v1/bundles", json={"urls": urls}).get_json()
    wait_for(lambda: any(s.state == "running" for s in fresh(Bundle, body["id"]).shots),
             timeout=30, message="a capture to start")
    redis_server.stop()
    stopped = time.monotonic()
    try:
        page = client.get(f"/bundles/{body['id']}")
        assert page.status_code == 200
        refused = client.post("/api/v1/bundles", json={"urls": [pages.url(title="Later")]})
        assert refused.status_code == 503
        assert "task queue is unavailable" in refused.get_json()["error"]
        ops = client.get("/ops")
        assert ops.status_code == 200 and "The broker is unavailable" in ops.get_data(True)
        # The outage itself lasts 30 s: a duration to hold, not a result to wait for.
        wait_for(lambda: time.monotonic() - stopped >= 30, timeout=40, interval=1,
                 message="the outage to last 30 s")
    finally:
        redis_server.start()
    bundle = wait_finished(body["id"], timeout=120)
    assert all(shot.finished for shot in bundle.shots)
    again = client.post("/api/v1/bundles", json={"urls": [pages.url(title="After outage")]})
    assert again.status_code == 202
    assert wait_finished(again.get_json()["id"], timeout=60).state == "done"


def test_whole_capture_worker_killed_and_restarted_gets_its_work_back(
        ctx, client, worker, celery_app, pages, test_env):
    """The worker and its pool die at once (SIGKILL to the group), so nothing is acked or
    requeued; Redis hands the capture out again after the visibility timeout, set short here
    (SHOOTFLOW_VISIBILITY_TIMEOUT) so the test need not wait the default hour."""
    worker.stop()
    env = dict(os.environ, SHOOTFLOW_VISIBILITY_TIMEOUT="12")
    doomed = CeleryWorker(env, test_env["root"] / "doomed.log", concurrency=1)
    revived = None
    try:
        doomed.wait_ready(celery_app)
        body = client.post("/api/v1/bundles", json={
            "urls": [pages.url("/slow", seconds=2, whole=1)]}).get_json()
        shot_id = client.get(body["url"]).get_json()["shots"][0]["id"]
        wait_for(lambda: fresh(Shot, shot_id).state == "running", timeout=30,
                 message="the capture to start")
        os.killpg(doomed.proc.pid, signal.SIGKILL)
        doomed.proc.wait(10)
        killed_at = time.monotonic()

        revived = CeleryWorker(env, test_env["root"] / "revived.log", concurrency=1)
        revived.wait_ready(celery_app)
        bundle = wait_finished(body["id"], timeout=90)
        assert bundle.state == "done" and bundle.shots[0].title == "slow"
        assert time.monotonic() - killed_at >= 12  # it came back by the timeout, not sooner
    finally:
        doomed.stop()
        if revived:
            revived.stop()
        worker.start()
        worker.wait_ready(celery_app)
