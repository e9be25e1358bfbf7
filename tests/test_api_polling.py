"""Polling big bundles cheaply, over HTTP against the running app: ETag and 304 Not Modified
on a bundle and its status, the shots a page (or only those changed since), and images
served with an ETag, 304 and HEAD. The answers are checked against the OpenAPI document's
schemas, with real captures in them."""
from datetime import timedelta, timezone

import pytest
import requests
from openapi_schema_validator import OAS30Validator
from sqlalchemy import event

from shootflow.extensions import db
from shootflow.lifecycle import create_bundle
from shootflow.models import Shot, utcnow
from shootflow.testing.servers import wait_for
from tests.helpers import bearer, fresh, new_token, new_user, wait_finished


@pytest.fixture(scope="module")
def http(live_server):
    session = requests.Session()

    def get(path, method="GET", **kwargs):
        return session.request(method, live_server.url + path, timeout=30, **kwargs)
    yield get
    session.close()


@pytest.fixture(scope="module")
def answers_match(http):
    """check(body, "Bundle"): body is valid against that schema of the served document."""
    document = http("/api/v1/openapi.json").json()

    def check(body, name):
        schema = {"$ref": f"#/components/schemas/{name}",
                  "components": document["components"]}
        errors = [e.message for e in OAS30Validator(schema).iter_errors(body)]
        assert errors == [], errors
    return check


@pytest.fixture
def queued(ctx, http):
    """A bundle of five queued shots, its rows as a submit writes them but never sent to the
    broker: no worker changes it on its own."""
    bundle = create_bundle([f"https://polled-{n}.example/" for n in range(5)],
                           client="198.51.100.41")
    db.session.commit()
    yield {"id": bundle.id}
    http(f"/api/v1/bundles/{bundle.id}", "DELETE")


@pytest.fixture
def statements(app):
    """The SQL statements the app runs while the block runs (a real engine event)."""
    seen = []

    def record(_conn, _cursor, statement, *_args):
        seen.append(statement)
    with app.app_context():
        engine = db.engine
    event.listen(engine, "before_cursor_execute", record)
    yield seen
    event.remove(engine, "before_cursor_execute", record)


@pytest.mark.parametrize("suffix, kind", [("", "Bundle"), ("/status", "BundleStatus")])
def test_an_unchanged_bundle_answers_304_without_reading_its_shots(
        http, queued, statements, answers_match, suffix, kind):
    path = f"/api/v1/bundles/{queued['id']}{suffix}"
    first = http(path)
    assert first.status_code == 200
    answers_match(first.json(), kind)
    etag = first.headers["ETag"]
    assert etag.startswith('W/"') and "no-cache" in first.headers["Cache-Control"]

    statements.clear()
    again = http(path, headers={"If-None-Match": etag})
    assert again.status_code == 304 and again.content == b""
    assert again.headers["ETag"] == etag
    # One row for the bundle and one aggregate over its shots: no shot row is read.
    assert len(statements) == 2, statements
    assert not any("shot.options" in statement for statement in statements)
    assert http(path, headers={"If-None-Match": '"something-else"'}).status_code == 200


def test_the_etag_changes_with_any_shot(ctx, http, queued):
    path = f"/api/v1/bundles/{queued['id']}"
    tags = {http(path).headers["ETag"], http(path + "/status").headers["ETag"]}
    assert len(tags) == 2  # two forms of one bundle: two tags

    shots = http(path).json()["shots"]
    queued_tag = http(path).headers["ETag"]
    assert http(f"/api/v1/shots/{shots[1]['id']}/cancel", "POST").status_code == 202
    cancelled = http(path, headers={"If-None-Match": queued_tag})
    assert cancelled.status_code == 200 and cancelled.headers["ETag"] != queued_tag
    assert cancelled.json()["shots"][1]["state"] == "cancelled"

    # Two shots capturing; one is captured (so "processing") by a machine whose clock is
    # behind: the counts stay, and the newest updated_at is still the other shot's. The tag
    # moves all the same.
    now = utcnow()
    for shot_id, stamped in ((shots[2]["id"], now), (shots[3]["id"], now + timedelta(seconds=1))):
        shot = fresh(Shot, shot_id)
        shot.state, shot.attempts, shot.updated_at = "running", 1, stamped
    db.session.commit()
    capturing = http(path).headers["ETag"]
    shot = fresh(Shot, shots[2]["id"])
    shot.image_path, shot.updated_at = "shots/xx/captured.png", now - timedelta(minutes=1)
    db.session.commit()
    processing = http(path, headers={"If-None-Match": capturing})
    assert processing.status_code == 200 and processing.headers["ETag"] != capturing
    assert processing.json()["shots"][2]["image_url"] is not None


def test_the_status_is_the_bundle_without_its_shots(ctx, http, queued):
    status = http(f"/api/v1/bundles/{queued['id']}/status").json()
    full = http(f"/api/v1/bundles/{queued['id']}").json()
    assert status == {"id": queued["id"], "state": "queued", "total": 5,
                      "counts": {"queued": 5, "running": 0, "done": 0, "failed": 0,
                                 "cancelled": 0},
                      "created_at": full["created_at"], "finished_at": None}
    assert {key: full[key] for key in ("id", "state", "counts", "created_at")} == \
        {key: status[key] for key in ("id", "state", "counts", "created_at")}


def test_shots_come_a_page_at_a_time_in_order(ctx, http, queued, answers_match):
    path = f"/api/v1/bundles/{queued['id']}/shots"
    everything = http(f"/api/v1/bundles/{queued['id']}").json()["shots"]
    pages, cursor = [], None
    while True:
        page = http(path, params={"limit": 2, **({"cursor": cursor} if cursor else {})}).json()
        answers_match(page, "ShotPage")
        pages.append([shot["id"] for shot in page["shots"]])
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert pages == [[s["id"] for s in everything[i:i + 2]] for i in (0, 2, 4)]
    assert http(path).json() == {"shots": everything, "next_cursor": None}


def test_since_gives_only_the_shots_changed_since(ctx, http, queued):
    path = f"/api/v1/bundles/{queued['id']}/shots"
    shots = http(f"/api/v1/bundles/{queued['id']}").json()["shots"]
    mark = utcnow()
    assert http(path, params={"since": mark.isoformat()}).json() == \
        {"shots": [], "next_cursor": None}
    for shot in (shots[3], shots[1]):
        assert http(f"/api/v1/shots/{shot['id']}/cancel", "POST").status_code == 202
    changed = http(path, params={"since": mark.isoformat() + "Z"}).json()["shots"]
    assert [(s["id"], s["state"]) for s in changed] == \
        [(shots[1]["id"], "cancelled"), (shots[3]["id"], "cancelled")]
    elsewhere = mark.replace(tzinfo=timezone.utc).astimezone(timezone(timedelta(hours=-5)))
    assert http(path, params={"since": elsewhere.isoformat()}).json()["shots"] == changed


# Images ------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def captured(ctx_module, http, worker, pages):
    """A finished bundle of one real capture, as its API answer."""
    bundle = http("/api/v1/bundles", "POST", json={"urls": [
        pages.url(title="Cached", color="#3366cc")]}).json()
    wait_finished(bundle["id"])
    yield http(bundle["url"]).json()
    http(bundle["url"], "DELETE")


@pytest.fixture(scope="module")
def ctx_module(app):
    with app.app_context():
        yield


def test_a_real_bundle_answers_as_documented(captured, answers_match):
    assert captured["state"] == "done"
    answers_match(captured, "Bundle")


@pytest.mark.parametrize("kind", ["image_url", "thumbnail_url"])
def test_images_answer_304_to_their_etag_and_head(http, captured, kind):
    shot = captured["shots"][0]
    first = http(shot[kind])
    assert first.status_code == 200 and first.content
    etag = first.headers["ETag"]
    if kind == "image_url":  # the picture's own hash, as the shot reports it
        assert etag == f'"{shot["sha256"]}"'
    cache = first.headers["Cache-Control"]
    assert "max-age=86400" in cache and "public" in cache

    again = http(shot[kind], headers={"If-None-Match": etag})
    assert again.status_code == 304 and again.content == b""
    assert again.headers["ETag"] == etag

    head = http(shot[kind], "HEAD")
    assert head.status_code == 200 and head.content == b""
    assert head.headers["ETag"] == etag
    assert int(head.headers["Content-Length"]) == len(first.content)


def test_a_diff_picture_answers_304_to_its_etag(ctx, http, worker, pages):
    page = """<!doctype html><html><head><title>diffed</title><style>body{{margin:0;
height:100vh;background:#ffffff}} #box{{position:absolute;left:0;top:0;width:{}px;
height:200px;background:#ff0000}}</style></head><body><div id="box"></div></body></html>"""
    url = pages.set_page("etag-diff", page.format(100))
    watch = http("/api/v1/watches", "POST", json={"url": url, "schedule": "@daily"}).json()
    try:
        for width in (100, 700):
            pages.set_page("etag-diff", page.format(width))
            run = http(f"/api/v1/watches/{watch['id']}/run", "POST").json()
            wait_finished(run["bundle_id"], timeout=60)
        capture = wait_for(lambda: (c := http(f"/api/v1/watches/{watch['id']}").json()
                                    ["captures"][0])["diff_url"] and c,
                           timeout=30, message="the second run's difference picture")
        first = http(capture["diff_url"])
        assert first.status_code == 200 and first.headers["Content-Type"] == "image/png"
        again = http(capture["diff_url"], headers={"If-None-Match": first.headers["ETag"]})
        assert again.status_code == 304 and again.content == b""
        assert http(capture["diff_url"], "HEAD").headers["ETag"] == first.headers["ETag"]
    finally:
        http(f"/api/v1/watches/{watch['id']}?files=1", "DELETE")


def test_with_accounts_images_may_be_kept_by_the_browser_only(ctx, auth_app, worker, pages):
    client = auth_app.test_client()
    key = bearer(new_token(auth_app, new_user(auth_app, "cached")))
    bundle = client.post("/api/v1/bundles", headers=key,
                         json={"urls": [pages.url(title="Private")]}).get_json()
    wait_finished(bundle["id"])
    shot = client.get(bundle["url"], headers=key).get_json()["shots"][0]
    image = client.get(shot["image_url"], headers=key)
    assert image.status_code == 200
    assert "private" in image.headers["Cache-Control"]
    assert "public" not in image.headers["Cache-Control"]
    again = client.get(shot["image_url"], headers={**key, "If-None-Match": image.headers["ETag"]})
    assert again.status_code == 304 and "private" in again.headers["Cache-Control"]
    polled = client.get(f"{bundle['url']}/status", headers=key)
    assert "private" in polled.headers["Cache-Control"]
    client.delete(bundle["url"], headers=key)
