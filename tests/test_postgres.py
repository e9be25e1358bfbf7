"""PostgreSQL, where processes really write at once (SQLite lets in one writer at a time), as
workers and beats on several machines do. Each guarded claim must leave one winner: a shot is
taken by one message, a watch's slot runs once, a run is scored (and told) once, and
watchdogs racing each other, or a capture's claim, double no capture; and transactions that
change the same rows lock them in one order, so none waits for another that waits for it
(a deadlock, which fails one of them). Runs only when the
suite does: `make test DATABASE=postgresql`."""
import hashlib
import io
import json
import multiprocessing
import random
import secrets
from collections import Counter
from datetime import datetime, timedelta

import pytest
from flask import current_app
from PIL import Image
from sqlalchemy import delete, select, text, update

from shootflow import create_app, lifecycle, watches
from shootflow.extensions import db
from shootflow.models import (
    Bundle,
    Shot,
    ShotState,
    Watch,
    WatchRun,
    WebhookDelivery,
    utcnow,
)
from shootflow.services import submit_bundle
from shootflow.storage import MediaStore
from shootflow.testing.servers import wait_for
from shootflow.workflows.dispatch import _note_sent, watchdog
from tests.conftest import DATABASE
from tests.helpers import fresh, wait_finished

pytestmark = pytest.mark.skipif(
    DATABASE != "postgresql",
    reason="races between processes need PostgreSQL: make test DATABASE=postgresql")

RACERS = 8
ATTEMPTS = 3
# Watches due here are due long before any other test's, so only this module's run.
SLOT = datetime(2000, 1, 1)

# Each racer is a process of its own (spawned: it shares nothing with pytest's) with an app
# made from the environment test_env set, as a worker's is; a barrier releases them at once.
_barrier = None


def _start_racer(barrier):
    global _barrier
    _barrier = barrier
    create_app({"TESTING": True}).app_context().push()


def _together(function, *args):
    """Connect, wait until every racer has, then call function(*args)."""
    db.session.execute(text("SELECT 1"))
    db.session.commit()
    _barrier.wait(timeout=120)
    try:
        return function(*args)
    finally:
        db.session.remove()


class Racers:
    def __init__(self, count):
        spawn = multiprocessing.get_context("spawn")
        self.count = count
        self.pool = spawn.Pool(count, initializer=_start_racer,
                               initargs=(spawn.Barrier(count),))

    def start(self, function, args=()):
        """Call function(*args[i]) in racer i, all at once (args: one tuple per racer, or
        one for all); the pending results."""
        per_racer = args if args and isinstance(args[0], tuple) else [args] * self.count
        assert len(per_racer) == self.count
        return self.pool.starmap_async(_together, [(function, *a) for a in per_racer])

    def run(self, function, args=(), timeout=120):
        return self.start(function, args).get(timeout)

    def close(self):
        self.pool.terminate()
        self.pool.join()


@pytest.fixture(scope="module")
def racers(test_env):
    pool = Racers(RACERS)
    yield pool
    pool.close()


def _remove_bundles(bundle_ids):
    """Take the test's rows away, so no later test's watchdog sends them."""
    db.session.rollback()
    db.session.execute(delete(WebhookDelivery).where(WebhookDelivery.bundle_id.in_(bundle_ids)))
    db.session.execute(delete(WatchRun).where(WatchRun.bundle_id.in_(bundle_ids)))
    db.session.execute(delete(Shot).where(Shot.bundle_id.in_(bundle_ids)))
    db.session.execute(delete(Bundle).where(Bundle.id.in_(bundle_ids)))
    db.session.commit()


def _remove_watches(watch_ids):
    _remove_bundles(db.session.scalars(select(Bundle.id).where(
        Bundle.watch_id.in_(watch_ids))).all())
    db.session.execute(delete(WebhookDelivery).where(WebhookDelivery.watch_id.in_(watch_ids)))
    db.session.execute(delete(Watch).where(Watch.id.in_(watch_ids)))
    db.session.commit()


# Claims -------------------------------------------------------------------------------------

def _claim_all(shot_ids, message, seed):
    """Claim each shot for the message, in an order of this racer's own."""
    order = random.Random(seed).sample(shot_ids, len(shot_ids))
    return [(shot_id, lifecycle.claim_shot(db.session.get(Shot, shot_id), message,
                                           ATTEMPTS).value) for shot_id in order]


@pytest.fixture
def queued_bundle(ctx):
    """make(count): a bundle of count queued shots, never sent (so no worker sees it)."""
    made = []

    def make(count):
        bundle = lifecycle.create_bundle([f"https://example.invalid/{n}" for n in range(count)])
        db.session.commit()
        made.append(bundle.id)
        return bundle
    yield make
    _remove_bundles(made)


def test_each_shot_is_taken_by_one_message(racers, queued_bundle):
    """Eight messages (duplicates from a re-dispatch, say) reach the same shots at once."""
    bundle = queued_bundle(4)
    shot_ids = [shot.id for shot in bundle.shots]
    results = racers.run(_claim_all, tuple((shot_ids, f"message-{n}", n)
                                           for n in range(RACERS)))
    winners = {shot_id: [] for shot_id in shot_ids}
    for n, claims in enumerate(results):
        for shot_id, claim in claims:
            assert claim in ("taken", "not mine")
            if claim == "taken":
                winners[shot_id].append(f"message-{n}")
    assert all(len(messages) == 1 for messages in winners.values()), winners
    for shot_id, (message,) in winners.items():
        shot = fresh(Shot, shot_id)
        assert (shot.state, shot.task_id, shot.attempts) == (ShotState.RUNNING, message, 1)
    assert fresh(Bundle, bundle.id).state == "running"


def test_redeliveries_at_once_count_every_attempt(racers, queued_bundle):
    """The message that holds a shot may take it again (the broker redelivers it once its
    worker is gone), each time counted: eight at once take it ATTEMPTS times, then one
    fails it, and the rest find it over. No attempt is lost to a race."""
    shot_id = queued_bundle(1).shots[0].id
    results = racers.run(_claim_all, ([shot_id], "the-message", 0))
    claims = Counter(claim for ((_, claim),) in results)
    assert claims == {"taken": ATTEMPTS, "exhausted": 1, "not mine": RACERS - ATTEMPTS - 1}
    shot = fresh(Shot, shot_id)
    assert (shot.state, shot.attempts) == (ShotState.FAILED, ATTEMPTS)
    assert shot.error == lifecycle.lost_too_often(ATTEMPTS)


# Watches ------------------------------------------------------------------------------------

def _start_due():
    return [bundle.watch_id for bundle in watches.start_due_runs(SLOT + timedelta(minutes=30))]


@pytest.fixture
def made_watches(ctx):
    made = []

    def make(**columns):
        watch = Watch(url=f"https://example.invalid/{secrets.token_hex(4)}",
                      schedule="@hourly", created_at=SLOT - timedelta(days=1), **columns)
        db.session.add(watch)
        db.session.commit()
        made.append(watch.id)
        return watch
    yield make
    _remove_watches(made)


def test_ticks_at_once_start_each_due_watch_once(racers, made_watches):
    """Eight beats' ticks find the same five watches due for the same slot."""
    due = [made_watches(next_run_at=SLOT).id for _ in range(5)]
    started = Counter(watch_id for ticked in racers.run(_start_due) for watch_id in ticked)
    assert started == {watch_id: 1 for watch_id in due}
    db.session.expire_all()
    for watch_id in due:
        runs = db.session.scalars(select(WatchRun).where(WatchRun.watch_id == watch_id)).all()
        bundles = db.session.scalars(select(Bundle).where(Bundle.watch_id == watch_id)).all()
        assert [(run.slot, run.bundle_id) for run in runs] == [(SLOT, bundles[0].id)]
        assert len(bundles) == 1 and len(bundles[0].shots) == 1  # nothing half-made
        assert db.session.get(Watch, watch_id).next_run_at > SLOT


def _png(colour):
    out = io.BytesIO()
    Image.new("RGB", (320, 200), colour).save(out, "PNG")
    return out.getvalue()


def _score(watch_id):
    store = MediaStore(current_app.config["MEDIA_DIR"])
    return [run.id for run in watches.score_ready(watch_id, store)]


def test_scorers_at_once_score_and_tell_each_run_once(app, racers, made_watches):
    """The images lane and ticks of several beats compare the same finished runs at once:
    each run is compared once, and each change told to the webhook once."""
    watch = made_watches(threshold=0.001, webhook_url="http://127.0.0.1:9/hook")
    store = MediaStore(app.config["MEDIA_DIR"])
    colours = ["white", "red", "white", "blue", "blue"]  # three changes, then none
    for n, colour in enumerate(colours):
        bundle = lifecycle.create_bundle([watch.url])
        bundle.watch_id, bundle.state = watch.id, "done"
        db.session.add(WatchRun(watch=watch, slot=SLOT + timedelta(hours=n), bundle=bundle))
        db.session.flush()
        shot = bundle.shots[0]
        image = _png(colour)
        shot.image_path = store.shot_path(shot.id, "full.png")
        store.write(shot.image_path, image)
        shot.state, shot.format = ShotState.DONE, "png"
        shot.sha256 = hashlib.sha256(image).hexdigest()
    db.session.commit()

    scored = Counter(run_id for ran in racers.run(_score, (watch.id,)) for run_id in ran)
    db.session.expire_all()
    runs = db.session.scalars(select(WatchRun).where(WatchRun.watch_id == watch.id)
                              .order_by(WatchRun.slot)).all()
    assert scored == {run.id: 1 for run in runs}
    assert [run.changed for run in runs] == [None, True, True, True, False]
    told = db.session.scalars(select(WebhookDelivery.body).where(
        WebhookDelivery.watch_id == watch.id, WebhookDelivery.event == "watch.changed")).all()
    assert sorted(json.loads(body)["shot_id"] for body in told) == sorted(
        run.bundle.shots[0].id for run in runs if run.changed)


# The watchdog -------------------------------------------------------------------------------

def _watchdog():
    return watchdog()


def test_watchdogs_at_once_capture_each_page_once(racers, worker, pages, ctx):
    """Eight watchdogs (beats on several machines, by mistake) find the same lost work: shots
    never sent and captures gone silent. Each page is still loaded once."""
    then = utcnow() - timedelta(minutes=10)
    token = secrets.token_hex(4)
    urls = [pages.url(title=f"race {n} {token}") for n in range(4)]
    bundle = lifecycle.create_bundle(urls)
    bundle.state = "running"
    for n, shot in enumerate(bundle.shots):
        shot.queued_at = then
        if n % 2:  # its capture process went silent: its worker is gone
            shot.state, shot.task_id, shot.attempts = ShotState.RUNNING, f"lost-{n}", 1
            shot.dispatched_at = shot.started_at = shot.heartbeat_at = then
    db.session.commit()

    racers.run(_watchdog)
    finished = wait_finished(bundle.id, timeout=90)
    assert finished.state == "done"
    assert [pages.loads(url) for url in urls] == [1, 1, 1, 1]
    assert [shot.attempts for shot in finished.shots] == [1, 2, 1, 2]


def _waiting_for_locks():
    with db.engine.connect() as connection:  # a new transaction: pg_stat_activity is live
        return connection.scalar(text(
            "SELECT count(*) FROM pg_stat_activity "
            "WHERE datname = current_database() AND wait_event_type = 'Lock'"))


def test_watchdogs_never_take_back_a_capture_just_claimed(racers, queued_bundle):
    """The watchdogs read a capture as silent; before they act, it is sent again and a
    capture process claims it. They must leave it to that process, not queue it again (a
    second capture of the page)."""
    then = utcnow() - timedelta(minutes=10)
    bundle = queued_bundle(1)
    bundle.state = "running"
    shot = bundle.shots[0]
    shot.state, shot.task_id, shot.attempts = ShotState.RUNNING, "lost", 1
    shot.dispatched_at = shot.started_at = shot.heartbeat_at = then
    db.session.commit()

    with db.engine.connect() as claimer:
        claimer.execute(select(Shot.id).where(Shot.id == shot.id).with_for_update())
        pending = racers.start(_watchdog)
        wait_for(lambda: _waiting_for_locks() >= RACERS, timeout=60,
                 message="every watchdog to wait for the shot's row")
        now = utcnow()
        claimer.execute(update(Shot).where(Shot.id == shot.id).values(
            state=ShotState.RUNNING, task_id="claimed", attempts=2, dispatched_at=now,
            started_at=now, heartbeat_at=now))
        claimer.commit()
    pending.get(60)
    shot = fresh(Shot, shot.id)
    assert (shot.state, shot.task_id, shot.attempts) == (ShotState.RUNNING, "claimed", 2)


# One order of locks ------------------------------------------------------------------------
# Each test holds a row as another process's transaction would (its statements are those of
# claim_shot and of a sender), lets a real process start one of the app's own transactions
# and wait for that row, then takes the next row the way the rule says. Had the app's
# transaction taken its rows in another order, the two would wait for each other, and
# PostgreSQL would fail one of them.

def _send(shot_ids):
    _note_sent({shot_id: f"sent {shot_id}" for shot_id in shot_ids})


def _cancel(bundle_id):
    lifecycle.cancel_bundle(db.session.get(Bundle, bundle_id))
    db.session.commit()


@pytest.fixture
def one_racer(test_env):
    racer = Racers(1)
    yield racer
    racer.close()


def test_shots_are_changed_in_the_order_of_their_ids(one_racer, queued_bundle):
    """A sender notes its messages (here given in the opposite order) while a cancel, which
    changes its shots in the order of their ids, holds the first."""
    low, high = sorted(shot.id for shot in queued_bundle(2).shots)
    with db.engine.connect() as cancel:
        cancel.execute(update(Shot).where(Shot.id == low).values(error="cancelled"))
        pending = one_racer.start(_send, ([high, low],))
        wait_for(lambda: _waiting_for_locks() >= 1, timeout=60,
                 message="the sender to wait for the first shot")
        cancel.execute(update(Shot).where(Shot.id == high).values(error="cancelled"))
        cancel.commit()
    pending.get(60)
    assert [fresh(Shot, shot_id).task_id for shot_id in (low, high)] == [
        f"sent {low}", f"sent {high}"]


def test_shots_are_changed_before_their_bundle(one_racer, queued_bundle):
    """A cancel while a capture claims the bundle's first shot: the claim takes the shot,
    then the bundle (to make it running)."""
    bundle = queued_bundle(2)
    low = min(shot.id for shot in bundle.shots)
    with db.engine.connect() as claim:
        claim.execute(update(Shot).where(Shot.id == low).values(
            state=ShotState.RUNNING, task_id="claimed", attempts=1))
        pending = one_racer.start(_cancel, (bundle.id,))
        wait_for(lambda: _waiting_for_locks() >= 1, timeout=60,
                 message="the cancel to wait for the claimed shot")
        claim.execute(update(Bundle).where(Bundle.id == bundle.id).values(state="running"))
        claim.commit()
    pending.get(60)
    bundle = fresh(Bundle, bundle.id)
    assert bundle.cancelled_at is not None
    assert {shot.state for shot in bundle.shots} == {ShotState.CANCELLED}


# What a page may put in a row ---------------------------------------------------------------

def test_nul_characters_from_a_page_are_kept_readable(worker, pages, ctx):
    """PostgreSQL's text columns refuse NUL, which a page's script may put in its title or
    in the error it throws; the shot keeps U+FFFD in its place (as HTML does). (Chromium
    reads a NUL in a title as a space; the row would take U+FFFD there too.)"""
    titled = pages.url(title="plain", script='document.title = "before\\u0000after";')
    bundle = submit_bundle([titled, {"url": pages.url(title="throws"), "options": {
        "javascript": 'throw new Error("bad\\u0000news")'}}], "test")
    finished = wait_finished(bundle.id, timeout=60)
    titled_shot, failed_shot = finished.shots
    assert titled_shot.state == ShotState.DONE
    assert titled_shot.title in ("before after", "before\ufffdafter")
    assert failed_shot.state == ShotState.FAILED
    assert "bad\ufffdnews" in failed_shot.error


# The server ---------------------------------------------------------------------------------

def test_connections_the_server_ends_are_made_again(worker, pages, ctx):
    """A restart or failover of PostgreSQL ends every connection the processes hold; each
    is found gone as it is taken from its pool and made again, so nothing fails for it."""
    before = submit_bundle([pages.url(title="before the restart")], "test")
    assert wait_finished(before.id, timeout=60).state == "done"  # the worker's pools fill
    db.session.remove()
    with db.engine.connect() as connection:
        ended = connection.scalar(text(
            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
            "WHERE datname = current_database() AND pid <> pg_backend_pid()"))
    assert ended >= 2  # this process's pool's others, and the worker's
    bundle = submit_bundle([pages.url(title="after the restart")], "test")
    assert wait_finished(bundle.id, timeout=60).state == "done"
