"""`flask users …`: manage the accounts used when SHOOTFLOW_AUTH=on."""
import sys

import click
from flask import current_app
from flask.cli import AppGroup

from .accounts import (AccountError, create_user, delete_user, find_user, issue_token,
                       revoke_tokens, set_password)
from .extensions import db
from .models import User
from .storage import MediaStore

users = AppGroup("users", help="Manage shootflow users and their API tokens.")
PASSWORD = click.option("--password", prompt=True, hide_input=True, confirmation_prompt=True,
                        help="The password (prompted for when not given).")


def _user(username):
    """The user named so, or a ClickException that says there is none."""
    try:
        return find_user(username)
    except AccountError as exc:
        raise click.ClickException(str(exc)) from None


def _commit_or_refuse(change, *args):
    """Run change(*args) and commit; an AccountError rolls back and becomes the message."""
    try:
        result = change(*args)
    except AccountError as exc:
        db.session.rollback()
        raise click.ClickException(str(exc)) from None
    db.session.commit()
    return result


@users.command("create")
@click.argument("username")
@PASSWORD
def create(username, password):
    """Create a user who can sign in to the pages."""
    _commit_or_refuse(create_user, username, password)
    click.echo(f"Created user {username}.")


@users.command("password")
@click.argument("username")
@PASSWORD
def reset_password(username, password):
    """Set a user's password; their browser sessions end (API tokens stay)."""
    _commit_or_refuse(set_password, _user(username), password)
    click.echo(f"Changed the password of {username}; their sessions have ended.")


@users.command("token")
@click.argument("username")
def token(username):
    """Print a new API token for a user (shown only once)."""
    plain = _commit_or_refuse(issue_token, _user(username))
    click.echo(plain)
    click.echo(f"Use it as: Authorization: Bearer <token>  (user {username})", err=True)


@users.command("revoke-tokens")
@click.argument("username")
def revoke_all_tokens(username):
    """Revoke every API token of a user at once."""
    count = _commit_or_refuse(revoke_tokens, _user(username))
    click.echo(f"Revoked {count} API token(s) of {username}.")


@users.command("operator")
@click.argument("username")
@click.option("--revoke", is_flag=True, help="Take the operator role away instead.")
def operator(username, revoke):
    """Let a user see /ops (every user's running work) and its Flower link, or stop it."""
    user = _user(username)
    user.is_operator = not revoke
    db.session.commit()
    click.echo(f"{username} is {'no longer' if revoke else 'now'} an operator.")


@users.command("delete")
@click.argument("username")
@click.confirmation_option(prompt="Delete the user with all their bundles and images?")
def delete(username):
    """Delete a user with their API tokens, bundles, shots and image files.

    Refused while one of their bundles is still running: wait or cancel it first."""
    paths = _commit_or_refuse(delete_user, _user(username))
    store = MediaStore(current_app.config["MEDIA_DIR"])
    for relative in paths:  # after the commit: a failed commit must not lose images
        try:
            path = store.absolute(relative)
            path.unlink(missing_ok=True)
        except (OSError, ValueError) as exc:
            click.echo(f"Could not remove {relative}: {exc}", err=True)
            continue
        try:
            path.parent.rmdir()  # the shot's folder, once its last file is gone
        except OSError:
            pass
    click.echo(f"Deleted user {username} and {len(paths)} image file(s).")


@users.command("list")
def list_users():
    """List the users (operators marked)."""
    for user in db.session.scalars(db.select(User).order_by(User.username)):
        click.echo(f"{user.username}  (operator)" if user.is_operator else user.username)
    sys.stdout.flush()
