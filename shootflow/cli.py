"""`flask users …`: manage the accounts used when SHOOTFLOW_AUTH=on."""
import sys

import click
from flask.cli import AppGroup

from .accounts import AccountError, create_user, find_user, issue_token
from .extensions import db
from .models import User

users = AppGroup("users", help="Manage shootflow users and their API tokens.")


@users.command("create")
@click.argument("username")
@click.option("--password", prompt=True, hide_input=True, confirmation_prompt=True,
              help="The password (prompted for when not given).")
def create(username, password):
    """Create a user who can sign in to the pages."""
    try:
        create_user(username, password)
    except AccountError as exc:
        db.session.rollback()
        raise click.ClickException(str(exc)) from None
    db.session.commit()
    click.echo(f"Created user {username}.")


@users.command("token")
@click.argument("username")
def token(username):
    """Print a new API token for a user (shown only once)."""
    try:
        user = find_user(username)
    except AccountError as exc:
        raise click.ClickException(str(exc)) from None
    plain = issue_token(user)
    db.session.commit()
    click.echo(plain)
    click.echo(f"Use it as: Authorization: Bearer <token>  (user {username})", err=True)


@users.command("list")
def list_users():
    """List the users."""
    for user in db.session.scalars(db.select(User).order_by(User.username)):
        click.echo(user.username)
    sys.stdout.flush()
