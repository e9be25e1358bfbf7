"""Operating shootflow with a real broker, worker and Chromium: cancel, retry, revoke, wait."""
import os
import re
import subprocess
import sys
import time

import pytest
import requests

from shootflow.extensions import db
from shootflow.models import Bundle, Shot
from shootflow.monitoring import QUEUES, queue_status
from shootflow.testing.pages import PageServer
from shootflow.testing.servers import ROOT, free_port, wait_for
from shootflow.testing.workers import alive_chromium
from tests.helpers import fresh, row_counts, wait_finished


def running(shot_id):
    shot = fresh(Shot, shot_id)
    return shot.state == "running" and shot.image_path is None


def drained(celery_app):
    """Nothing waits in the capture queue and no worker runs anything."""
    capture = next(q for q in queue_status(celery_app) if q.name == "capture")
    active = celery_app.control.inspect(timeout=1).active() or {}
    return capture.waiting == 0 and not any(active.values())


@pytest.mark.amqp
def test_cancel_stops_running_captures_and_queued_shots_never_run(
        ctx, client, worker, celery_app, pages):
    urls = [pages.url("/slow", n=1), pages.url("/slow", n=2),
            pages.url(title="q1"), pages.url(title="q2"), pages.url(title="q3")]
    body = client.post("/api/v1/bundles", json={"urls": urls}).get_json()
    shots = [s["id"] for s in body and client.get(body["url"]).get_json()["shots"]]
    wait_for(lambda: running(shots[0]) and running(shots[1]), timeout=30,
             message="both slow pages to be capturing")
    browsers = wait_for(worker.chromium_pids, timeout=10, message="the workers' browsers")

    cancelled_at = time.monotonic()
    response = client.post(f"/api/v1/bundles/{body['id']}/cancel")
    assert response.status_code == 202
    bundle = wait_finished(body["id"], timeout=10)
    assert time.monotonic() - cancelled_at < 5
    assert bundle.state == "cancelled"
    assert [s.state for s in bundle.shots] == ["cancelled"] * 5
    assert all(s.started_at is None for s in bundle.shots[2:])
    wait_for(lambda: not alive_chromium(browsers), timeout=10,
             message="the cancelled captures' Chromium processes to exit")

    worker.restart(celery_app)
    wait_for(lambda: drained(celery_app), timeout=30, message="the queue to drain")
    after = fresh(Bundle, body["id"])
    assert [s.state for s in after.shots] == ["cancelled"] * 5
    assert all(s.started_at is None and s.image_path is None for s in after.shots[2:])
    assert not alive_chromium(browsers)


@pytest.mark.amqp
def test_cancel_one_shot_lets_the_rest_finish(ctx, client, worker, pages):
    body = client.post("/api/v1/bundles", json={
        "urls": [pages.url("/slow", n=3), pages.url(title="Keeps going")]}).get_json()
    slow, page = client.get(body["url"]).get_json()["shots"]
    wait_for(lambda: running(slow["id"]), timeout=30, message="the slow page to be capturing")
    response = client.post(f"/api/v1/shots/{slow['id']}/cancel")
    assert response.status_code == 202
    assert response.get_json()["state"] == "cancelled"
    bundle = wait_finished(body["id"], timeout=30)
    assert [s.state for s in bundle.shots] == ["cancelled", "done"]
    assert bundle.state == "partial"
    again = client.post(f"/api/v1/shots/{slow['id']}/cancel")
    assert again.status_code == 409 and "no longer be cancelled" in again.get_json()["error"]


@pytest.mark.amqp
def test_revoke_from_outside_the_app_reads_as_cancelled(ctx, client, worker, celery_app, pages):
    """What Flower's revoke button sends: a plain revoke of the queued capture task."""
    body = client.post("/api/v1/bundles", json={
        "urls": [pages.url("/slow", n=4), pages.url("/slow", n=5),
                 pages.url(title="Revoked")]}).get_json()
    shots = client.get(body["url"]).get_json()["shots"]
    wait_for(lambda: running(shots[0]["id"]) and running(shots[1]["id"]), timeout=30,
             message="both slow pages to be capturing")
    celery_app.control.revoke(fresh(Shot, shots[2]["id"]).task_id)
    bundle = wait_finished(body["id"], timeout=60)
    revoked = bundle.shots[2]
    assert revoked.state == "cancelled" and revoked.started_at is None
    assert [s.error for s in bundle.shots[:2]] == ["timed out after 5 s"] * 2
    assert bundle.state == "failed"


@pytest.mark.amqp
def test_retry_captures_only_the_failed_shots_again(ctx, client, worker, pages, closed_port_url):
    good = pages.url(title="Good")
    body = client.post("/api/v1/bundles", json={"urls": [good, closed_port_url]}).get_json()
    first = wait_finished(body["id"])
    assert first.state == "partial"
    good_finished, failed_id = first.shots[0].finished_at, first.shots[1].id

    late_server = PageServer(port=int(closed_port_url.rsplit(":", 1)[1].strip("/")))
    try:
        response = client.post(f"/api/v1/bundles/{body['id']}/retry")
        assert response.status_code == 202
        bundle = wait_finished(body["id"])
    finally:
        late_server.stop()
    assert bundle.state == "done"
    assert [s.id for s in bundle.shots][1] == failed_id
    assert bundle.shots[0].finished_at == good_finished
    assert bundle.shots[1].title == "Test page" and bundle.shots[1].error is None


@pytest.mark.parametrize("path, message", [
    ("retry", "has no failed shots"),
    ("cancel", "already finished"),
])
def test_actions_that_do_not_fit_are_refused(ctx, client, worker, pages, path, message):
    body = client.post("/api/v1/bundles", json={"urls": [pages.url(title="Fine")]}).get_json()
    wait_finished(body["id"])
    before = row_counts()
    response = client.post(f"/api/v1/bundles/{body['id']}/{path}")
    assert response.status_code == 409
    assert message in response.get_json()["error"]
    assert fresh(Bundle, body["id"]).state == "done" and row_counts() == before


@pytest.mark.amqp
def test_retry_while_running_is_refused(ctx, client, worker, pages):
    body = client.post("/api/v1/bundles", json={"urls": [pages.url("/slow", n=6)]}).get_json()
    response = client.post(f"/api/v1/bundles/{body['id']}/retry")
    assert response.status_code == 409 and "still running" in response.get_json()["error"]
    client.post(f"/api/v1/bundles/{body['id']}/cancel")
    assert wait_finished(body["id"], timeout=15).state == "cancelled"


@pytest.mark.parametrize("url", [
    "/api/v1/bundles/000000000000000000000000/cancel",
    "/api/v1/bundles/000000000000000000000000/retry",
    "/api/v1/shots/000000000000000000000000/cancel",
])
def test_actions_on_unknown_ids_are_404(client, url):
    response = client.post(url)
    assert response.status_code == 404 and "No " in response.get_json()["error"]


def test_synchronous_capture_answers_with_the_finished_shot(ctx, client, worker, pages):
    response = client.post("/api/v1/shots?wait=30", json={"url": pages.url(title="Now")})
    assert response.status_code == 200
    shot = response.get_json()
    assert shot["state"] == "done" and shot["title"] == "Now"
    assert client.get(shot["thumbnail_url"]).mimetype == "image/jpeg"


def test_synchronous_capture_that_takes_longer_answers_202(ctx, client, worker, pages):
    response = client.post("/api/v1/shots?wait=1", json={"url": pages.url("/slow", n=7)})
    assert response.status_code == 202
    assert response.headers["Location"] == f"/api/v1/shots/{response.get_json()['id']}"
    assert client.get(response.headers["Location"]).get_json()["state"] in ("queued", "running")
    client.post(f"/api/v1/shots/{response.get_json()['id']}/cancel")


def test_waiting_captures_leave_the_pages_their_threads(ctx, app, client, worker, pages):
    """Two requests of a web process may wait; a third answers 202 at once, and the pages
    keep answering while the two wait."""
    from concurrent.futures import ThreadPoolExecutor

    slots = app.config["WAITING_REQUESTS"]
    urls = [pages.url("/slow", seconds=30, waiter=n) for n in range(slots)]
    with ThreadPoolExecutor(slots) as pool:
        waiting = [pool.submit(lambda url: app.test_client().post(
            "/api/v1/shots?wait=60", json={"url": url}), url) for url in urls]
        waiters = wait_for(lambda: app.extensions.get("shootflow.waiters"), timeout=30,
                           message="the first request to wait")
        wait_for(lambda: waiters.waiting == slots, timeout=30,
                 message=f"{slots} requests to be waiting")
        extra = client.post("/api/v1/shots?wait=60", json={"url": pages.url(title="Extra")})
        assert extra.status_code == 202 and extra.get_json()["state"] in ("queued", "running")
        assert client.get("/").status_code == 200
        assert waiters.waiting == slots
        for url in urls:  # let the two go: a cancelled shot is finished
            shot = db.session.scalar(db.select(Shot).where(Shot.url == url))
            client.post(f"/api/v1/shots/{shot.id}/cancel")
        answers = [future.result(timeout=30) for future in waiting]
    assert [answer.status_code for answer in answers] == [200] * slots
    assert [answer.get_json()["state"] for answer in answers] == ["cancelled"] * slots


@pytest.mark.parametrize("query, payload, message", [
    ("wait=abc", {"url": "example.com"}, "wait must be a whole number"),
    ("wait=61", {"url": "example.com"}, "wait must be a whole number"),
    ("wait=-1", {"url": "example.com"}, "wait must be a whole number"),
    ("wait=5", {"urls": ["example.com"]}, 'like {"url"'),
    ("wait=5", {"url": "javascript:alert(1)"}, "uses javascript:"),
])
def test_synchronous_capture_rejects_bad_input(ctx, client, query, payload, message):
    before = row_counts()
    response = client.post(f"/api/v1/shots?{query}", json=payload)
    assert response.status_code == 400
    assert message in response.get_json()["error"]
    assert row_counts() == before


@pytest.mark.amqp
def test_ops_page_lists_the_worker_and_queue_depths(client, worker):
    html = client.get("/ops").get_data(as_text=True)
    assert f'data-worker="{worker.name}"' in html
    for queue in QUEUES:  # each with a count: the broker answered for every one
        assert re.search(rf'data-queue="{re.escape(queue)}"><td>[^<]*</td><td class="num">\d+<',
                         html), queue
    assert "Open Flower" in html


@pytest.mark.amqp
def test_a_queue_the_broker_lacks_counts_as_empty_and_the_next_is_still_counted(celery_app,
                                                                               worker):
    """On RabbitMQ the missing queue's answer closes the channel that asked; the count goes on."""
    names = ("capture", "shootflow-no-such-queue", "default")
    statuses = queue_status(celery_app, names)
    assert [status.name for status in statuses] == list(names)
    assert [type(status.waiting) for status in statuses] == [int] * 3
    assert statuses[1].waiting == 0


@pytest.mark.amqp
def test_flower_shows_the_workers_and_their_tasks(ctx, client, worker, pages, tmp_path):
    """Flower as the Procfile starts it: its Workers and Tasks tabs come from the broker's
    control and event messages, on Redis and on RabbitMQ alike."""
    port = free_port()
    env = dict(os.environ, SHOOTFLOW_FLOWER_PORT=str(port), SHOOTFLOW_FLOWER_PASSWORD="pw",
               SHOOTFLOW_INSTANCE_DIR=str(tmp_path / "instance"))
    log = tmp_path / "flower.log"
    with open(log, "wb") as output:
        flower = subprocess.Popen([sys.executable, "-m", "shootflow.flower"], cwd=ROOT,
                                  env=env, stdout=output, stderr=subprocess.STDOUT)

    def api(path):
        try:
            response = requests.get(f"http://127.0.0.1:{port}/api/{path}", auth=("admin", "pw"),
                                    timeout=10)
        except requests.ConnectionError:
            return None
        return response.json() if response.status_code == 200 else None

    try:
        wait_for(lambda: worker.name in (api("workers?refresh=1") or {}), timeout=60,
                 message=f"Flower to list the worker (log: {log})")
        body = client.post("/api/v1/bundles", json={"urls": [pages.url(title="Flower")]})
        shot = fresh(Bundle, body.get_json()["id"]).shots[0]
        assert wait_finished(shot.bundle_id).state == "done"
        task = wait_for(lambda: (api("tasks") or {}).get(fresh(Shot, shot.id).task_id),
                        timeout=30, message="Flower to list the capture")
        assert task["name"] == "shots.capture" and task["state"] == "SUCCESS"
        assert f"shot={shot.id}" in task["args"]
    finally:
        flower.terminate()
        flower.wait(10)
