"""Users and API tokens: creating them and checking what a request presents."""
import hashlib
import re
import secrets

from werkzeug.security import check_password_hash, generate_password_hash

from .extensions import db
from .models import ApiToken, User

_USERNAME = re.compile(r"^[A-Za-z0-9_.-]{1,64}$")
MIN_PASSWORD = 8


class AccountError(ValueError):
    """A user or token request that cannot be honoured; the message says why."""


def _digest(token):
    return hashlib.sha256(token.encode()).hexdigest()


def create_user(username, password):
    if not _USERNAME.match(username or ""):
        raise AccountError("A username is 1 to 64 letters, digits, '.', '_' or '-'.")
    if len(password or "") < MIN_PASSWORD:
        raise AccountError(f"A password needs at least {MIN_PASSWORD} characters.")
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


def authenticate(username, password):
    """The user whose password this is, or None (same answer for unknown names)."""
    user = db.session.scalar(db.select(User).where(User.username == username))
    if user is None or not check_password_hash(user.password_hash, password or ""):
        return None
    return user


def issue_token(user):
    """A new API token for user; the plain token is returned once and never stored."""
    token = secrets.token_urlsafe(32)
    db.session.add(ApiToken(user=user, token_hash=_digest(token)))
    return token


def user_for_token(token):
    row = db.session.scalar(db.select(ApiToken).where(ApiToken.token_hash == _digest(token)))
    return row.user if row else None
