"""Accounts with SHOOTFLOW_AUTH=on: sign-in throttling and timing, operators, and the
`flask users` commands that reset, revoke and delete."""
import re
import time

import pytest
from flask_migrate import downgrade, upgrade
from sqlalchemy import text

from shootflow import accounts, create_app
from shootflow.accounts import authenticate, find_user
from shootflow.config import database_url
from shootflow.lifecycle import create_bundle
from shootflow.extensions import db
from shootflow.models import ApiToken, Bundle, Shot, User
from shootflow.storage import MediaStore
from tests.helpers import bearer, csrf_token, new_token, new_user, sign_in, users_cli

MISSING_BUNDLE = "/api/v1/bundles/000000000000000000000000"  # 404 signed in, 401 if not


@pytest.fixture(scope="module")
def strict_app(app):
    """Auth on with a small sign-in limit and a window short enough to wait out."""
    return create_app({"TESTING": True, "AUTH": True, "LOGIN_TRIES_PER_USER": 3,
                       "LOGIN_TRIES_PER_ADDRESS": 5, "LOGIN_WINDOW": 2})


def address(n):
    """A client address of its own (documentation range), so tests do not share counters."""
    return {"environ_base": {"REMOTE_ADDR": f"203.0.113.{n}"}}


def test_failed_sign_ins_for_one_name_are_throttled_until_the_window_passes(
        strict_app, monkeypatch):
    name = new_user(strict_app, "guessed")
    client = strict_app.test_client()
    for guess in range(3):
        assert sign_in(client, name, f"guess-{guess}", **address(1)).status_code == 401

    # A spy, not a timing: it shows that a throttled try is refused before any hash is
    # computed, which a clock on a busy 2-core machine could not tell apart reliably.
    hashed = []
    real_check = accounts.check_password_hash
    monkeypatch.setattr(accounts, "check_password_hash",
                        lambda *args: hashed.append(args) or real_check(*args))
    for where in (1, 2):  # the right password, and from another address: still the same name
        refused = sign_in(client, name, **address(where))
        assert refused.status_code == 429
        assert "Too many failed sign-ins" in refused.get_data(as_text=True)
        wait = int(refused.headers["Retry-After"])
        assert 1 <= wait <= 2
    assert hashed == []
    other = sign_in(client, new_user(strict_app, "bystander"), **address(1))
    assert other.status_code == 303  # another name from the same address is not held up

    time.sleep(wait)  # the moving window's oldest failure expires then, as Retry-After said
    assert sign_in(client, name, **address(1)).status_code == 303


def test_failed_sign_ins_from_one_address_are_throttled(strict_app):
    client = strict_app.test_client()
    for n in range(5):  # names that do not exist count like names that do
        assert sign_in(client, f"nobody-{n}", "whatever", **address(3)).status_code == 401
    refused = sign_in(client, new_user(strict_app, "shared-address"), **address(3))
    assert refused.status_code == 429 and int(refused.headers["Retry-After"]) >= 1


def _fastest(call, times=3):
    best = float("inf")
    for _ in range(times):
        started = time.perf_counter()
        call()
        best = min(best, time.perf_counter() - started)
    return best


def test_unknown_names_take_as_long_as_wrong_passwords(auth_app):
    name = new_user(auth_app, "timed")
    with auth_app.app_context():
        authenticate("no-such-user", "warm-up")
        known = _fastest(lambda: authenticate(name, "wrong-password"))
        unknown = _fastest(lambda: authenticate("no-such-user", "wrong-password"))
        assert authenticate("no-such-user", "") is None
    # Without the dummy check an unknown name answers in a few ms against ~100 ms.
    assert unknown >= 0.5 * known, (unknown, known)


def test_ops_is_for_operators(auth_app):
    plain, operator = new_user(auth_app, "plain"), new_user(auth_app, "ops", "operator")
    client = auth_app.test_client()
    sign_in(client, plain)
    refused = client.get("/ops")
    assert refused.status_code == 403 and "for operators" in refused.get_data(as_text=True)
    assert client.get("/ops", headers={"HX-Request": "true"}).status_code == 403
    assert 'href="/ops"' not in client.get("/").get_data(as_text=True)

    as_operator = auth_app.test_client()
    sign_in(as_operator, operator)
    page = as_operator.get("/ops")
    assert page.status_code == 200 and "Open Flower" in page.get_data(as_text=True)
    assert 'href="/ops"' in as_operator.get("/").get_data(as_text=True)
    assert f"{operator}  (operator)" in users_cli(auth_app, "list").output

    assert users_cli(auth_app, "operator", operator, "--revoke").exit_code == 0
    assert as_operator.get("/ops").status_code == 403


def test_a_new_password_ends_the_old_sessions(auth_app):
    name = new_user(auth_app, "reset")
    old_session = auth_app.test_client()
    assert sign_in(old_session, name).status_code == 303
    assert old_session.get("/").status_code == 200

    result = users_cli(auth_app, "password", name, "--password", "a-brand-new-one")
    assert result.exit_code == 0 and "sessions have ended" in result.output
    assert old_session.get("/").status_code == 302
    assert old_session.get(MISSING_BUNDLE).status_code == 401
    assert sign_in(auth_app.test_client(), name).status_code == 401
    assert sign_in(auth_app.test_client(), name, "a-brand-new-one").status_code == 303


def test_signing_out_ends_copies_of_the_session(auth_app):
    name = new_user(auth_app, "leaver")
    browser, thief = auth_app.test_client(), auth_app.test_client()
    assert sign_in(browser, name).status_code == 303
    thief.set_cookie("session", browser.get_cookie("session").value)
    assert thief.get("/").status_code == 200  # a copied cookie works while signed in

    form = {"csrf_token": csrf_token(browser, "/")}
    assert browser.post("/logout", data=form).status_code == 303
    assert thief.get("/").status_code == 302
    assert thief.get(MISSING_BUNDLE).status_code == 401


@pytest.mark.parametrize("args, message", [
    (("password", "{name}", "--password", "short"), "at least 8 characters"),
    (("password", "nobody-at-all", "--password", "long-enough"), "no user named"),
    (("revoke-tokens", "nobody-at-all"), "no user named"),
    (("operator", "nobody-at-all"), "no user named"),
    (("delete", "nobody-at-all", "--yes"), "no user named"),
])
def test_commands_refuse_bad_input_and_change_nothing(auth_app, args, message):
    name = new_user(auth_app, "unchanged")
    token = new_token(auth_app, name)
    with auth_app.app_context():
        before = [(u.username, u.password_hash, u.session_secret, u.is_operator)
                  for u in db.session.scalars(db.select(User))]
    result = users_cli(auth_app, *(arg.format(name=name) for arg in args))
    assert result.exit_code != 0 and message in result.output
    with auth_app.app_context():
        db.session.expire_all()
        assert before == [(u.username, u.password_hash, u.session_secret, u.is_operator)
                          for u in db.session.scalars(db.select(User))]
    assert auth_app.test_client().get(MISSING_BUNDLE, headers=bearer(token)).status_code == 404


def test_revoke_tokens_stops_every_token_of_the_user(auth_app):
    name, other = new_user(auth_app, "leaked"), new_user(auth_app, "unaffected")
    tokens, kept = [new_token(auth_app, name) for _ in range(2)], new_token(auth_app, other)
    result = users_cli(auth_app, "revoke-tokens", name)
    assert result.exit_code == 0 and "Revoked 2 API token(s)" in result.output
    client = auth_app.test_client()
    for token in tokens:
        assert client.get(MISSING_BUNDLE, headers=bearer(token)).status_code == 401
    assert client.get(MISSING_BUNDLE, headers=bearer(kept)).status_code == 404


def test_delete_removes_the_user_their_bundles_and_images(auth_app):
    name = new_user(auth_app, "leaving")
    new_token(auth_app, name)
    store = MediaStore(auth_app.config["MEDIA_DIR"])
    with auth_app.app_context():
        user_id = find_user(name).id
        done = create_bundle(["https://example.com/a"], user_id)
        running = create_bundle(["https://example.com/b"], user_id)
        db.session.flush()
        done.state = done.shots[0].state = "done"
        image = done.shots[0].image_path = store.shot_path(done.shots[0].id, "full.png")
        store.write(image, b"image")
        db.session.commit()
        ids = [done.id, running.id]

    refused = users_cli(auth_app, "delete", name, "--yes")
    assert refused.exit_code != 0 and "1 unfinished bundle" in refused.output
    with auth_app.app_context():
        assert db.session.get(User, user_id) and db.session.get(Bundle, ids[1])
        assert store.absolute(image).exists()
        db.session.get(Bundle, ids[1]).state = "cancelled"
        db.session.commit()

    result = users_cli(auth_app, "delete", name, "--yes")
    assert result.exit_code == 0 and "1 image file" in result.output
    with auth_app.app_context():
        assert db.session.get(User, user_id) is None
        assert all(db.session.get(Bundle, bundle_id) is None for bundle_id in ids)
        assert db.session.scalar(db.select(db.func.count()).select_from(Shot).where(
            Shot.bundle_id.in_(ids))) == 0
        assert db.session.scalar(db.select(db.func.count()).select_from(ApiToken).where(
            ApiToken.user_id == user_id)) == 0
    assert not store.absolute(image).exists() and not store.absolute(image).parent.exists()


def test_upgrading_gives_existing_users_a_secret_and_no_operator_role(new_database, app):
    """Sessions from before 0005 carry no secret, so they end; nobody becomes an operator."""
    old = create_app({"SQLALCHEMY_DATABASE_URI": database_url(new_database("old"))})
    with old.app_context():
        upgrade(revision="0004")
        for name in ("early", "later"):
            db.session.execute(text('INSERT INTO "user" (username, password_hash, created_at) '
                                    "VALUES (:name, 'x', '2026-01-01')"), {"name": name})
        db.session.commit()
        upgrade()
        rows = db.session.execute(text('SELECT is_operator, session_secret FROM "user"')).all()
        assert [operator for operator, _ in rows] == [0, 0]
        session_secrets = [secret for _, secret in rows]
        assert all(re.fullmatch(r"[0-9a-f]{32}", secret) for secret in session_secrets)
        assert len(set(session_secrets)) == 2
        db.session.rollback()  # end the reads: an open one would hold up ALTER TABLE
        downgrade(revision="0004")
        assert db.session.execute(text('SELECT count(*) FROM "user"')).scalar() == 2
        db.session.remove()
        db.engine.dispose()
