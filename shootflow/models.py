"""Rows that hold the truth about bundles and shots."""
import secrets
from collections import Counter
from dataclasses import dataclass
from datetime import datetime, timezone

from sqlalchemy import JSON, ForeignKey, String, Text, UniqueConstraint, false, func, select
from sqlalchemy.orm import Mapped, mapped_column, relationship

from .extensions import db
from .states import (FINAL_BUNDLE_STATES, FINAL_SHOT_STATES,  # noqa: F401  (one import path)
                     OPEN_BUNDLE_STATES, OPEN_SHOT_STATES, BundleState, ShotState, empty_counts)


def owner_key(owner_id, client):
    """Whose work this is: the signed-in user's (auth on), else the submitting client's.
    Rate limits, the waiting-shot cap and browser-context sharing all count by it."""
    return f"user:{owner_id}" if owner_id is not None else f"client:{client}"


def new_id():
    """Random, unguessable ids: they appear in page and image URLs."""
    return secrets.token_hex(12)


def new_session_secret():
    return secrets.token_hex(16)


def utcnow():
    return datetime.now(timezone.utc).replace(tzinfo=None)


class User(db.Model):
    """Someone who may sign in when SHOOTFLOW_AUTH=on; created with `flask users create`."""
    id: Mapped[int] = mapped_column(primary_key=True)
    username: Mapped[str] = mapped_column(String(64), unique=True)
    password_hash: Mapped[str] = mapped_column(String(255))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    # May see /ops and Flower's link: every user's running work; granted with the CLI.
    is_operator: Mapped[bool] = mapped_column(default=False, server_default=false())
    # Part of the id kept in the session cookie and replaced when the password changes, so
    # the change ends every session signed in with the old password.
    session_secret: Mapped[str] = mapped_column(String(32), default=new_session_secret)

    # What Flask-Login asks of a user object.
    is_authenticated = True
    is_active = True
    is_anonymous = False

    def get_id(self):
        return f"{self.id}:{self.session_secret}"


class ApiToken(db.Model):
    """A bearer token for the JSON API; only its SHA-256 is stored."""
    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("user.id"), index=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    user: Mapped[User] = relationship()


@dataclass(frozen=True)
class Progress:
    counts: dict  # shots per state, every state present

    @classmethod
    def of(cls, states):
        """The progress of shots in these states (rows already loaded)."""
        return cls({**empty_counts(), **Counter(states)})

    @property
    def total(self):
        return sum(self.counts.values())

    @property
    def settled(self):
        return sum(self.counts[state] for state in FINAL_SHOT_STATES)

    def final_state(self, cancelled):
        """The state a bundle with these (all final) shots ends in."""
        if cancelled:
            return BundleState.CANCELLED
        if self.counts[ShotState.DONE] == self.total:
            return BundleState.DONE
        return BundleState.FAILED if self.counts[ShotState.DONE] == 0 else BundleState.PARTIAL


class Bundle(db.Model):
    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    owner_id: Mapped[int | None] = mapped_column(ForeignKey("user.id"), index=True)
    # The submitting client's address: whose waiting shots count against a cap with auth off.
    client: Mapped[str | None] = mapped_column(String(64), index=True)
    state: Mapped[str] = mapped_column(String(16), default=BundleState.QUEUED, index=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)
    finished_at: Mapped[datetime | None]
    cancelled_at: Mapped[datetime | None]
    # The capture options sent for the whole bundle, as read_options normalised them (only
    # the keys given); each shot keeps only its own overrides.
    options: Mapped[dict | None] = mapped_column(JSON)
    # The watch this bundle is one run of; None for a bundle a person submitted.
    watch_id: Mapped[str | None] = mapped_column(ForeignKey("watch.id"), index=True)
    # Told when the bundle finishes (bundle.finished), signed with webhook_secret.
    webhook_url: Mapped[str | None] = mapped_column(Text)
    webhook_secret: Mapped[str | None] = mapped_column(String(64))
    shots: Mapped[list["Shot"]] = relationship(
        back_populates="bundle", order_by="Shot.position", cascade="all, delete-orphan")

    @property
    def finished(self):
        return self.state in FINAL_BUNDLE_STATES

    @property
    def owner_key(self):
        return owner_key(self.owner_id, self.client)

    def progress(self):
        """How many shots are in each state, counted by the database (no rows loaded)."""
        rows = db.session.execute(select(Shot.state, func.count()).where(
            Shot.bundle_id == self.id).group_by(Shot.state))
        return Progress({**empty_counts(), **dict(rows.all())})


class Shot(db.Model):
    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    bundle_id: Mapped[str] = mapped_column(ForeignKey("bundle.id"), index=True)
    position: Mapped[int]
    url: Mapped[str] = mapped_column(Text)
    state: Mapped[str] = mapped_column(String(16), default=ShotState.QUEUED, index=True)
    title: Mapped[str | None] = mapped_column(Text)
    final_url: Mapped[str | None] = mapped_column(Text)
    http_status: Mapped[int | None]
    error: Mapped[str | None] = mapped_column(Text)
    # What sort of failure (capture.errors.KINDS): dns, connection, tls, timeout, …
    error_kind: Mapped[str | None] = mapped_column(String(16))
    image_path: Mapped[str | None] = mapped_column(String(255))
    thumbnail_path: Mapped[str | None] = mapped_column(String(255))
    width: Mapped[int | None]
    height: Mapped[int | None]
    image_bytes: Mapped[int | None]
    # This URL's own options over the bundle's (a multi-viewport bundle: its viewport).
    options: Mapped[dict | None] = mapped_column(JSON)
    format: Mapped[str | None] = mapped_column(String(8))
    truncated: Mapped[bool | None]
    sha256: Mapped[str | None] = mapped_column(String(64))
    # What the capture found out: redirects, response_headers, console_errors, timings.
    facts: Mapped[dict | None] = mapped_column(JSON)
    # The id of the one task message that may act on the shot: set each time the shot is
    # sent to the broker, and by the message that claims it. Any other message is stale.
    task_id: Mapped[str | None] = mapped_column(String(64))
    queued_at: Mapped[datetime] = mapped_column(default=utcnow)
    # When the shot's capture message was last sent to the broker; None: not sent yet.
    dispatched_at: Mapped[datetime | None]
    # How many times a capture process has taken the shot (a lost worker means another try).
    attempts: Mapped[int] = mapped_column(default=0, server_default="0")
    started_at: Mapped[datetime | None]
    # Written every few seconds by the process capturing the shot; silence means it is gone.
    heartbeat_at: Mapped[datetime | None]
    captured_at: Mapped[datetime | None]
    finished_at: Mapped[datetime | None]
    capture_ms: Mapped[int | None]
    # Set on every change: the bundle page polls for the cards changed since its last look.
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)
    bundle: Mapped[Bundle] = relationship(back_populates="shots")

    __table_args__ = (db.Index("ix_shot_bundle_id_updated_at", "bundle_id", "updated_at"),)

    @property
    def finished(self):
        return self.state in FINAL_SHOT_STATES

    @property
    def cancellable(self):
        """Queued shots and captures still in the browser can stop; captured ones finish."""
        return self.state == ShotState.QUEUED or (self.state == ShotState.RUNNING
                                                  and not self.image_path)

    @property
    def phase(self):
        """What a person should read on the card."""
        if self.state == ShotState.RUNNING:
            return "processing" if self.image_path else "capturing"
        return self.state


def new_secret():
    return secrets.token_hex(32)


class Watch(db.Model):
    """A URL captured on a schedule; each run is a one-shot bundle (WatchRun says which)."""
    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    owner_id: Mapped[int | None] = mapped_column(ForeignKey("user.id"), index=True)
    client: Mapped[str | None] = mapped_column(String(64))
    url: Mapped[str] = mapped_column(Text)
    schedule: Mapped[str] = mapped_column(String(100))
    timezone: Mapped[str] = mapped_column(String(64), default="UTC")
    options: Mapped[dict | None] = mapped_column(JSON)
    threshold: Mapped[float] = mapped_column(default=0.01)
    ignore: Mapped[list | None] = mapped_column(JSON)
    webhook_url: Mapped[str | None] = mapped_column(Text)
    # Signs the webhook's body (HMAC-SHA256), so its receiver knows it came from here.
    secret: Mapped[str] = mapped_column(String(64), default=new_secret)
    paused: Mapped[bool] = mapped_column(default=False, server_default=false())
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    next_run_at: Mapped[datetime | None] = mapped_column(index=True)
    last_run_at: Mapped[datetime | None]
    runs: Mapped[list["WatchRun"]] = relationship(
        back_populates="watch", order_by="WatchRun.slot.desc()", cascade="all, delete-orphan")


class WatchRun(db.Model):
    """One scheduled slot of a watch, taken once: the unique (watch, slot) is what makes two
    ticks (or two beats) start it only once."""
    id: Mapped[int] = mapped_column(primary_key=True)
    watch_id: Mapped[str] = mapped_column(ForeignKey("watch.id"), index=True)
    slot: Mapped[datetime]
    bundle_id: Mapped[str | None] = mapped_column(ForeignKey("bundle.id"))
    # Share of pixels changed against the capture before (None for the first, or not yet).
    change: Mapped[float | None]
    changed: Mapped[bool | None]
    diff_path: Mapped[str | None] = mapped_column(String(255))
    # When this run was compared (None: not yet, e.g. waiting for an earlier run still
    # open), and the capture it was compared with (None for the first). Not a foreign key:
    # retention may remove that capture later.
    scored_at: Mapped[datetime | None] = mapped_column(index=True)
    previous_shot_id: Mapped[str | None] = mapped_column(String(32))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    watch: Mapped[Watch] = relationship(back_populates="runs")
    bundle: Mapped[Bundle | None] = relationship()

    __table_args__ = (UniqueConstraint("watch_id", "slot", name="uq_watch_run_slot"),)


class WebhookDelivery(db.Model):
    """One webhook call to make, kept until it is answered 2xx or has failed every attempt:
    written in the same transaction as what it tells, and sent from here (an outbox)."""
    id: Mapped[int] = mapped_column(primary_key=True)
    watch_id: Mapped[str | None] = mapped_column(ForeignKey("watch.id"), index=True)
    bundle_id: Mapped[str | None] = mapped_column(ForeignKey("bundle.id"))
    event: Mapped[str] = mapped_column(String(32))
    url: Mapped[str] = mapped_column(Text)
    body: Mapped[str] = mapped_column(Text)  # the JSON exactly as sent and signed
    secret: Mapped[str] = mapped_column(String(64))
    state: Mapped[str] = mapped_column(String(16), default="pending", index=True)
    attempts: Mapped[int] = mapped_column(default=0)
    status: Mapped[int | None]  # the last answer's HTTP status
    error: Mapped[str | None] = mapped_column(Text)
    next_attempt_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    delivered_at: Mapped[datetime | None]
