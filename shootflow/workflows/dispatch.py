"""Sending work to the broker from the rows, as often as needed.

A submit only writes rows and sends one small `bundles.dispatch` message; that task sends the
bundle's captures. Whatever the broker then loses (Redis restarted empty, a dropped message,
a chord's counter) the watchdog finds from the rows and sends again. Sending twice is safe:
the first message to reach a queued shot takes it (lifecycle.claim_shot) and any other finds
it taken."""
import logging
import time
import uuid
from collections import defaultdict
from datetime import timedelta

from celery import current_app, shared_task
from flask import current_app as flask_app
from kombu.exceptions import ChannelError
from sqlalchemy import bindparam, func, select, update

from .. import lifecycle, watches, webhooks
from ..extensions import db
from ..models import Bundle, Shot, ShotState, WebhookDelivery, utcnow
from ..netpolicy import NetPolicy
from .canvas import LANES, bundle_signature, in_lane, shot_chains
from .tasks import BROKER_ERRORS, BadTaskArguments, load, process, score_watch

log = logging.getLogger(__name__)
# Messages sent by different processes may reach a queue up to this much out of the order
# of their dispatch times; only a shot overtaken by more than this is taken as lost.
ORDER_SLACK = timedelta(seconds=2)
# A tick starts due watch runs in batches of this many, for at most this long (what is left
# waits for the next tick).
TICK_BATCH = 200
TICK_BUDGET_SECONDS = 30


_table = Shot.__table__
_NOTE_SENT = (update(_table)
              .where(_table.c.id == bindparam("shot"), _table.c.state == ShotState.QUEUED)
              .values(task_id=bindparam("task"), dispatched_at=bindparam("at")))


def _note_sent(task_ids):
    """Note the shots as sent, under their messages' ids. Sent first, noted after: a crash
    in between leaves shots that look unsent, which are sent again (harmless), never shots
    that look sent but are not. In the order of the shots' ids, as every change of several
    shots (see lifecycle)."""
    now = utcnow()
    db.session.execute(_NOTE_SENT, [{"shot": shot_id, "task": task_ids[shot_id], "at": now}
                                    for shot_id in sorted(task_ids)])
    db.session.commit()


def send_bundle(bundle_id):
    """Ask a worker to dispatch the bundle's queued shots: one small message, so a request
    that submits a thousand URLs is not held while a thousand are sent. Nobody waits for
    its result, so a submit needs the broker only, not the result store."""
    dispatch_bundle.apply_async((bundle_id,), argsrepr=f"bundle={bundle_id}",
                                ignore_result=True)


def dispatch(shots, chords=True):
    """Send these queued shots' captures, one chord per bundle (chords=False: each its own
    capture | process chain, for one-shot bundles whose shot ends them anyway), and note
    when; commits. A shot taken by a capture meanwhile keeps the id of the message that
    took it."""
    if not chords:  # every shot its own chain: sent together, noted together
        task_ids = {shot.id: str(uuid.uuid4()) for shot in shots}
        shot_chains(shots, task_ids).apply_async()
        _note_sent(task_ids)
        log.info("sent %d captures", len(shots))
    else:
        by_bundle = defaultdict(list)
        for shot in shots:
            by_bundle[shot.bundle_id].append(shot)
        for bundle_id, members in by_bundle.items():
            task_ids = {shot.id: str(uuid.uuid4()) for shot in members}
            bundle_signature(bundle_id, members, task_ids).apply_async()
            _note_sent(task_ids)
            log.info("bundle %s: sent %d captures", bundle_id, len(members))
    db.session.expire_all()


def _waiting_in_broker(lane):
    """How many messages wait in the lane's queue, or None if the broker cannot say."""
    try:
        with current_app.connection_for_read() as connection:
            return connection.default_channel.queue_declare(
                queue=lane, passive=True).message_count
    except ChannelError:  # the queue does not exist: a broker that restarted empty
        return 0
    except BROKER_ERRORS as exc:
        log.warning("could not count the %s queue (%s)", lane, exc)
        return None


def lost_messages(cutoff):
    """Queued shots, sent before cutoff, whose capture message is gone.

    Queues are first in, first out, so in a lane that moves, a shot sent before another
    one that a worker has already started has lost its message. In a lane where nothing
    started since cutoff, the broker is asked how many messages wait there: fewer than
    the shots waiting means messages were lost, and the lane's waiting shots are sent again
    (the surviving messages then find their shots taken)."""
    lost = []
    for lane in LANES:
        waiting = select(Shot).where(Shot.state == ShotState.QUEUED, in_lane(lane),
                                     Shot.dispatched_at < cutoff)
        latest_started = db.session.scalar(select(func.max(Shot.dispatched_at)).where(
            in_lane(lane), Shot.started_at >= cutoff))
        if latest_started is not None:
            lost += db.session.scalars(waiting.where(
                Shot.dispatched_at < latest_started - ORDER_SLACK)).all()
            continue
        shots = db.session.scalars(waiting).all()
        in_broker = _waiting_in_broker(lane) if shots else None
        if in_broker is not None and in_broker < len(shots):
            log.warning("%s: %d shots wait but the broker holds %d messages; sending them "
                        "again", lane, len(shots), in_broker)
            lost += shots
    return lost


@shared_task(name="bundles.dispatch", throws=(BadTaskArguments,))
def dispatch_bundle(bundle_id):
    """Send the captures of the bundle's shots that have not been sent yet."""
    bundle = load(Bundle, bundle_id)
    dispatch(lifecycle.undispatched_of(bundle.id))
    return bundle_id


@shared_task(name="bundles.watchdog")
def watchdog():
    """Beat-driven: send again whatever the broker or a worker lost, judged from the rows.

    Within STUCK_AFTER plus one run of this, every open shot is moving again: a silent
    capture is queued for another attempt, a lost capture message is sent again, a lost
    thumbnail step is run again, and a bundle whose last settle was lost is ended."""
    config = flask_app.config
    now = utcnow()
    cutoff = now - timedelta(seconds=config["STUCK_AFTER"])
    failed = lifecycle.requeue_silent(cutoff, config["CAPTURE_ATTEMPTS"])
    db.session.commit()
    # A submit's dispatch message may wait behind thumbnails on a busy images lane, and a
    # 1,000-shot chord takes seconds to send: shots never sent are the watchdog's only once
    # they have waited STUCK_AFTER, or it would send a busy bundle twice.
    resend = lifecycle.undispatched(before=cutoff) + lost_messages(cutoff)
    if resend:
        log.warning("watchdog: sending %d captures again", len(resend))
        dispatch(resend)
    for shot_id in lifecycle.unprocessed(cutoff):  # captured, the thumbnail step was lost
        process.apply_async((shot_id,))
    ended = [bundle_id for bundle_id in set(failed) | set(lifecycle.unsettled_bundles())
             if lifecycle.settle(bundle_id)]
    db.session.commit()
    for bundle_id in ended:
        log.warning("watchdog ended bundle %s", bundle_id)
    return ended


@shared_task(name="watches.tick")
def tick():
    """Beat-driven: start the runs of every watch that is due and send their captures; send
    the webhook deliveries that are due."""
    total = 0
    deadline = time.monotonic() + TICK_BUDGET_SECONDS
    while time.monotonic() < deadline:
        # In batches, each committed and sent before the next: the database is held for
        # one batch at a time, however many watches are due this minute.
        started = watches.start_due_runs(utcnow(), limit=TICK_BATCH)
        if started:  # one shot each: no chord needed to end them
            dispatch([shot for bundle in started for shot in bundle.shots], chords=False)
            total += len(started)
        if len(started) < TICK_BATCH:
            break
    if total:
        log.info("started %d watch runs", total)
    for delivery_id in webhooks.take_due(utcnow()):
        deliver_webhook.apply_async((delivery_id,))
    # Runs that finished before an earlier one (they waited for it), or whose scoring was
    # lost with a worker: the images lane compares them now.
    for watch_id in watches.waiting_for_score(TICK_BATCH):
        score_watch.apply_async((watch_id,))
    return total


@shared_task(name="webhooks.deliver", throws=(BadTaskArguments,))
def deliver_webhook(delivery_id):
    """One attempt at a webhook delivery (the tick sends it again if this message is lost)."""
    if not isinstance(delivery_id, int) or isinstance(delivery_id, bool):
        raise BadTaskArguments(f"delivery id must be a whole number, got {delivery_id!r}")
    delivery = db.session.get(WebhookDelivery, delivery_id)
    if delivery is None or delivery.state != "pending":
        return None
    config = flask_app.config
    webhooks.deliver(delivery, NetPolicy(config["ALLOWED_NETWORKS"]),
                     config["WEBHOOK_ATTEMPTS"], config["WEBHOOK_BACKOFF"],
                     config["PUBLIC_URL"])
    db.session.commit()
    return delivery.state
