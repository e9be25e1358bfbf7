"""Rows that hold the truth about bundles and shots."""
import secrets
from dataclasses import dataclass
from datetime import datetime, timezone

from sqlalchemy import ForeignKey, String, Text, false, func, select
from sqlalchemy.orm import Mapped, mapped_column, relationship

from .extensions import db

SHOT_STATES = ("queued", "running", "done", "failed", "cancelled")
BUNDLE_STATES = ("queued", "running", "done", "partial", "failed", "cancelled")
FINAL_SHOT_STATES = frozenset({"done", "failed", "cancelled"})
FINAL_BUNDLE_STATES = frozenset({"done", "partial", "failed", "cancelled"})


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

    @property
    def total(self):
        return sum(self.counts.values())

    @property
    def settled(self):
        return sum(self.counts[state] for state in FINAL_SHOT_STATES)


class Bundle(db.Model):
    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    owner_id: Mapped[int | None] = mapped_column(ForeignKey("user.id"), index=True)
    # The submitting client's address: whose waiting shots count against a cap with auth off.
    client: Mapped[str | None] = mapped_column(String(64), index=True)
    state: Mapped[str] = mapped_column(String(16), default="queued", index=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)
    finished_at: Mapped[datetime | None]
    cancelled_at: Mapped[datetime | None]
    shots: Mapped[list["Shot"]] = relationship(
        back_populates="bundle", order_by="Shot.position", cascade="all, delete-orphan")

    @property
    def finished(self):
        return self.state in FINAL_BUNDLE_STATES

    def counts(self):
        """Shots per state, every state present."""
        counts = dict.fromkeys(SHOT_STATES, 0)
        for shot in self.shots:
            counts[shot.state] += 1
        return counts

    @property
    def complete(self):
        """Every shot has reached a final state."""
        return all(shot.finished for shot in self.shots)

    def progress(self):
        """How many shots are in each state, counted by the database (no rows loaded)."""
        rows = db.session.execute(select(Shot.state, func.count()).where(
            Shot.bundle_id == self.id).group_by(Shot.state))
        return Progress({**dict.fromkeys(SHOT_STATES, 0), **dict(rows.all())})

    def final_state(self):
        """The state the bundle ends in, judged from its shots."""
        counts = self.counts()
        total = len(self.shots)
        if self.cancelled_at is not None:
            return "cancelled"
        if counts["done"] == total:
            return "done"
        if counts["done"] == 0:
            return "failed"
        return "partial"


class Shot(db.Model):
    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    bundle_id: Mapped[str] = mapped_column(ForeignKey("bundle.id"), index=True)
    position: Mapped[int]
    url: Mapped[str] = mapped_column(Text)
    state: Mapped[str] = mapped_column(String(16), default="queued", index=True)
    title: Mapped[str | None] = mapped_column(Text)
    final_url: Mapped[str | None] = mapped_column(Text)
    http_status: Mapped[int | None]
    error: Mapped[str | None] = mapped_column(Text)
    image_path: Mapped[str | None] = mapped_column(String(255))
    thumbnail_path: Mapped[str | None] = mapped_column(String(255))
    width: Mapped[int | None]
    height: Mapped[int | None]
    image_bytes: Mapped[int | None]
    task_id: Mapped[str | None] = mapped_column(String(64))
    queued_at: Mapped[datetime] = mapped_column(default=utcnow)
    started_at: Mapped[datetime | None]
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
        return self.state == "queued" or (self.state == "running" and not self.image_path)

    @property
    def phase(self):
        """What a person should read on the card."""
        if self.state == "running":
            return "processing" if self.image_path else "capturing"
        return self.state
