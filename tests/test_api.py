"""The JSON API against a real broker, worker and Chromium."""
import io
import secrets

import pytest
from PIL import Image

from shootflow.accounts import find_user
from shootflow.lifecycle import create_bundle
from shootflow.extensions import db
from tests.helpers import bearer, new_token, new_user, row_counts, wait_finished


@pytest.fixture
def post(client):
    def post(payload, **kwargs):
        return client.post("/api/v1/bundles", json=payload, **kwargs)
    return post


def test_bundle_is_captured_and_served(ctx, worker, client, post, pages, closed_port_url):
    red = pages.url(title="Red page", color="#ff0000")
    blue = pages.url("/redirect", to="/page?title=Blue+page&color=%230000ff")
    response = post({"urls": [red, blue, closed_port_url]})
    assert response.status_code == 202
    body = response.get_json()
    assert body["url"] == f"/api/v1/bundles/{body['id']}"
    assert body["page_url"] == f"/bundles/{body['id']}"

    wait_finished(body["id"])
    bundle = client.get(body["url"]).get_json()
    assert bundle["state"] == "partial"
    shots = {shot["url"]: shot for shot in bundle["shots"]}
    assert [s["url"] for s in bundle["shots"]] == [red, blue, closed_port_url]

    assert shots[red]["state"] == "done"
    assert shots[red]["title"] == "Red page"
    assert shots[blue]["final_url"].endswith("/page?title=Blue+page&color=%230000ff")
    assert shots[blue]["title"] == "Blue page"
    failed = shots[closed_port_url]
    assert failed["state"] == "failed"
    assert failed["error"].startswith("connection refused by 127.0.0.1:")
    assert failed["image_url"] is None and failed["thumbnail_url"] is None

    for url, color in ((red, (255, 0, 0)), (blue, (0, 0, 255))):
        full = client.get(shots[url]["image_url"])
        assert full.mimetype == "image/png"
        image = Image.open(io.BytesIO(full.data))
        assert image.size == (1280, 800)
        assert image.convert("RGB").getpixel((640, 700)) == color
        thumb = Image.open(io.BytesIO(client.get(shots[url]["thumbnail_url"]).data))
        assert thumb.format == "JPEG" and thumb.size == (400, 250)


def test_unresolvable_host_reads_as_words(ctx, worker, client, post):
    body = post({"urls": ["http://nope.invalid/"]}).get_json()
    wait_finished(body["id"])
    bundle = client.get(body["url"]).get_json()
    assert bundle["state"] == "failed"
    assert bundle["shots"][0]["error"] == "could not resolve host nope.invalid"


def test_duplicates_blanks_and_bare_hosts(ctx, app, client, post, pages):
    """Normalisation only: no worker needed, the bundle just waits in the queue."""
    page = pages.url(title="Once")
    body = post({"urls": ["", f"  {page}  ", page, "example.com", "   "]}).get_json()
    bundle = client.get(body["url"]).get_json()
    assert [s["url"] for s in bundle["shots"]] == [page, "https://example.com/"]


BAD_PAYLOADS = [
    ({"urls": []}, "Paste at least one URL"),
    ({"urls": ["", "  "]}, "Paste at least one URL"),
    ({"urls": ["file:///etc/passwd"]}, "only http and https"),
    ({"urls": ["javascript:alert(1)"]}, "only http and https"),
    ({"urls": ["data:text/html,hi"]}, "only http and https"),
    ({"urls": ["chrome://settings"]}, "only http and https"),
    ({"urls": ["http://exa mple.com/"]}, "contains spaces"),
    ({"urls": ["http://"]}, "has no host name"),
    ({"urls": ["http://host:99999/"]}, "is malformed"),
    ({"urls": ["https://example.com/" + "a" * 2000]}, "longer than 2,000 characters"),
    ({"urls": [f"https://example.com/{i}" for i in range(6)]}, "at most 5 URLs; you gave 6"),
    ({"urls": "https://example.com"}, '"urls" must be a list'),
    ({"urls": [42]}, "Item 1 is not a string"),
    ({"links": ["https://example.com"]}, '"urls" must be a list'),
    (["https://example.com"], "Send a JSON object"),
]


@pytest.mark.parametrize("payload, message", BAD_PAYLOADS)
def test_bad_input_is_rejected_and_nothing_written(ctx, post, payload, message):
    before = row_counts()
    response = post(payload)
    assert response.status_code == 400
    assert message in response.get_json()["error"]
    assert row_counts() == before


def test_non_json_body_is_rejected(ctx, client):
    before = row_counts()
    response = client.post("/api/v1/bundles", data="urls=https://example.com",
                           content_type="application/x-www-form-urlencoded")
    assert response.status_code == 400
    assert "JSON object" in response.get_json()["error"]
    assert row_counts() == before


def test_unknown_bundle_is_404_json(client):
    response = client.get("/api/v1/bundles/000000000000000000000000")
    assert response.status_code == 404
    assert "No bundle" in response.get_json()["error"]


def test_too_many_urls_a_minute_from_one_client_is_429(ctx, app, client, redis_server):
    """A real moving window in the test redis-server; one client's IP, a small limit."""
    environ = {"REMOTE_ADDR": "198.51.100.7"}  # a documentation address, never contacted
    app.config["URLS_PER_MINUTE"] = 4
    try:
        ok = client.post("/api/v1/bundles", json={"urls": ["a.example", "b.example", "c.example"]},
                         environ_base=environ)
        assert ok.status_code == 202
        before = row_counts()
        refused = client.post("/api/v1/bundles", json={"urls": ["d.example", "e.example"]},
                              environ_base=environ)
        assert refused.status_code == 429
        assert "at most 4 a minute" in refused.get_json()["error"]
        assert row_counts() == before
        other = client.post("/api/v1/bundles", json={"urls": ["d.example"]},
                            environ_base={"REMOTE_ADDR": "198.51.100.8"})
        assert other.status_code == 202
    finally:
        app.config["URLS_PER_MINUTE"] = 3000


@pytest.mark.amqp
def test_every_web_process_counts_in_one_window(app):
    """Two limiters as two web processes make them share one window: in the broker's Redis,
    or, with RabbitMQ as the broker, the result store's (never each process's memory)."""
    from shootflow.ratelimit import URLRateLimit, storage_uri
    first, second = (URLRateLimit(storage_uri(app.config)) for _ in range(2))
    client = f"shared-{secrets.token_hex(4)}"
    assert first.take(client, 4, per_minute=4)
    assert not second.take(client, 1, per_minute=4)


def test_a_client_over_its_limit_costs_no_name_lookups(ctx, app, client, monkeypatch):
    """The limit is checked before the names are resolved, which may take seconds. No DNS
    server here can be made slow on purpose, so getaddrinfo is replaced for these names."""
    import socket
    import threading

    from shootflow import netpolicy
    looked_up, never = [], threading.Event()

    def slow_getaddrinfo(host, *args, **kwargs):
        looked_up.append(host)
        never.wait(10)
        raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
    monkeypatch.setattr(netpolicy.socket, "getaddrinfo", slow_getaddrinfo)
    environ = {"REMOTE_ADDR": "198.51.100.9"}
    app.config["URLS_PER_MINUTE"] = 2
    try:
        before = row_counts()
        refused = client.post("/api/v1/bundles", environ_base=environ, json={
            "urls": [f"slow-{n}.example" for n in range(3)]})
        assert refused.status_code == 429
        assert looked_up == [] and row_counts() == before
    finally:
        never.set()
        app.config["URLS_PER_MINUTE"] = 3000


def test_a_client_with_too_many_shots_waiting_is_429(ctx, app, client, monkeypatch):
    monkeypatch.setitem(app.config, "MAX_WAITING_SHOTS", 3)
    address = "198.51.100.10"  # a documentation address, never contacted
    waiting = create_bundle(["https://a.example/", "https://b.example/"], client=address)
    db.session.commit()
    before = row_counts()
    refused = client.post("/api/v1/bundles", json={"urls": ["c.example", "d.example"]},
                          environ_base={"REMOTE_ADDR": address})
    assert refused.status_code == 429
    assert "2 shots waiting" in refused.get_json()["error"] and row_counts() == before
    other = client.post("/api/v1/bundles", json={"urls": ["c.example", "d.example"]},
                        environ_base={"REMOTE_ADDR": "198.51.100.11"})
    assert other.status_code == 202  # another client's shots do not count

    for shot in waiting.shots:
        shot.state = "failed"
    db.session.commit()
    again = client.post("/api/v1/bundles", json={"urls": ["c.example", "d.example"]},
                        environ_base={"REMOTE_ADDR": address})
    assert again.status_code == 202


def test_with_accounts_the_waiting_cap_is_per_user(ctx, app, auth_app, monkeypatch):
    monkeypatch.setitem(auth_app.config, "MAX_WAITING_SHOTS", 3)
    name = new_user(auth_app, "busy")
    with auth_app.app_context():
        owner = find_user(name).id
        create_bundle(["https://a.example/", "https://b.example/", "https://c.example/"],
                      owner_id=owner, client="198.51.100.12")
        db.session.commit()
    response = auth_app.test_client().post(
        "/api/v1/bundles", json={"urls": ["d.example"]}, headers=bearer(new_token(auth_app, name)),
        environ_base={"REMOTE_ADDR": "198.51.100.13"})  # from another address: still theirs
    assert response.status_code == 429 and "3 shots waiting" in response.get_json()["error"]


def test_with_accounts_the_url_limit_is_per_user(ctx, app, auth_app, monkeypatch):
    """One user from two addresses shares one limit; another user from the same address
    has a limit of their own."""
    monkeypatch.setitem(auth_app.config, "URLS_PER_MINUTE", 2)
    first, second = new_user(auth_app, "limited"), new_user(auth_app, "other")
    client = auth_app.test_client()

    def post(name, address, urls):
        return client.post("/api/v1/bundles", json={"urls": urls},
                           headers=bearer(new_token(auth_app, name)),
                           environ_base={"REMOTE_ADDR": address})
    assert post(first, "198.51.100.20", ["a.example", "b.example"]).status_code == 202
    assert post(first, "198.51.100.21", ["c.example"]).status_code == 429
    assert post(second, "198.51.100.20", ["c.example"]).status_code == 202


@pytest.mark.parametrize("method, path, body, status, message, code", [
    # Deeper than any supported Python's json decodes (3.13 takes 5,000 levels, 3.11 not)
    ("post", "/api/v1/bundles", '{"urls": ' + "[" * 50000 + "]" * 50000 + "}", 400,
     "nested too deeply", "invalid_json"),
    ("put", "/api/v1/bundles", "{}", 405, "Method not allowed", "method_not_allowed"),
    ("patch", "/api/v1/bundles/000000000000000000000000", None, 405, "Method not allowed",
     "method_not_allowed"),
    ("get", "/api/v1/no-such-thing", None, 404, "Not found", "not_found"),
    ("post", "/api/v1/bundles", '{"urls": ["' + "a" * 3 * 2**20 + '"]}', 413, "too large",
     "too_large"),
])
def test_every_api_error_is_json(ctx, client, method, path, body, status, message, code):
    before = row_counts()
    response = getattr(client, method)(path, data=body, content_type="application/json")
    assert response.status_code == status and response.is_json
    assert message in response.get_json()["error"]
    assert response.get_json()["code"] == code
    assert row_counts() == before


def test_a_failure_inside_the_api_is_json_too(ctx, app, monkeypatch):
    """A fault injected on purpose (nothing in the API fails on request)."""
    from shootflow.web import api

    def broken(_bundle):
        raise RuntimeError("injected")
    monkeypatch.setattr(api, "bundle_json", broken)
    monkeypatch.setitem(app.config, "PROPAGATE_EXCEPTIONS", False)
    bundle = create_bundle(["https://example.com/"], client="198.51.100.30")
    db.session.commit()
    response = app.test_client().get(f"/api/v1/bundles/{bundle.id}")
    assert response.status_code == 500 and response.is_json
    assert "went wrong on shootflow's side" in response.get_json()["error"]
    assert response.get_json()["code"] == "server_error"
