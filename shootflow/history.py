"""Finding past bundles: newest first, a page at a time, with their shots counted in one
query; and what a bundle's rows look like now, for polls that only ask "has it changed?".
Used by the JSON API (and the history page); no Flask request here."""
import base64
import hashlib
from datetime import datetime

from sqlalchemy import exists, func, or_, select, tuple_

from .extensions import db
from .models import Bundle, Shot
from .states import empty_counts

PREVIEW_URLS = 3


class CursorError(ValueError):
    """A cursor this module did not write (or a tampered one); the message says so."""


def encode_cursor(*values):
    """An opaque cursor for a row's sort key (datetimes and strings or numbers)."""
    text = "|".join(value.isoformat() if isinstance(value, datetime) else str(value)
                    for value in values)
    return base64.urlsafe_b64encode(text.encode()).decode().rstrip("=")


def decode_cursor(cursor, *types):
    """The values encode_cursor wrote, read back as types (datetime, int or str)."""
    try:
        text = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        parts = text.split("|", len(types) - 1)
        if len(parts) != len(types):
            raise ValueError
        values = tuple(datetime.fromisoformat(part) if kind is datetime else kind(part)
                       for kind, part in zip(types, parts))
        if any(isinstance(value, datetime) and value.tzinfo for value in values):
            raise ValueError  # ours are naive UTC, as the rows keep them
        return values
    except (ValueError, UnicodeError):
        raise CursorError("cursor is not one this server gave: pass the next_cursor of the "
                          "page before, unchanged.") from None


def find_bundles(query, *, state=None, q=None, cursor=None, limit=50):
    """(a page of (bundle, its shots counted per state), the cursor of the next page or None).

    query is a select(Bundle) already limited to what the caller may see; state keeps one
    bundle state, q bundles with a shot whose URL or title contains it (any case). The cursor
    is the last row's (created_at, id), so rows added since do not shift the pages."""
    if state is not None:
        query = query.where(Bundle.state == state)
    if q:
        query = query.where(exists().where(
            Shot.bundle_id == Bundle.id,
            or_(Shot.url.icontains(q, autoescape=True),
                Shot.title.icontains(q, autoescape=True))))
    if cursor is not None:
        created_at, bundle_id = decode_cursor(cursor, datetime, str)
        query = query.where(tuple_(Bundle.created_at, Bundle.id) < (created_at, bundle_id))
    rows = db.session.scalars(query.order_by(Bundle.created_at.desc(), Bundle.id.desc())
                              .limit(limit + 1)).all()
    page = rows[:limit]
    after = encode_cursor(page[-1].created_at, page[-1].id) if len(rows) > limit else None
    counts = {bundle.id: empty_counts() for bundle in page}
    for bundle_id, shot_state, count in db.session.execute(
            select(Shot.bundle_id, Shot.state, func.count())
            .where(Shot.bundle_id.in_(counts)).group_by(Shot.bundle_id, Shot.state)):
        counts[bundle_id][shot_state] = count
    return [(bundle, counts[bundle.id]) for bundle in page], after


def previews(bundle_ids):
    """{bundle id: (its first PREVIEW_URLS URLs, its first shot's title)} in one query."""
    found = {bundle_id: ([], None) for bundle_id in bundle_ids}
    for bundle_id, position, url, title in db.session.execute(
            select(Shot.bundle_id, Shot.position, Shot.url, Shot.title)
            .where(Shot.bundle_id.in_(found), Shot.position < PREVIEW_URLS)
            .order_by(Shot.bundle_id, Shot.position)):
        urls, first_title = found[bundle_id]
        urls.append(url)
        found[bundle_id] = (urls, title if position == 0 else first_title)
    return found


def bundle_version(bundle):
    """(its shots counted per state, a tag that changes whenever the bundle or any shot of it
    does) from one aggregate query, so a poll can answer "not modified" without the shots.

    Besides the newest updated_at, the tag counts each state's captured images and attempts:
    a shot that moves on within its state (captured, taken again) changes it even if its
    updated_at, stamped by another machine's clock, is older than the newest."""
    counts, parts = empty_counts(), [bundle.id, bundle.state, bundle.finished_at]
    for row in db.session.execute(
            select(Shot.state, func.count(), func.count(Shot.image_path),
                   func.count(Shot.thumbnail_path), func.sum(Shot.attempts),
                   func.max(Shot.updated_at))
            .where(Shot.bundle_id == bundle.id).group_by(Shot.state).order_by(Shot.state)):
        counts[row[0]] = row[1]
        parts += row
    return counts, hashlib.sha1(repr(parts).encode()).hexdigest()[:20]
