"""Users and API tokens: creating them and checking what a request presents."""
import functools
import hashlib
import re
import secrets

from werkzeug.security import check_password_hash, generate_password_hash

from .extensions import db
from .models import FINAL_BUNDLE_STATES, ApiToken, Bundle, User, new_session_secret

_USERNAME = re.compile(r"^[A-Za-z0-9_.-]{1,64}$")
MIN_PASSWORD = 8


class AccountError(ValueError):
    """A user or token request that cannot be honoured; the message says why."""


def _digest(token):
    return hashlib.sha256(token.encode()).hexdigest()


def _check_password(password):
    if len(password or "") < MIN_PASSWORD:
        raise AccountError(f"A password needs at least {MIN_PASSWORD} characters.")


def create_user(username, password):
    if not _USERNAME.match(username or ""):
        raise AccountError("A username is 1 to 64 letters, digits, '.', '_' or '-'.")
    _check_password(password)
    if db.session.scalar(db.select(User).where(User.username == username)):
        raise AccountError(f"There is already a user named {username!r}.")
    user = User(username=username, password_hash=generate_password_hash(password))
    db.session.add(user)
    return user


def find_user(username):
    user = db.session.scalar(db.select(User).where(User.username == username))
    if user is None:
        raise AccountError(f"There is no user named {username!r}.")
    return user


@functools.cache
def _dummy_hash():
    """A hash of nothing anyone knows, made like a real one, for names that do not exist."""
    return generate_password_hash(secrets.token_urlsafe(16))


def authenticate(username, password):
    """The user whose password this is, or None (same answer for unknown names)."""
    user = db.session.scalar(db.select(User).where(User.username == username))
    # An unknown name costs the same hash check as a known one, or the time taken would
    # tell which names exist.
    matches = check_password_hash(user.password_hash if user else _dummy_hash(), password or "")
    return user if user is not None and matches else None


def set_password(user, password):
    """Give user a new password and end every session signed in with the old one."""
    _check_password(password)
    user.password_hash = generate_password_hash(password)
    user.session_secret = new_session_secret()


def issue_token(user):
    """A new API token for user; the plain token is returned once and never stored."""
    token = secrets.token_urlsafe(32)
    db.session.add(ApiToken(user=user, token_hash=_digest(token)))
    return token


def user_for_token(token):
    row = db.session.scalar(db.select(ApiToken).where(ApiToken.token_hash == _digest(token)))
    return row.user if row else None


def revoke_tokens(user):
    """Delete every API token of user; returns how many there were."""
    return db.session.execute(db.delete(ApiToken).where(ApiToken.user_id == user.id)).rowcount


def delete_user(user):
    """Delete user with their tokens, bundles and shots (not committed); returns the media
    paths of their images, to remove once the deletion is committed.

    Refused while one of their bundles is unfinished: its workers would find no rows."""
    bundles = db.session.scalars(db.select(Bundle).where(Bundle.owner_id == user.id)).all()
    running = sum(bundle.state not in FINAL_BUNDLE_STATES for bundle in bundles)
    if running:
        raise AccountError(f"{user.username} has {running} unfinished bundle(s); wait for them "
                           "to finish (or cancel them), then delete the user.")
    paths = [path for bundle in bundles for shot in bundle.shots
             for path in (shot.image_path, shot.thumbnail_path) if path]
    for bundle in bundles:
        db.session.delete(bundle)
    revoke_tokens(user)
    db.session.delete(user)
    return paths
