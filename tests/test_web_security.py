"""What a browser on another site, a forged cookie or a foreign host name can do: nothing."""
import multiprocessing
import stat
import urllib.request

import pytest
from flask import Flask
from flask.sessions import SecureCookieSessionInterface

from shootflow import create_app
from shootflow.accounts import find_user
from shootflow.lifecycle import create_bundle
from shootflow.config import Config, secret_key
from shootflow.extensions import db
from shootflow.models import Bundle
from shootflow.storage import MediaStore
from tests.helpers import bearer, csrf_token, fresh, new_token, new_user, sign_in

OLD_PUBLIC_KEY = "dev-only-not-secret"  # the default before keys were generated
CROSS_SITE = {"Origin": "https://evil.example", "Sec-Fetch-Site": "cross-site"}
FORM = {"data": {"reason": "cross-site form"},
        "content_type": "application/x-www-form-urlencoded"}


@pytest.fixture
def instance_app(app, tmp_path, monkeypatch):
    """create_app as a fresh installation starts it: no SHOOTFLOW_SECRET_KEY, its own folder."""
    monkeypatch.delenv("SHOOTFLOW_SECRET_KEY", raising=False)
    monkeypatch.setenv("SHOOTFLOW_INSTANCE_DIR", str(tmp_path / "instance"))
    return lambda **config: create_app({"TESTING": True, "AUTH": True, **config})


def session_cookie(key, payload):
    """A session cookie as Flask signs it with key."""
    signer = Flask("signer")
    signer.secret_key = key
    return SecureCookieSessionInterface().get_signing_serializer(signer).dumps(payload)


def test_a_session_signed_with_the_old_public_key_is_refused(instance_app):
    app = instance_app()
    name = new_user(app, "forged")
    with app.app_context():
        payload = {"_user_id": find_user(name).get_id(), "_fresh": True}
    client = app.test_client()

    client.set_cookie("session", session_cookie(app.secret_key, payload))
    assert client.get("/").status_code == 200  # the same session, signed with the real key
    assert client.get("/api/v1/bundles/000000000000000000000000").status_code == 404

    client.set_cookie("session", session_cookie(OLD_PUBLIC_KEY, payload))
    page = client.get("/")
    assert page.status_code == 302 and "/login" in page.headers["Location"]
    api = client.get("/api/v1/bundles/000000000000000000000000")
    assert api.status_code == 401 and "Bearer" in api.get_json()["error"]


def test_the_generated_key_is_private_and_kept(instance_app, tmp_path):
    first = instance_app()
    key_file = tmp_path / "instance" / "secret_key"
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    assert key_file.read_text().strip() == first.secret_key and len(first.secret_key) >= 64
    assert instance_app().secret_key == first.secret_key


def _key_when_released(barrier, directory, keys):
    barrier.wait()
    keys.put(secret_key(directory))


def test_processes_starting_together_agree_on_one_key(tmp_path):
    """web, workers and Flower start at once under `make run`; all must use one key."""
    spawn = multiprocessing.get_context("spawn")
    barrier, keys, count = spawn.Barrier(6), spawn.Queue(), 6
    procs = [spawn.Process(target=_key_when_released, args=(barrier, tmp_path, keys))
             for _ in range(count)]
    for proc in procs:
        proc.start()
    seen = {keys.get(timeout=60) for _ in range(count)}
    for proc in procs:
        proc.join(10)
    assert seen == {(tmp_path / "secret_key").read_text().strip()}
    assert [path.name for path in tmp_path.iterdir()] == ["secret_key"]  # no leftovers


@pytest.fixture
def open_bundle(auth_app):
    """make(app, owner): the id of a new queued bundle of owner's (never dispatched, so no
    worker is needed)."""
    def make(app=auth_app, owner=None):
        with app.app_context():
            bundle = create_bundle(["https://example.com/"],
                                   find_user(owner).id if owner else None)
            db.session.commit()
            return bundle.id
    return make


def state(app, bundle_id):
    with app.app_context():
        bundle = fresh(Bundle, bundle_id)
        return bundle.state, [shot.state for shot in bundle.shots]


def test_cross_site_form_with_the_session_cookie_cannot_cancel(auth_app, open_bundle):
    name = new_user(auth_app, "victim")
    client = auth_app.test_client()
    assert sign_in(client, name).status_code == 303
    bundle_id = open_bundle(owner=name)
    url = f"/api/v1/bundles/{bundle_id}/cancel"

    refused = client.post(url, headers=CROSS_SITE, **FORM)
    assert refused.status_code == 403 and "X-CSRFToken" in refused.get_json()["error"]
    wrong = client.post(url, headers={"X-CSRFToken": "not-the-token"}, json={})
    assert wrong.status_code == 403
    assert state(auth_app, bundle_id) == ("queued", ["queued"])

    token = csrf_token(client, "/")
    accepted = client.post(url, headers={**CROSS_SITE, "X-CSRFToken": token}, **FORM)
    assert accepted.status_code == 202 and accepted.get_json()["state"] == "cancelled"
    assert state(auth_app, bundle_id) == ("cancelled", ["cancelled"])


def test_bearer_token_requests_need_no_csrf_token(auth_app, open_bundle):
    name = new_user(auth_app, "script")
    bundle_id = open_bundle(owner=name)
    response = auth_app.test_client().post(f"/api/v1/bundles/{bundle_id}/cancel",
                                           headers=bearer(new_token(auth_app, name)), **FORM)
    assert response.status_code == 202
    assert state(auth_app, bundle_id) == ("cancelled", ["cancelled"])


@pytest.mark.parametrize("headers, body, status, message", [
    (CROSS_SITE, FORM, 403, "other sites"),
    ({"Origin": "https://evil.example"}, {"json": {}}, 403, "other sites"),
    ({"Sec-Fetch-Site": "same-site"}, {"json": {}}, 403, "other sites"),  # another port
    ({"Origin": "null"}, {"json": {}}, 403, "other sites"),
    ({}, FORM, 400, "Content-Type: application/json"),
    ({}, {"data": "{}", "content_type": "text/plain"}, 400, "Content-Type: application/json"),
])
def test_without_auth_only_same_site_json_may_change_anything(
        app, client, open_bundle, headers, body, status, message):
    bundle_id = open_bundle(app)
    response = client.post(f"/api/v1/bundles/{bundle_id}/cancel", headers=headers, **body)
    assert response.status_code == status and message in response.get_json()["error"]
    assert state(app, bundle_id) == ("queued", ["queued"])
    same_origin = {"Origin": "http://localhost", "Sec-Fetch-Site": "same-origin"}
    accepted = client.post(f"/api/v1/bundles/{bundle_id}/cancel", headers=same_origin, json={})
    assert accepted.status_code == 202
    assert state(app, bundle_id) == ("cancelled", ["cancelled"])


def test_without_auth_a_script_may_post_with_no_body(app, client, open_bundle):
    bundle_id = open_bundle(app)
    response = client.post(f"/api/v1/bundles/{bundle_id}/cancel")  # curl -X POST
    assert response.status_code == 202
    assert state(app, bundle_id) == ("cancelled", ["cancelled"])


@pytest.mark.parametrize("host, status", [
    ("localhost", 200), ("localhost:5000", 200), ("127.0.0.1:5000", 200), ("[::1]:5000", 200),
    ("evil.example", 400), ("127.0.0.1.nip.io:5000", 400), ("[::2]:5000", 400),
    ("localhost.evil.example", 400),
])
def test_only_the_bind_address_and_loopback_names_are_answered(client, host, status):
    response = client.get("/", headers={"Host": host})
    assert response.status_code == status
    if status == 400:
        assert "SHOOTFLOW_TRUSTED_HOSTS" in response.get_data(as_text=True)
        api = client.get("/api/v1/bundles/x", headers={"Host": host})
        assert api.status_code == 400 and "host name" in api.get_json()["error"]


def test_trusted_hosts_come_from_the_environment(monkeypatch, test_env):
    monkeypatch.setenv("SHOOTFLOW_TRUSTED_HOSTS", "shots.example.com, .internal.example")
    app = create_app({"TESTING": True})
    client = app.test_client()
    for host, status in (("shots.example.com", 200), ("a.internal.example:8080", 200),
                         ("internal.example", 200), ("localhost", 400), ("example.com", 400)):
        assert client.get("/", headers={"Host": host}).status_code == status, host
    monkeypatch.setenv("SHOOTFLOW_TRUSTED_HOSTS", "https://shots.example.com")
    with pytest.raises(RuntimeError, match="lists host names without scheme or port"):
        Config()


def test_the_live_server_used_by_the_browser_tests_is_answered(live_server):
    with urllib.request.urlopen(live_server.url + "/", timeout=10) as response:
        assert response.status == 200


@pytest.mark.parametrize("auth, cache", [(True, "private"), (False, "public")])
def test_images_of_signed_in_users_are_not_kept_by_shared_caches(
        app, auth_app, open_bundle, auth, cache):
    name = new_user(auth_app, "images")
    bundle_id = open_bundle(owner=name)
    with app.app_context():
        shot = fresh(Bundle, bundle_id).shots[0]
        shot.image_path = MediaStore(app.config["MEDIA_DIR"]).shot_path(shot.id, "full.png")
        MediaStore(app.config["MEDIA_DIR"]).write(shot.image_path, b"\x89PNG not really")
        shot_id = shot.id
        db.session.commit()
    if auth:
        response = auth_app.test_client().get(f"/shots/{shot_id}/image.png",
                                              headers=bearer(new_token(auth_app, name)))
    else:
        response = app.test_client().get(f"/shots/{shot_id}/image.png")
    assert response.status_code == 200
    directives = {part.strip() for part in response.headers["Cache-Control"].split(",")}
    assert cache in directives and ({"private", "public"} - {cache}).isdisjoint(directives)


@pytest.mark.parametrize("secure", ["on", "off"])
def test_session_cookies_are_lax_http_only_and_secure_behind_tls(
        instance_app, monkeypatch, secure):
    monkeypatch.setenv("SHOOTFLOW_SECURE_COOKIES", secure)
    cookie = instance_app().test_client().get("/login").headers["Set-Cookie"]
    assert "SameSite=Lax" in cookie and "HttpOnly" in cookie
    assert ("Secure" in cookie) == (secure == "on")
