"""The database is the truth: whatever the broker or a worker loses mid-bundle, the rows get
it done, each shot captured once. A real broker (redis-server, or RabbitMQ in the AMQP run),
worker, beat (the watchdog) and Chromium."""
import os
import signal
import time
from pathlib import Path

import pytest

from shootflow.config import broker_urls
from shootflow.models import Bundle
from shootflow.monitoring import queue_status
from shootflow.testing.servers import wait_for
from shootflow.testing.workers import CeleryWorker
from tests.conftest import BROKER
from tests.helpers import fresh, wait_finished

pytestmark = pytest.mark.amqp
BUNDLE_SIZE = 5  # the tests' SHOOTFLOW_MAX_BUNDLE_URLS


def _submit_slow(client, pages, seconds, **tag):
    urls = [pages.url("/slow", seconds=seconds, n=n, **tag) for n in range(BUNDLE_SIZE)]
    response = client.post("/api/v1/bundles", json={"urls": urls})
    assert response.status_code == 202, response.get_json()
    return response.get_json()["id"], urls


def _started(bundle_id):
    return wait_for(lambda: any(s.state == "running" for s in fresh(Bundle, bundle_id).shots),
                    timeout=30, message="a capture to start")


def _captured_once_each(app, pages, bundle, urls):
    """Every shot done, with one image and one thumbnail, its page loaded once."""
    assert bundle.state == "done", [(s.state, s.error) for s in bundle.shots]
    for shot in bundle.shots:
        folder = Path(app.config["MEDIA_DIR"], shot.image_path).parent
        assert sorted(p.name for p in folder.iterdir()) == ["full.png", "thumb.jpg"]
    return [pages.loads(url) for url in urls]


def test_broker_killed_and_restarted_empty_mid_bundle(ctx, app, client, worker, beat, pages,
                                                      broker_server):
    bundle_id, urls = _submit_slow(client, pages, 2, empty=1)
    _started(bundle_id)
    # Every queued message (and on Redis, where it is also the result store, the chord's
    # counter): gone.
    broker_server.kill(wipe=True)
    try:
        assert not any(broker_server.workdir.iterdir())  # it will come back empty
    finally:
        broker_server.start()  # at once, as a supervisor restarting a crashed broker would
    bundle = wait_finished(bundle_id, timeout=120)
    assert _captured_once_each(app, pages, bundle, urls) == [1] * BUNDLE_SIZE


def test_broker_stopped_for_60_seconds_mid_bundle(ctx, app, client, worker, beat, pages,
                                                  broker_server):
    """A minute without a broker: the pages stay up and say so, a submit is refused (503),
    and afterwards every shot ends done; the outage fails none of them."""
    bundle_id, urls = _submit_slow(client, pages, 2, outage=1)
    _started(bundle_id)
    broker_server.stop()
    stopped = time.monotonic()
    try:
        assert client.get(f"/bundles/{bundle_id}").status_code == 200
        refused = client.post("/api/v1/bundles", json={"urls": [pages.url(title="Later")]})
        assert refused.status_code == 503
        assert "task queue is unavailable" in refused.get_json()["error"]
        ops = client.get("/ops")
        assert ops.status_code == 200 and "The broker is unavailable" in ops.get_data(True)
        # The outage itself lasts 60 s: a duration to hold, not a result to wait for.
        wait_for(lambda: time.monotonic() - stopped >= 60, timeout=70, interval=1,
                 message="the outage to last 60 s")
    finally:
        broker_server.start()
    bundle = wait_finished(bundle_id, timeout=120)
    assert _captured_once_each(app, pages, bundle, urls) == [1] * BUNDLE_SIZE
    again = client.post("/api/v1/bundles", json={"urls": [pages.url(title="After outage")]})
    assert again.status_code == 202
    assert wait_finished(again.get_json()["id"], timeout=60).state == "done"


def test_whole_capture_worker_killed_and_restarted(ctx, app, client, worker, beat, pages,
                                                   celery_app, test_env):
    """The worker and its pool die at once (SIGKILL to the group), so nothing is acked or
    requeued and Redis would hand the message out again only after an hour; the shot's
    silent heartbeat has the watchdog send it again long before that. (RabbitMQ hands it out
    again as soon as the dead worker's connection closes; either way it is taken once more.)"""
    worker.stop()
    doomed = CeleryWorker(dict(os.environ), test_env["root"] / "doomed.log", concurrency=1)
    revived = None
    try:
        doomed.wait_ready(celery_app)
        bundle_id, urls = _submit_slow(client, pages, 2, whole=1)
        wait_for(lambda: any(pages.loads(url) for url in urls), timeout=30,
                 message="the browser to be loading a page")
        os.killpg(doomed.proc.pid, signal.SIGKILL)
        doomed.proc.wait(10)

        revived = CeleryWorker(dict(os.environ), test_env["root"] / "revived.log",
                               concurrency=2)
        revived.wait_ready(celery_app)
        bundle = wait_finished(bundle_id, timeout=120)
        loads = _captured_once_each(app, pages, bundle, urls)
        killed = [shot for shot in bundle.shots if shot.attempts == 2]
        assert len(killed) == 1  # the one being captured when the worker died, taken again
        assert all(shot.attempts == 1 for shot in bundle.shots if shot not in killed)
        assert loads == [2 if shot in killed else 1 for shot in bundle.shots]
    finally:
        doomed.stop()
        if revived:
            revived.stop()
        worker.start()
        worker.wait_ready(celery_app)


def test_submit_only_writes_rows_and_one_message(ctx, app, client, worker, celery_app, pages):
    """A 1,000-URL submit sends no capture inside the request: the broker holds one dispatch
    message afterwards, and the rows say none was sent yet."""
    urls = [pages.url(title="Many", n=n) for n in range(1000)]
    limits = {"MAX_BUNDLE_URLS": 1000, "URLS_PER_MINUTE": 0, "MAX_WAITING_SHOTS": 0}
    saved = {key: app.config[key] for key in limits}
    worker.stop()
    try:
        app.config.update(limits)
        response = client.post("/api/v1/bundles", json={"urls": urls})
        assert response.status_code == 202
        queued = {queue.name: queue.waiting for queue in queue_status(celery_app)}
        assert queued == {"capture": 0, "capture.bulk": 0, "capture.scheduled": 0,
                          "images": 0, "default": 1}
        bundle = fresh(Bundle, response.get_json()["id"])
        assert len(bundle.shots) == 1000
        assert all(shot.dispatched_at is None and shot.task_id is None for shot in bundle.shots)
        # The worker sends them: shown on a small bundle, cancelling the big one first.
        assert client.post(f"/api/v1/bundles/{bundle.id}/cancel").status_code == 202
        small = client.post("/api/v1/bundles", json={"urls": [pages.url(title="Few")]})
    finally:
        app.config.update(saved)
        worker.start()
        worker.wait_ready(celery_app)
    finished = wait_finished(small.get_json()["id"], timeout=60)
    assert finished.state == "done" and finished.shots[0].dispatched_at is not None
    assert fresh(Bundle, bundle.id).state == "cancelled"
    assert all(shot.dispatched_at is None for shot in fresh(Bundle, bundle.id).shots)


def test_the_broker_gets_its_own_guarantees(celery_app):
    """RabbitMQ: every publish is confirmed by the broker. Redis: the visibility timeout and
    the sweep that hands a dead worker's messages out again."""
    options = celery_app.conf.broker_transport_options
    if BROKER == "amqp":
        assert options == {"confirm_publish": True}
        with celery_app.connection_for_write() as connection:
            channel = connection.default_channel
            assert channel.basic_publish == channel.basic_publish_confirm
    else:
        assert options["visibility_timeout"] > celery_app.conf.task_time_limit
        assert options["unacked_restore_interval"] >= 1


@pytest.mark.parametrize("environ, message", [
    ({"SHOOTFLOW_BROKER_URL": "amqp://shootflow:s3cret@mq.example//"},
     "SHOOTFLOW_BROKER_URL is RabbitMQ .* SHOOTFLOW_RESULT_BACKEND is not set"),
    ({"SHOOTFLOW_BROKER_URL": "amqp://shootflow:s3cret@mq.example//",
      "SHOOTFLOW_RESULT_BACKEND": "rpc://shootflow:s3cret@mq.example//"},
     "SHOOTFLOW_RESULT_BACKEND must be redis://"),
    ({"SHOOTFLOW_BROKER_URL": "sqs://key:s3cret@"}, "SHOOTFLOW_BROKER_URL must be redis://"),
])
def test_a_broker_setting_that_cannot_work_stops_startup(environ, message):
    with pytest.raises(RuntimeError, match=message) as refused:
        broker_urls(environ)
    assert "s3cret" not in str(refused.value)


def test_redis_keeps_the_results_unless_told_otherwise():
    rabbit = {"SHOOTFLOW_BROKER_URL": "amqps://shootflow:pw@mq.example/shootflow",
              "SHOOTFLOW_RESULT_BACKEND": "redis://results.example:6379/1"}
    assert broker_urls(rabbit) == (rabbit["SHOOTFLOW_BROKER_URL"],
                                   rabbit["SHOOTFLOW_RESULT_BACKEND"])
    assert broker_urls({}) == ("redis://127.0.0.1:6379/0",) * 2
    assert broker_urls({"SHOOTFLOW_BROKER_URL": "redis://q.example/2"}) == (
        "redis://q.example/2",) * 2
