"""The watchdog, driven by a real `celery beat`, ends work whose chord or worker was lost."""
import os
import subprocess
import sys
from datetime import timedelta

import pytest
from celery import chain, group

from shootflow.bundles import create_bundle
from shootflow.extensions import db
from shootflow.models import Bundle, utcnow
from tests.helpers import fresh, wait_finished
from tests.servers import ROOT, wait_for


@pytest.fixture
def beat(test_env, tmp_path):
    proc = subprocess.Popen(
        [sys.executable, "-m", "celery", "-A", "wsgi:celery_app", "beat",
         "--schedule", str(tmp_path / "schedule"), "--loglevel", "INFO"],
        cwd=ROOT, env=dict(os.environ), stdout=open(tmp_path / "beat.log", "wb"),
        stderr=subprocess.STDOUT)
    yield proc
    proc.terminate()
    proc.wait(10)


def test_bundle_whose_chord_is_lost_is_settled(ctx, worker, celery_app, pages, beat):
    bundle = create_bundle([pages.url(title="Orphan")])
    db.session.commit()
    # The captures run, but without the chord: no callback will ever finalize the bundle.
    shot = bundle.shots[0]
    group(chain(celery_app.signature("shots.capture", args=(shot.id,)),
                celery_app.signature("shots.process"))).apply_async()
    wait_for(lambda: fresh(Bundle, bundle.id).shots[0].state == "done", timeout=30,
             message="the capture to finish")
    assert fresh(Bundle, bundle.id).state == "running"
    settled = wait_finished(bundle.id, timeout=15)
    assert settled.state == "done"


def test_shot_whose_worker_vanished_is_failed(ctx, worker, pages, beat):
    """A worker that vanished without its message coming back cannot be produced on demand
    (the broker redelivers), so the row is set as such a loss leaves it."""
    bundle = create_bundle([pages.url(title="Lost")])
    bundle.state = "running"
    shot = bundle.shots[0]
    shot.state, shot.started_at = "running", utcnow() - timedelta(hours=1)
    bundle.created_at = utcnow() - timedelta(hours=1)
    db.session.commit()
    settled = wait_finished(bundle.id, timeout=15)
    assert settled.state == "failed"
    assert settled.shots[0].error == "the capture was lost (its worker stopped answering)"


def test_captured_shot_whose_processing_was_lost_is_processed(ctx, app, worker, pages, beat):
    """Left as a broker outage leaves it: the image stored, the thumbnail message gone."""
    from shootflow.bundles import record_capture
    from shootflow.capture import Browser, BrowserOptions
    from shootflow.storage import MediaStore

    bundle = create_bundle([pages.url(title="Half done")])
    bundle.state, bundle.created_at = "running", utcnow() - timedelta(hours=1)
    shot = bundle.shots[0]
    shot.state, shot.started_at = "running", utcnow() - timedelta(hours=1)
    db.session.flush()
    browser = Browser(BrowserOptions(allowed_networks=app.config["ALLOWED_NETWORKS"]))
    try:
        record_capture(shot, browser.capture(shot.url), MediaStore(app.config["MEDIA_DIR"]))
    finally:
        browser.quit()
    db.session.commit()
    settled = wait_finished(bundle.id, timeout=20)
    assert settled.state == "done"
    assert settled.shots[0].thumbnail_path and settled.shots[0].title == "Half done"
