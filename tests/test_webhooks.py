"""Webhooks with a real beat and worker: signed, retried until answered, told once."""
import hashlib
import hmac
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from shootflow.extensions import db
from shootflow.models import WebhookDelivery
from shootflow.testing.servers import wait_for
from tests.helpers import row_counts, wait_finished
from tests.test_watches import PAGE


class Receiver:
    """A webhook receiver on 127.0.0.1: keeps every call; answers each path's statuses in
    turn (then 200)."""

    def __init__(self):
        receiver = self
        self.calls, self.answers = [], {}

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers["Content-Length"]))
                receiver.calls.append((self.path, dict(self.headers.items()), body))
                queue = receiver.answers.get(self.path, [])
                self.send_response(queue.pop(0) if queue else 200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def url(self, path):
        return f"http://127.0.0.1:{self.server.server_address[1]}{path}"

    def calls_to(self, path):
        return [(headers, body) for p, headers, body in self.calls if p == path]


@pytest.fixture(scope="module")
def receiver():
    server = Receiver()
    yield server
    server.server.shutdown()


def signed_by(secret, headers, body):
    expected = "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    return hmac.compare_digest(headers["X-Shootflow-Signature"], expected)


def test_a_finished_bundle_is_told_once_signed(ctx, app, client, worker, beat, pages,
                                               receiver):
    response = client.post("/api/v1/bundles", json={
        "urls": [pages.url(title="Told")], "webhook_url": receiver.url("/bundle")})
    body = response.get_json()
    assert response.status_code == 202 and len(body["webhook_secret"]) == 64
    wait_finished(body["id"], timeout=60)
    headers, raw = wait_for(lambda: receiver.calls_to("/bundle"), timeout=30,
                            message="the webhook")[0]
    assert signed_by(body["webhook_secret"], headers, raw)
    told = json.loads(raw)
    assert told["event"] == "bundle.finished" and told["bundle_id"] == body["id"]
    assert told["state"] == "done" and told["counts"]["done"] == 1
    assert told["url"] == f"{app.config['PUBLIC_URL']}/api/v1/bundles/{body['id']}"
    assert headers["X-Shootflow-Event"] == "bundle.finished"


def test_an_answer_other_than_2xx_is_tried_again(ctx, client, worker, beat, pages, receiver):
    receiver.answers["/flaky-hook"] = [500, 503]
    body = client.post("/api/v1/bundles", json={
        "urls": [pages.url(title="Retried")],
        "webhook_url": receiver.url("/flaky-hook")}).get_json()
    wait_finished(body["id"], timeout=60)
    wait_for(lambda: len(receiver.calls_to("/flaky-hook")) == 3, timeout=60,
             message="three calls: two refused, one answered")
    db.session.expire_all()
    delivery = db.session.scalar(db.select(WebhookDelivery).where(
        WebhookDelivery.bundle_id == body["id"]))
    wait_for(lambda: db.session.refresh(delivery) or delivery.state == "delivered",
             timeout=15, message="the delivery to be marked delivered")
    assert (delivery.attempts, delivery.status) == (3, 200)
    bodies = {raw for _, raw in receiver.calls_to("/flaky-hook")}
    assert len(bodies) == 1  # the same signed body every time


def test_a_watch_that_changes_tells_its_webhook(ctx, client, worker, beat, pages, receiver):
    url = pages.set_page("hooked", PAGE.format(width=100))
    watch = client.post("/api/v1/watches", json={
        "url": url, "schedule": "@daily", "webhook_url": receiver.url("/watch")}).get_json()

    def run():
        bundle_id = client.post(f"/api/v1/watches/{watch['id']}/run").get_json()["bundle_id"]
        wait_finished(bundle_id, timeout=60)

    run()
    pages.set_page("hooked", PAGE.format(width=900))
    run()
    headers, raw = wait_for(lambda: receiver.calls_to("/watch"), timeout=30,
                            message="the watch's webhook")[0]
    assert signed_by(watch["secret"], headers, raw)
    told = json.loads(raw)
    captures = client.get(f"/api/v1/watches/{watch['id']}").get_json()["captures"]
    assert told["event"] == "watch.changed" and told["watch_id"] == watch["id"]
    assert (told["shot_id"], told["previous_shot_id"]) == (captures[0]["shot_id"],
                                                          captures[1]["shot_id"])
    assert told["change"] == captures[0]["change"] and told["change"] > told["threshold"]
    assert told["diff_url"].endswith(captures[0]["diff_url"])
    deliveries = wait_for(lambda: (w := client.get(f"/api/v1/watches/{watch['id']}")
                                   .get_json())["deliveries"][0]["state"] == "delivered" and w,
                          timeout=15, message="the delivery listed")["deliveries"]
    assert len(deliveries) == 1 and deliveries[0]["event"] == "watch.changed"
    page = client.get(f"/watches/{watch['id']}").get_data(as_text=True)
    assert "watch.changed · delivered after 1 try · HTTP 200" in page
    client.delete(f"/api/v1/watches/{watch['id']}")


@pytest.mark.parametrize("webhook, message", [
    ("http://10.1.2.3/hook", '"webhook_url":'),
    ("ftp://example.com/hook", '"webhook_url":'),
    (42, '"webhook_url" must be a URL string'),
])
def test_a_bad_webhook_address_is_refused_and_nothing_kept(ctx, client, webhook, message):
    before = row_counts()
    response = client.post("/api/v1/bundles", json={"urls": ["https://example.com/"],
                                                    "webhook_url": webhook})
    assert response.status_code == 400 and message in response.get_json()["error"]
    assert row_counts() == before
