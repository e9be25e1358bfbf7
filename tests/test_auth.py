"""SHOOTFLOW_AUTH=on: sign-in for pages, bearer tokens for the API, each user sees only their own."""
import re

import pytest

from shootflow.extensions import db
from shootflow.models import User
from tests.helpers import bearer, csrf_token, new_token, users_cli, wait_finished


@pytest.fixture(scope="module")
def tokens(auth_app):
    result = {}
    for name in ("alice", "bob"):
        assert users_cli(auth_app, "create", name, "--password", f"{name}-password").exit_code == 0
        result[name] = new_token(auth_app, name)
    return result


@pytest.mark.parametrize("args, message", [
    (("create", "alice", "--password", "another-password"), "already a user named 'alice'"),
    (("create", "no spaces", "--password", "long-enough"), "A username is 1 to 64"),
    (("create", "carol", "--password", "short"), "at least 8 characters"),
    (("token", "nobody"), "no user named 'nobody'"),
])
def test_cli_rejects_bad_input_and_writes_nothing(auth_app, tokens, args, message):
    with auth_app.app_context():
        before = db.session.query(User).count()
    result = users_cli(auth_app, *args)
    assert result.exit_code != 0
    assert message in result.output
    with auth_app.app_context():
        assert db.session.query(User).count() == before


def test_api_needs_a_token(auth_app, tokens):
    client = auth_app.test_client()
    response = client.post("/api/v1/bundles", json={"urls": ["example.com"]})
    assert response.status_code == 401 and "Bearer" in response.get_json()["error"]
    wrong = client.get("/api/v1/bundles/x", headers=bearer("not-a-token"))
    assert wrong.status_code == 401


def test_pages_need_sign_in(auth_app, tokens):
    client = auth_app.test_client()
    response = client.get("/ops")
    assert response.status_code == 302 and "/login?next=/ops" in response.headers["Location"]
    token = csrf_token(client)
    bad = client.post("/login", data={"username": "alice", "password": "nope",
                                      "csrf_token": token})
    assert bad.status_code == 401 and "do not match" in bad.get_data(as_text=True)
    good = client.post("/login?next=/ops", data={"username": "alice",
                                                  "password": "alice-password",
                                                  "csrf_token": token})
    assert good.status_code == 303 and good.headers["Location"] == "/ops"
    assert "Sign out alice" in client.get("/").get_data(as_text=True)


def test_one_user_cannot_see_another_users_bundles_or_images(auth_app, tokens, worker, pages):
    client = auth_app.test_client()
    alice, bob = bearer(tokens["alice"]), bearer(tokens["bob"])
    body = client.post("/api/v1/bundles", json={"urls": [pages.url(title="Alice's")]},
                       headers=alice).get_json()
    with auth_app.app_context():
        wait_finished(body["id"])
    bundle = client.get(body["url"], headers=alice).get_json()
    shot = bundle["shots"][0]
    assert shot["state"] == "done"
    assert re.fullmatch(r"[0-9a-f]{24}", shot["id"]) and re.fullmatch(r"[0-9a-f]{24}", body["id"])
    assert client.get(shot["image_url"], headers=alice).status_code == 200

    assert client.get(body["url"], headers=bob).status_code == 404
    assert client.get(shot["image_url"], headers=bob).status_code == 404
    assert client.get(shot["thumbnail_url"], headers=bob).status_code == 404
    assert client.get(f"/api/v1/shots/{shot['id']}", headers=bob).status_code == 404
    assert client.post(f"/api/v1/bundles/{body['id']}/retry", headers=bob).status_code == 404
    assert body["id"] not in client.get("/", headers=bob).get_data(as_text=True)
    assert body["id"] in client.get("/", headers=alice).get_data(as_text=True)
