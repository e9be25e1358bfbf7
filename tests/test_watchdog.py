"""The watchdog, driven by a real `celery beat`, sends again what the broker or a worker lost
and ends what is over; each case is set up in the rows as the loss leaves them."""
from datetime import timedelta

from shootflow.extensions import db
from shootflow.lifecycle import create_bundle, lost_too_often, record_capture
from shootflow.models import utcnow
from shootflow.workflows.dispatch import lost_messages
from tests.helpers import wait_finished

LONG_AGO = timedelta(hours=1)


def _bundle(url, **shot_columns):
    bundle = create_bundle([url])
    bundle.created_at = utcnow() - LONG_AGO
    for column, value in shot_columns.items():
        setattr(bundle.shots[0], column, value)
    if bundle.shots[0].state == "running":
        bundle.state = "running"
    db.session.commit()
    return bundle


def test_shot_never_sent_is_sent(ctx, worker, pages, beat):
    """As a submit leaves it when its dispatch message is lost."""
    bundle = _bundle(pages.url(title="Never sent"), queued_at=utcnow() - LONG_AGO)
    settled = wait_finished(bundle.id, timeout=30)
    assert settled.state == "done" and settled.shots[0].title == "Never sent"


def test_shot_whose_message_is_gone_is_sent_again(ctx, worker, pages, beat):
    """Sent long ago, nothing started since, and the broker holds no message for it."""
    bundle = _bundle(pages.url(title="Message lost"), dispatched_at=utcnow() - LONG_AGO,
                     task_id="lost-message")
    settled = wait_finished(bundle.id, timeout=30)
    assert settled.state == "done" and settled.shots[0].attempts == 1


def test_silent_capture_is_captured_again(ctx, worker, pages, beat):
    """A capture whose process stopped writing its heartbeat: its worker is gone."""
    then = utcnow() - LONG_AGO
    bundle = _bundle(pages.url(title="Silent"), state="running", attempts=1, task_id="gone",
                     dispatched_at=then, started_at=then, heartbeat_at=then)
    settled = wait_finished(bundle.id, timeout=30)
    assert settled.state == "done" and settled.shots[0].title == "Silent"
    assert settled.shots[0].attempts == 2


def test_silent_capture_on_its_last_attempt_fails_saying_so(ctx, app, worker, pages, beat):
    then = utcnow() - LONG_AGO
    attempts = app.config["CAPTURE_ATTEMPTS"]
    bundle = _bundle(pages.url(title="Lost again"), state="running", attempts=attempts,
                     task_id="gone", dispatched_at=then, started_at=then, heartbeat_at=then)
    settled = wait_finished(bundle.id, timeout=30)
    assert settled.state == "failed"
    assert settled.shots[0].error == lost_too_often(attempts)
    assert f"started {attempts} times" in settled.shots[0].error


def test_captured_shot_whose_processing_was_lost_is_processed(ctx, app, worker, pages, beat):
    """Left as a broker outage leaves it: the image stored, the thumbnail message gone."""
    from shootflow.capture import Browser, BrowserOptions
    from shootflow.storage import MediaStore

    then = utcnow() - LONG_AGO
    bundle = _bundle(pages.url(title="Half done"), state="running", attempts=1,
                     started_at=then, dispatched_at=then)
    shot = bundle.shots[0]
    browser = Browser(BrowserOptions(allowed_networks=app.config["ALLOWED_NETWORKS"]))
    try:
        record_capture(shot, browser.capture(shot.url), MediaStore(app.config["MEDIA_DIR"]))
    finally:
        browser.quit()
    db.session.commit()
    settled = wait_finished(bundle.id, timeout=30)
    assert settled.state == "done"
    assert settled.shots[0].thumbnail_path and settled.shots[0].title == "Half done"


def test_bundle_whose_last_settle_was_lost_is_ended(ctx, worker, pages, beat):
    """Every shot final, the bundle still open: the process that finished the last shot
    stopped before ending it."""
    bundle = _bundle(pages.url(), state="failed", error="refused")
    bundle.state = "running"
    db.session.commit()
    settled = wait_finished(bundle.id, timeout=30)
    assert settled.state == "failed"


def test_a_shot_overtaken_in_its_lane_has_lost_its_message(ctx, pages):
    """Queues are first in, first out: a later-sent shot that has started shows that an
    earlier-sent one still waiting lost its message; an earlier-sent one that started
    shows nothing about a later one. (Set a day ahead, so no other test's rows count.)"""
    now = utcnow() + timedelta(days=1)
    cutoff = now - timedelta(seconds=10)
    waiting, started = _bundle(pages.url()).shots[0], _bundle(pages.url()).shots[0]
    waiting.dispatched_at = now - timedelta(seconds=60)
    started.state, started.dispatched_at, started.started_at = \
        "running", now - timedelta(seconds=30), now
    db.session.commit()
    assert waiting.id in [shot.id for shot in lost_messages(cutoff)]

    started.dispatched_at = now - timedelta(seconds=90)  # sent before the waiting one
    db.session.commit()
    assert waiting.id not in [shot.id for shot in lost_messages(cutoff)]
    waiting.state = started.state = "cancelled"  # out of the way of the other tests
    db.session.commit()
