"""Webhooks: what to tell (watch.changed, bundle.finished), written as deliveries in the same
transaction as the change they tell of, then sent, signed and retried. The receiver's
address goes through the same address policy as a capture. No Flask, no Celery."""
import hashlib
import hmac
import json
import logging
from datetime import timedelta
from urllib.parse import urlsplit

import urllib3
from sqlalchemy import select, update

from .extensions import db
from .models import WebhookDelivery, utcnow
from .netpolicy import resolve
from .storage import EXTENSIONS

log = logging.getLogger(__name__)
SIGNATURE_HEADER = "X-Shootflow-Signature"
TIMEOUT_SECONDS = 10
# A delivery being sent is not picked up again for this long (its sender may be slow).
LEASE = timedelta(seconds=60)
DUE_PER_TICK = 200
ERROR_LIMIT = 500


def sign(secret, body):
    """The X-Shootflow-Signature value: sha256=<hex HMAC-SHA256 of the raw body>."""
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def _queue(event, url, secret, payload, **owner):
    body = json.dumps({"event": event, **payload}, separators=(",", ":"), sort_keys=True)
    db.session.add(WebhookDelivery(event=event, url=url, secret=secret, body=body, **owner))


def watch_changed(run, shot, previous):
    """A watch's capture passed its threshold: tell the watch's webhook (not committed)."""
    watch = run.watch
    if not watch.webhook_url:
        return
    _queue("watch.changed", watch.webhook_url, watch.secret, {
        "watch_id": watch.id, "url": watch.url, "shot_id": shot.id,
        "previous_shot_id": previous.id if previous else None, "change": run.change,
        "threshold": watch.threshold,
        "captured_at": shot.captured_at.isoformat() + "Z" if shot.captured_at else None,
        "image_url": f"/shots/{shot.id}/image.{EXTENSIONS[shot.format or 'png']}",
        "diff_url": f"/watch-runs/{run.id}/diff.png" if run.diff_path else None,
    }, watch_id=watch.id)


def bundle_finished(bundle, progress):
    """A bundle with a webhook ended: tell it (not committed)."""
    if not bundle.webhook_url:
        return
    _queue("bundle.finished", bundle.webhook_url, bundle.webhook_secret, {
        "bundle_id": bundle.id, "state": str(bundle.state), "counts": progress.counts,
        "url": f"/api/v1/bundles/{bundle.id}",
    }, bundle_id=bundle.id)


def take_due(now, limit=DUE_PER_TICK):
    """Ids of deliveries due now, leased to this caller for LEASE (committed)."""
    ids = db.session.scalars(select(WebhookDelivery.id).where(
        WebhookDelivery.state == "pending", WebhookDelivery.next_attempt_at <= now)
        .order_by(WebhookDelivery.next_attempt_at, WebhookDelivery.id).limit(limit)).all()
    taken = [delivery_id for delivery_id in ids if db.session.execute(
        update(WebhookDelivery).where(WebhookDelivery.id == delivery_id,
                                      WebhookDelivery.state == "pending",
                                      WebhookDelivery.next_attempt_at <= now)
        .values(next_attempt_at=now + LEASE)).rowcount]
    db.session.commit()
    return taken


def post(url, body, headers, policy, timeout=TIMEOUT_SECONDS):
    """POST body to url through the address policy, connecting to the very address that was
    checked (a name cannot resolve to a public address for the check and an internal one
    for the connection). Returns the HTTP status; raises OSError or ValueError with words."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    port = parts.port or (443 if parts.scheme == "https" else 80)
    addresses = resolve(host, timeout=timeout)
    if not addresses:
        raise OSError(f"could not resolve host {host}")
    refusal = policy.check_all(addresses)
    if refusal is not None:
        raise ValueError(refusal.at_fetch())
    address = str(getattr(addresses[0], "ipv4_mapped", None) or addresses[0])
    kwargs = {"timeout": urllib3.Timeout(total=timeout), "retries": False}
    if parts.scheme == "https":
        pool = urllib3.HTTPSConnectionPool(address, port, server_hostname=host,
                                           assert_hostname=host, **kwargs)
    else:
        pool = urllib3.HTTPConnectionPool(address, port, **kwargs)
    path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    host_header = host if parts.port is None else f"{host}:{parts.port}"
    with pool:
        response = pool.urlopen("POST", path, body=body, redirect=False,
                                headers={**headers, "Host": host_header})
        return response.status


def _absolute(body, public_url):
    """The body with its addresses (kept as paths until sent) made absolute."""
    payload = json.loads(body)
    for key in ("url", "image_url", "diff_url"):
        if isinstance(payload.get(key), str) and payload[key].startswith("/"):
            payload[key] = public_url.rstrip("/") + payload[key]
    return json.dumps(payload, separators=(",", ":"), sort_keys=True)


def deliver(delivery, policy, max_attempts, backoff_seconds, public_url):
    """One attempt at a delivery; marks it delivered, due again after a back-off, or failed
    after max_attempts (not committed)."""
    if delivery.attempts == 0:
        delivery.body = _absolute(delivery.body, public_url)
    body = delivery.body.encode()
    headers = {"Content-Type": "application/json", "User-Agent": "shootflow-webhook",
               SIGNATURE_HEADER: sign(delivery.secret, body),
               "X-Shootflow-Event": delivery.event}
    delivery.attempts += 1
    try:
        status = post(delivery.url, body, headers, policy)
        error = None if 200 <= status < 300 else f"answered HTTP {status}"
    except (OSError, ValueError, urllib3.exceptions.HTTPError) as exc:
        status, error = None, str(exc)[:ERROR_LIMIT] or type(exc).__name__
    delivery.status, delivery.error = status, error
    if error is None:
        delivery.state, delivery.delivered_at = "delivered", utcnow()
    elif delivery.attempts >= max_attempts:
        delivery.state = "failed"
        log.warning("webhook %s to %s failed for good: %s", delivery.id, delivery.url, error)
    else:
        wait = backoff_seconds * 2 ** (delivery.attempts - 1)
        delivery.next_attempt_at = utcnow() + timedelta(seconds=wait)
    return delivery
