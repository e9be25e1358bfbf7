"""The API's contract with scripts, over HTTP against the running app: every error answers
{"error", "code", "field"?}; bad input writes nothing; the bundles list (filter, search,
cursor, only your own); and deleting a bundle (rows and files gone, a running one cancelled
first)."""
import json
import secrets
from contextlib import contextmanager
from pathlib import Path

import pytest
import requests

from shootflow.extensions import db
from shootflow.lifecycle import create_bundle
from shootflow.models import Bundle, Shot, Watch, WatchRun, WebhookDelivery
from shootflow.services import delete_bundle
from shootflow.storage import MediaStore
from shootflow.testing.servers import LiveServer, free_port, wait_for
from tests.helpers import bearer, fresh, new_token, new_user, wait_finished

NO_ID = "000000000000000000000000"


def counts():
    """Rows a refused request must not have added to (bundles, shots, watches)."""
    db.session.expire_all()
    return tuple(db.session.query(model).count() for model in (Bundle, Shot, Watch))


@pytest.fixture
def api(live_server):
    """requests against the running app's /api/v1."""
    session = requests.Session()

    def call(method, path, **kwargs):
        return session.request(method, f"{live_server.url}/api/v1{path}", timeout=30, **kwargs)
    yield call
    session.close()


@pytest.fixture
def a_watch(ctx, api):
    watch = api("POST", "/watches", json={"url": "https://example.com/",
                                          "schedule": "@daily"}).json()
    yield watch
    api("DELETE", f"/watches/{watch['id']}")


def refused(response, status, code, field=None):
    """The error body of response, checked: status, code, field (absent when None)."""
    assert response.status_code == status, response.text
    assert response.headers["Content-Type"] == "application/json"
    body = response.json()
    assert isinstance(body["error"], str) and body["error"].strip()
    assert body["code"] == code, body
    assert body.get("field") == field, body
    return body


BAD_INPUT = [
    # (method, path, json body or raw text, code, field, words in the message)
    ("POST", "/bundles", "urls=https://example.com", "invalid_json", None, "JSON object"),
    ("POST", "/bundles", ["https://example.com"], "invalid_json", None, "JSON object"),
    ("POST", "/bundles", {"urls": "https://example.com"}, "invalid_value", "urls", "a list"),
    ("POST", "/bundles", {"urls": []}, "no_urls", "urls", "at least one URL"),
    ("POST", "/bundles", {"urls": [" ", ""]}, "no_urls", "urls", "at least one URL"),
    ("POST", "/bundles", {"urls": [f"a{i}.example" for i in range(6)]}, "too_many_urls",
     "urls", "at most 5 URLs"),
    ("POST", "/bundles", {"urls": ["a.example", "b.example"],
                          "options": {"viewport": ["phone", "tablet", "desktop"]}},
     "too_many_urls", "urls", "at most 5 shots"),
    ("POST", "/bundles", {"urls": ["a.example", "javascript:alert(1)"]}, "invalid_url",
     "urls", "Line 2"),
    ("POST", "/bundles", {"urls": [42]}, "invalid_url", "urls", "not a string"),
    ("POST", "/bundles", {"urls": ["http://10.1.2.3/"]}, "invalid_url", "urls",
     "private address"),
    ("POST", "/bundles", {"urls": ["a.example"], "webhook_url": "http://169.254.169.254/"},
     "invalid_url", "webhook_url", '"webhook_url"'),
    ("POST", "/bundles", {"urls": ["a.example"], "options": {"viewport": "huge"}},
     "invalid_value", "options.viewport", 'Option "viewport"'),
    ("POST", "/bundles", {"urls": ["a.example"], "options": {"hide": ["x", ""]}},
     "invalid_value", "options.hide[1]", 'Option "hide[1]"'),
    ("POST", "/bundles", {"urls": ["a.example"], "options": "full"}, "invalid_value",
     "options", 'Option "options" must be an object'),
    ("POST", "/bundles", {"urls": ["a.example"], "options": {"colour": "red"}},
     "invalid_value", "options.colour", "is not a capture option"),
    ("POST", "/bundles", {"urls": ["a.example", {"url": "b.example", "options": {"scale": 9}}]},
     "invalid_value", "urls[1].options.scale", 'Item 2 (b.example): Option "scale"'),
    ("POST", "/bundles", {"urls": [{"href": "a.example"}]}, "invalid_value", "urls[0]",
     "Item 1 must be"),
    ("POST", "/shots", {"urls": ["a.example"]}, "invalid_value", "url", '{"url"'),
    ("POST", "/shots", {"url": "a.example", "options": {"viewport": ["phone", "tablet"]}},
     "invalid_value", "options.viewport", "one viewport here"),
    ("POST", "/shots?wait=61", {"url": "a.example"}, "invalid_value", "wait",
     "wait must be a whole number"),
    ("POST", "/watches", None, "invalid_json", None, "JSON object"),
    ("POST", "/watches", {"schedule": "@daily"}, "invalid_url", "url", '"url"'),
    ("POST", "/watches", {"url": "a.example", "schedule": "sometimes"}, "invalid_value",
     "schedule", "not a five-field cron"),
    ("POST", "/watches", {"url": "a.example", "schedule": "@daily", "timezone": "Mars/Base"},
     "invalid_value", "timezone", "not an IANA time zone"),
    ("POST", "/watches", {"url": "a.example", "schedule": "@daily", "threshold": 2},
     "invalid_value", "threshold", '"threshold"'),
    ("POST", "/watches", {"url": "a.example", "schedule": "@daily", "ignore": ["#a", {"x": 1}]},
     "invalid_value", "ignore[1]", '"ignore" item 2'),
    ("POST", "/watches", {"url": "a.example", "schedule": "@daily",
                          "options": {"viewport": ["phone", "tablet"]}},
     "invalid_value", "options.viewport", "one viewport for a watch"),
    ("POST", "/watches", {"url": "a.example", "schedule": "@daily", "colour": "red"},
     "invalid_value", "colour", '"colour" is not a field of a watch'),
    ("GET", "/bundles?state=finished", None, "invalid_value", "state", "state must be one of"),
    ("GET", "/bundles?limit=0", None, "invalid_value", "limit", "limit must be a whole number"),
    ("GET", "/bundles?limit=many", None, "invalid_value", "limit", "limit must be"),
    ("GET", "/bundles?cursor=not-a-cursor", None, "invalid_value", "cursor", "next_cursor"),
    ("GET", "/watches?page=0", None, "invalid_value", "page", "page must be a whole number"),
]


@pytest.mark.parametrize("method, path, payload, code, field, words", BAD_INPUT)
def test_bad_input_names_its_code_and_field_and_writes_nothing(ctx, api, method, path, payload,
                                                              code, field, words):
    before = counts()
    if isinstance(payload, str) or payload is None:
        response = api(method, path, data=payload,
                       headers={"Content-Type": "application/json"} if payload else {})
    else:
        response = api(method, path, json=payload)
    body = refused(response, 400, code, field)
    assert words in body["error"]
    assert counts() == before


@pytest.mark.parametrize("path", ["/shots?since=yesterday", "/shots?cursor=x",
                                  "/shots?limit=1001", "/shots?since=0001-01-01T00:00:00%2B14:00"])
def test_bad_shot_list_queries_name_their_field(ctx, api, path):
    bundle = api("POST", "/bundles", json={"urls": ["https://one.example/"]}).json()
    response = api("GET", f"/bundles/{bundle['id']}{path}")
    refused(response, 400, "invalid_value", path[7:].split("=")[0])
    api("DELETE", f"/bundles/{bundle['id']}")


def test_a_bad_watch_edit_names_its_field_and_changes_nothing(ctx, api, a_watch):
    response = api("PATCH", f"/watches/{a_watch['id']}",
                   json={"threshold": 0.5, "schedule": "every 0 minutes"})
    refused(response, 400, "invalid_value", "schedule")
    row = fresh(Watch, a_watch["id"])
    assert (row.schedule, row.threshold) == ("@daily", 0.01)


@pytest.mark.parametrize("method, path, status, code", [
    ("GET", f"/bundles/{NO_ID}", 404, "not_found"),
    ("GET", f"/bundles/{NO_ID}/status", 404, "not_found"),
    ("GET", f"/bundles/{NO_ID}/shots", 404, "not_found"),
    ("DELETE", f"/bundles/{NO_ID}", 404, "not_found"),
    ("POST", f"/shots/{NO_ID}/cancel", 404, "not_found"),
    ("GET", f"/watches/{NO_ID}", 404, "not_found"),
    ("GET", "/nothing-here", 404, "not_found"),
    ("PUT", "/bundles", 405, "method_not_allowed"),
])
def test_errors_that_are_no_one_fields_fault(ctx, api, method, path, status, code):
    refused(api(method, path), status, code)


def test_a_body_too_large_is_413(ctx, api):
    before = counts()
    response = api("POST", "/bundles", data='{"urls": ["' + "a" * 3 * 2**20 + '"]}',
                   headers={"Content-Type": "application/json"})
    refused(response, 413, "too_large")
    assert counts() == before


def test_an_action_that_does_not_fit_is_a_conflict(ctx, api, submit):
    bundle_id = submit("https://one.example/")
    assert api("POST", f"/bundles/{bundle_id}/cancel").status_code == 202
    body = refused(api("POST", f"/bundles/{bundle_id}/cancel"), 409, "conflict")
    assert "already finished (cancelled)" in body["error"]


def test_over_the_rate_limit_is_rate_limited(ctx, app, api, monkeypatch):
    monkeypatch.setitem(app.config, "URLS_PER_MINUTE", 1)
    before = counts()
    response = api("POST", "/bundles", json={"urls": ["a.example", "b.example"]})
    refused(response, 429, "rate_limited")
    assert counts() == before


@contextmanager
def another_app(celery_app, **config):
    """An app of our own config on the same database; the tests' Celery app stays the one
    tasks are sent with afterwards (making an app makes its own Celery app the current)."""
    from shootflow import create_app
    try:
        yield create_app({"TESTING": True, **config})
    finally:
        celery_app.set_current()
        celery_app.set_default()


def test_a_broker_that_is_down_is_queue_unavailable(ctx, celery_app):
    down = f"redis://127.0.0.1:{free_port()}/0"
    # The broker is down; results live elsewhere (Redis that answers), as with RabbitMQ.
    with another_app(celery_app, BROKER_URL=down) as app:
        server = LiveServer(app)
        try:
            before = counts()
            response = requests.post(f"{server.url}/api/v1/bundles",
                                     json={"urls": ["https://one.example/"]}, timeout=60)
            refused(response, 503, "queue_unavailable")
            assert counts() == before
        finally:
            server.stop()


def test_a_submit_needs_the_broker_only_not_the_result_store(ctx, app, celery_app):
    down = f"redis://127.0.0.1:{free_port()}/0"
    with another_app(celery_app, RESULT_BACKEND=down) as other:
        server = LiveServer(other)
        try:
            response = requests.post(f"{server.url}/api/v1/bundles",
                                     json={"urls": ["https://one.example/"]}, timeout=60)
            assert response.status_code == 202, response.text
            bundle_id = response.json()["id"]
            assert fresh(Bundle, bundle_id) is not None  # kept (a worker may have taken it)
        finally:
            server.stop()
    delete_bundle(fresh(Bundle, bundle_id), MediaStore(app.config["MEDIA_DIR"]))
    db.session.commit()


def test_refusals_before_any_view_get_a_code_too(ctx, api, auth_app):
    before = counts()
    cross_site = api("POST", "/bundles", json={"urls": ["a.example"]},
                     headers={"Sec-Fetch-Site": "cross-site"})
    refused(cross_site, 403, "forbidden")
    assert counts() == before
    not_signed_in = auth_app.test_client().get("/api/v1/bundles")
    assert not_signed_in.status_code == 401
    assert not_signed_in.get_json()["code"] == "unauthorized"
    assert "Bearer" in not_signed_in.get_json()["error"]


# The bundles list --------------------------------------------------------------------------

@pytest.fixture
def token():
    """A word no other test's URLs contain, to find this test's bundles in a shared database."""
    return f"tok{secrets.token_hex(4)}"


@pytest.fixture
def submit(ctx, api):
    """Bundles' rows as a submit writes them, never sent to the broker: whatever worker runs
    in this session leaves them queued."""
    made = []

    def submit(*urls):
        bundle = create_bundle(list(urls), client="198.51.100.40")
        db.session.commit()
        made.append(bundle.id)
        return bundle.id
    yield submit
    for bundle_id in made:
        api("DELETE", f"/bundles/{bundle_id}")


def listed(api, **query):
    response = api("GET", "/bundles", params=query)
    assert response.status_code == 200, response.text
    return response.json()


def test_the_list_counts_shots_previews_urls_and_titles(ctx, api, submit, token):
    urls = [f"https://{token}-{n}.example/" for n in range(4)]
    bundle_id = submit(*urls)
    shots = api("GET", f"/bundles/{bundle_id}").json()["shots"]
    assert api("POST", f"/shots/{shots[3]['id']}/cancel").status_code == 202
    first = fresh(Shot, shots[0]["id"])
    first.title = "Front Page of the Test"  # as a capture writes it
    db.session.commit()

    page = listed(api, q=token)
    assert page["next_cursor"] is None
    [item] = page["bundles"]
    assert item == {
        "id": bundle_id, "state": "queued", "total": 4,
        "counts": {"queued": 3, "running": 0, "done": 0, "failed": 0, "cancelled": 1},
        "created_at": item["created_at"], "finished_at": None,
        "urls_preview": urls[:3], "title": "Front Page of the Test"}
    assert item["created_at"].endswith("Z")


def test_the_list_filters_by_state_and_searches_urls_and_titles(ctx, api, submit, token):
    plain = submit(f"https://{token}-plain.example/")
    cancelled = submit(f"https://{token}-cancelled.example/")
    titled = submit(f"https://{token}-titled.example/")
    api("POST", f"/bundles/{cancelled}/cancel")
    shot = fresh(Bundle, titled).shots[0]
    shot.title = f"Quarterly {token} Report"
    db.session.commit()

    def ids(**query):
        return [b["id"] for b in listed(api, **query)["bundles"]]
    assert ids(q=token) == [titled, cancelled, plain]  # newest first
    assert ids(q=token.upper()) == [titled, cancelled, plain]  # any case
    assert ids(q=f"{token}-cancelled", state="cancelled") == [cancelled]
    assert ids(q=token, state="queued") == [titled, plain]
    assert ids(q=f"quarterly {token.upper()} report") == [titled]  # the title, any case
    assert ids(q=token[:3] + "_" + token[4:]) == []  # _ and % are letters, not wildcards
    assert ids(q=token[:3] + "%") == []


def test_the_cursor_pages_stay_put_when_bundles_are_added(ctx, api, submit, token):
    made = [submit(f"https://{token}-{n}.example/") for n in range(5)]
    newest_first = made[::-1]
    first = listed(api, q=token, limit=2)
    assert [b["id"] for b in first["bundles"]] == newest_first[:2]
    added = submit(f"https://{token}-added.example/")  # arrives between two page loads
    second = listed(api, q=token, limit=2, cursor=first["next_cursor"])
    third = listed(api, q=token, limit=2, cursor=second["next_cursor"])
    assert [b["id"] for b in second["bundles"]] == newest_first[2:4]
    assert [b["id"] for b in third["bundles"]] == newest_first[4:]
    assert third["next_cursor"] is None
    assert [b["id"] for b in listed(api, q=token, limit=2)["bundles"]] == [added, made[4]]


def test_the_list_shows_only_the_callers_bundles(ctx, auth_app, token):
    client = auth_app.test_client()
    mine, theirs = new_user(auth_app, "lister"), new_user(auth_app, "other")
    my_token, their_token = new_token(auth_app, mine), new_token(auth_app, theirs)
    made = {}
    for name, key in ((mine, my_token), (theirs, their_token)):
        response = client.post("/api/v1/bundles", headers=bearer(key),
                               json={"urls": [f"https://{token}-{name}.example/"]})
        made[name] = response.get_json()["id"]
    for name, key in ((mine, my_token), (theirs, their_token)):
        page = client.get(f"/api/v1/bundles?q={token}", headers=bearer(key)).get_json()
        assert [b["id"] for b in page["bundles"]] == [made[name]]
        other = made[theirs if name == mine else mine]
        hidden = client.delete(f"/api/v1/bundles/{other}", headers=bearer(key))
        assert hidden.status_code == 404 and hidden.get_json()["code"] == "not_found"
        assert fresh(Bundle, other) is not None
    for name, key in ((mine, my_token), (theirs, their_token)):
        assert client.delete(f"/api/v1/bundles/{made[name]}",
                             headers=bearer(key)).status_code == 204


# Deleting a bundle -------------------------------------------------------------------------

def shot_folders(app, shot_ids):
    store = MediaStore(app.config["MEDIA_DIR"])
    return [Path(store.absolute(store.shot_path(shot_id, "x"))).parent for shot_id in shot_ids]


def test_deleting_a_finished_bundle_removes_its_rows_and_files(ctx, app, api, worker, pages,
                                                               live_server):
    bundle = api("POST", "/bundles", json={"urls": [pages.url(title="To delete"),
                                                    pages.url(title="Also")]}).json()
    wait_finished(bundle["id"])
    shots = api("GET", bundle["url"][len("/api/v1"):]).json()["shots"]
    folders = shot_folders(app, [shot["id"] for shot in shots])
    assert all((folder / "full.png").is_file() and (folder / "thumb.jpg").is_file()
               for folder in folders)

    response = api("DELETE", f"/bundles/{bundle['id']}")
    assert response.status_code == 204 and response.content == b""
    assert fresh(Bundle, bundle["id"]) is None
    assert all(fresh(Shot, shot["id"]) is None for shot in shots)
    assert not any(folder.exists() for folder in folders)
    refused(api("GET", f"/bundles/{bundle['id']}"), 404, "not_found")
    for shot in shots:
        assert requests.get(live_server.url + shot["image_url"], timeout=10).status_code == 404
    refused(api("DELETE", f"/bundles/{bundle['id']}"), 404, "not_found")


def test_a_running_bundle_is_cancelled_then_deleted(ctx, app, api, worker, pages, celery_app):
    hook = pages.url("/echo", id=f"hook-{secrets.token_hex(4)}")
    bundle = api("POST", "/bundles", json={"urls": [pages.url("/slow", delete=1)],
                                           "webhook_url": hook}).json()
    [shot] = fresh(Bundle, bundle["id"]).shots
    shot_id = shot.id
    wait_for(lambda: (s := fresh(Shot, shot_id)) and s.state == "running", timeout=30,
             message="the slow page to be capturing")

    assert api("DELETE", f"/bundles/{bundle['id']}").status_code == 204
    assert fresh(Bundle, bundle["id"]) is None and fresh(Shot, shot_id) is None
    # The cancel came first: it ended the bundle, which wrote its webhook's notice (kept in
    # the outbox, no longer pointing at the deleted bundle).
    db.session.expire_all()
    notices = [json.loads(d.body) for d in db.session.query(WebhookDelivery).filter_by(url=hook)]
    assert [(n["bundle_id"], n["state"]) for n in notices] == [(bundle["id"], "cancelled")]
    assert db.session.query(WebhookDelivery).filter_by(url=hook).one().bundle_id is None
    # The worker lets the deleted shot go and goes on with the next bundle.
    after = api("POST", "/bundles", json={"urls": [pages.url(title="After delete")]}).json()
    assert wait_finished(after["id"]).state == "done"
    assert not shot_folders(app, [shot_id])[0].exists()
    api("DELETE", f"/bundles/{after['id']}")


def test_deleting_a_watch_run_deletes_the_run_not_the_watch(ctx, api, a_watch):
    run = api("POST", f"/watches/{a_watch['id']}/run")
    assert run.status_code == 202
    bundle_id = run.json()["bundle_id"]
    db.session.expire_all()
    assert db.session.query(WatchRun).filter_by(bundle_id=bundle_id).count() == 1

    assert api("DELETE", f"/bundles/{bundle_id}").status_code == 204
    db.session.expire_all()
    assert db.session.query(WatchRun).filter_by(bundle_id=bundle_id).count() == 0
    assert fresh(Bundle, bundle_id) is None
    watch = api("GET", f"/watches/{a_watch['id']}")
    assert watch.status_code == 200 and watch.json()["captures"] == []
