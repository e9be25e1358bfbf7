"""The paste form and pages through the Flask test client: messages by the field, nothing half-saved."""
import re
from datetime import timedelta
from html import unescape as html_unescape

import pytest

from shootflow.extensions import db
from shootflow.lifecycle import create_bundle
from shootflow.models import Bundle, Shot, utcnow
from shootflow.services import delete_bundle
from shootflow.storage import MediaStore
from tests.helpers import form_poster, row_counts, wait_finished


@pytest.fixture
def form(client):
    return form_poster(client, "/")


@pytest.mark.parametrize("text, message", [
    ("", "Paste at least one URL, one per line."),
    ("\n   \n", "Paste at least one URL, one per line."),
    ("example.com\nfile:///etc/passwd", "Line 2 (file:///etc/passwd) uses file:"),
    ("javascript:alert(1)", "Line 1 (javascript:alert(1)) uses javascript:"),
    ("http://exa mple.com", "contains spaces"),
    ("https://example.com/" + "a" * 2001, "longer than 2,000 characters"),
    ("\n".join(f"site{i}.example" for i in range(6)), "at most 5 URLs; you gave 6"),
])
def test_form_shows_the_message_next_to_the_field(ctx, form, text, message):
    before = row_counts()
    response = form("/bundles", {"urls": text})
    html = response.get_data(as_text=True)
    assert response.status_code == 400
    assert 'id="urls-error"' in html and 'aria-invalid="true"' in html
    error = html.split('id="urls-error"', 1)[1].split("</p>", 1)[0]
    assert message.replace("(", "(").replace("'", "&#39;") in error
    assert row_counts() == before


def test_form_keeps_what_was_typed(ctx, form):
    html = form("/bundles", {"urls": "good.example\nchrome://x"}).get_data(True)
    assert ">good.example\nchrome://x</textarea>" in html


def test_form_redirects_to_the_bundle_page(ctx, client, form, pages):
    response = form("/bundles", {"urls": pages.url(title="Form")})
    assert response.status_code == 303
    page = client.get(response.headers["Location"])
    assert page.status_code == 200
    assert 'hx-trigger="every 500ms"' in page.get_data(True)


def test_htmx_request_gets_only_the_partial(ctx, client, form, pages):
    location = form("/bundles", {"urls": pages.url()}).headers["Location"]
    partial = client.get(location, headers={"HX-Request": "true"}).get_data(True)
    assert partial.lstrip().startswith('<section id="bundle"')
    assert "<html" not in partial


def _poll_url(html):
    """The address the bundle page polls next, as htmx builds it (hx-get + hx-include)."""
    url = html_unescape(re.search(r'hx-get="([^"]+since=[^"]+)"', html).group(1))
    upto = re.search(r'id="cards-upto" name="upto" value="(-?\d+)"', html).group(1)
    return f"{url}&upto={upto}"


def _card_ids(html, oob=False):
    marker = r'[^>]*hx-swap-oob="true"' if oob else ""
    return re.findall(r'<li class="card[^>]*id="shot-(\w+)"' + marker, html)


@pytest.fixture
def unsent_bundle(app):
    """Make bundles of n queued shots as a submit writes them, but never sent: the session's
    worker must not change them while a test polls (each is deleted afterwards)."""
    made = []

    def make(n):
        bundle = create_bundle([f"https://unsent-{i}.example/" for i in range(n)],
                               client="127.0.0.1")
        db.session.commit()
        # Every card was last changed an hour ago, long before the page is first shown.
        db.session.execute(db.update(Shot).where(Shot.bundle_id == bundle.id).values(
            updated_at=utcnow() - timedelta(hours=1)))
        db.session.commit()
        made.append(bundle.id)
        return f"/bundles/{bundle.id}", bundle

    yield make
    store = MediaStore(app.config["MEDIA_DIR"])
    for bundle_id in made:
        delete_bundle(db.session.get(Bundle, bundle_id), store)


def test_poll_sends_only_the_cards_changed_since_the_last_one(ctx, client, unsent_bundle):
    location, bundle = unsent_bundle(2)
    first, second = bundle.shots
    poll = _poll_url(client.get(location).get_data(True))

    quiet = client.get(poll, headers={"HX-Request": "true"}).get_data(True)
    assert quiet.lstrip().startswith('<div id="bundle-status"')
    assert "0 of 2 finished" in quiet and 'class="card' not in quiet

    second.state, second.error = "failed", "made to fail by the test"
    db.session.commit()  # stamps updated_at, as every worker's change does
    changed = client.get(poll, headers={"HX-Request": "true"}).get_data(True)
    assert "1 of 2 finished" in changed
    assert _card_ids(changed, oob=True) == [second.id]
    assert "made to fail by the test" in changed and first.id not in changed
    assert 'hx-trigger="every 500ms"' in changed  # still running: the next poll comes


def test_the_poll_that_finds_the_bundle_finished_sends_every_card_shown(
        ctx, client, unsent_bundle):
    location, bundle = unsent_bundle(2)
    poll = _poll_url(client.get(location).get_data(True))
    bundle.state = "cancelled"
    db.session.commit()

    last = client.get(poll, headers={"HX-Request": "true"}).get_data(True)
    assert _card_ids(last, oob=True) == [shot.id for shot in bundle.shots]
    assert "every 500ms" not in last  # finished: the polling stops


def test_long_bundle_shows_the_first_cards_and_loads_the_rest_on_scroll(
        ctx, client, unsent_bundle, monkeypatch):
    monkeypatch.setattr("shootflow.web.pages.CARDS_PER_LOAD", 2)
    location, bundle = unsent_bundle(5)
    ids = [shot.id for shot in bundle.shots]
    page = client.get(location).get_data(True)
    assert _card_ids(page) == ids[:2]
    assert 'id="cards-upto" name="upto" value="1"' in page
    more = html_unescape(re.search(r'hx-get="([^"]+/cards\?after=1)"', page).group(1))
    assert 'hx-trigger="revealed"' in page and "Show all 5 shots" in page

    chunk = client.get(more, headers={"HX-Request": "true"}).get_data(True)
    assert _card_ids(chunk) == ids[2:4]
    assert 'id="cards-upto" name="upto" value="3" hx-swap-oob="true"' in chunk
    last = client.get(html_unescape(re.search(r'hx-get="([^"]+/cards\?after=3)"', chunk)
                                    .group(1)), headers={"HX-Request": "true"}).get_data(True)
    assert _card_ids(last) == ids[4:] and "/cards?after" not in last

    # Polls ask only for cards on the page: a change further down is not sent.
    for shot in bundle.shots:
        shot.error = "changed"
    db.session.commit()
    poll = _poll_url(page)
    assert _card_ids(client.get(poll, headers={"HX-Request": "true"}).get_data(True),
                     oob=True) == ids[:2]
    # Without JavaScript the link shows every card.
    assert _card_ids(client.get(f"{location}?all=1").get_data(True)) == ids


@pytest.mark.parametrize("query, message", [
    ("since=yesterday", "since must be a UTC time"),
    ("since=2026-13-01T00:00:00", "since must be a UTC time"),
    ("since=", "since must be a UTC time"),
    ("since=2026-01-01T00:00:00&upto=ten", "upto must be a whole number of -1 or more."),
    ("since=2026-01-01T00:00:00&upto=-2", "upto must be a whole number of -1 or more."),
])
def test_poll_with_bad_values_is_refused(ctx, client, form, pages, query, message):
    location = form("/bundles", {"urls": pages.url()}).headers["Location"]
    before = row_counts()
    response = client.get(f"{location}?{query}", headers={"HX-Request": "true"})
    assert response.status_code == 400
    assert message in response.get_data(True)
    assert row_counts() == before


@pytest.mark.parametrize("after", ["", "x", "-5", "1.5"])
def test_loading_more_cards_with_a_bad_position_is_refused(ctx, client, form, pages, after):
    location = form("/bundles", {"urls": pages.url()}).headers["Location"]
    response = client.get(f"{location}/cards?after={after}", headers={"HX-Request": "true"})
    assert response.status_code == 400
    assert "after must be a whole number of -1 or more." in response.get_data(True)


def test_unknown_pages_are_404(client):
    assert client.get("/bundles/000000000000000000000000").status_code == 404
    assert client.get("/shots/nothing").status_code == 404
    assert client.get("/shots/nothing/image.png").status_code == 404


@pytest.mark.parametrize("url", ["/bundles", "/bundles/000000000000000000000000/cancel"])
def test_form_without_its_csrf_token_is_refused(ctx, client, url):
    before = row_counts()
    response = client.post(url, data={"urls": "example.com"})
    assert response.status_code == 400
    assert "did not come from shootflow" in response.get_data(as_text=True)
    assert row_counts() == before


def test_pages_send_security_headers(client):
    headers = client.get("/").headers
    assert "frame-ancestors 'none'" in headers["Content-Security-Policy"]
    assert "script-src 'self'" in headers["Content-Security-Policy"]
    assert headers["X-Content-Type-Options"] == "nosniff"


def test_oversized_request_body_is_refused(ctx, client):
    before = row_counts()
    response = client.post("/api/v1/bundles", data=b"x" * (3 * 1024 * 1024),
                           content_type="application/json")
    assert response.status_code == 413
    assert "too large" in response.get_json()["error"]
    assert row_counts() == before


def test_page_titles_are_shown_as_text(ctx, client, form, worker, pages):
    title = "<script>alert('owned')</script>"
    location = form("/bundles", {"urls": pages.url(title=title)}).headers["Location"]
    bundle = wait_finished(location.rsplit("/", 1)[1])
    assert bundle.shots[0].title == title
    for url in (location, f"/shots/{bundle.shots[0].id}", "/"):
        html = client.get(url).get_data(as_text=True)
        assert "<script>alert" not in html
    assert "&lt;script&gt;alert(&#39;owned&#39;)&lt;/script&gt;" in client.get(location).get_data(True)


def test_the_home_page_lists_bundles_without_loading_their_shots(ctx, app, client):
    """Each recent bundle's size and first URL come from two small queries; no shot row is
    loaded (a 1,000-URL bundle would cost 1,000 rows for one line)."""
    from sqlalchemy import event

    from shootflow.lifecycle import create_bundle
    create_bundle([f"https://example.com/{n}" for n in range(30)])
    db.session.commit()
    statements = []

    def seen(_conn, _cursor, statement, *_):
        statements.append(statement)
    event.listen(db.engine, "before_cursor_execute", seen)
    try:
        page = client.get("/").get_data(as_text=True)
    finally:
        event.remove(db.engine, "before_cursor_execute", seen)
    assert "30 URLs" in page and "https://example.com/0" in page
    assert not [s for s in statements if "shot.title" in s], "shot rows were loaded"
    assert len([s for s in statements if "FROM shot" in s]) == 2


def test_the_form_s_options_are_kept_with_the_bundle(ctx, client, form, pages):
    from shootflow.models import Bundle
    from tests.helpers import fresh
    response = form("/bundles", {
        "urls": pages.url(title="Options"), "viewport": "tablet", "format": "webp",
        "full_page": "1", "dark_mode": "1", "hide_banners": "1", "delay": "1.5"})
    assert response.status_code == 303
    bundle_id = response.headers["Location"].rsplit("/", 1)[-1]
    assert fresh(Bundle, bundle_id).options == {
        "viewport": "tablet", "format": "webp", "full_page": True, "dark_mode": True,
        "hide_banners": True, "delay": 1.5}
    client.post(f"/api/v1/bundles/{bundle_id}/cancel")


@pytest.mark.parametrize("field, value, message", [
    ("delay", "soon", 'Option "delay" (Wait) must be a number'),
    ("delay", "45", 'Option "delay" must be from 0 to 30'),
    ("viewport", "10x10", 'Option "viewport" must be 320–3840 wide'),
    ("format", "bmp", 'Option "format" must be one of png, jpeg, webp, pdf'),
])
def test_the_form_refuses_bad_options_and_keeps_what_was_typed(ctx, form, field, value,
                                                               message):
    before = row_counts()
    response = form("/bundles", {"urls": "https://example.com/", field: value})
    page = response.get_data(as_text=True)
    assert response.status_code == 400 and message in html_unescape(page)
    assert "https://example.com/</textarea>" in page
    assert row_counts() == before
