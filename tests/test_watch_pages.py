"""The watches pages: add one with the form, follow its timeline, compare two captures."""
import re
from html import unescape

import pytest

from shootflow.extensions import db
from shootflow.models import Watch
from tests.helpers import form_poster, wait_finished
from tests.test_watches import PAGE


@pytest.fixture
def form(client):
    return form_poster(client, "/watches")


def watches():
    db.session.expire_all()
    return db.session.query(Watch).count()


def test_add_a_watch_with_the_form_and_follow_its_timeline(ctx, client, worker, pages, form):
    url = pages.set_page("paged", PAGE.format(width=100))
    response = form("/watches", {"url": url, "schedule": "every 2 hours",
                                 "timezone": "Europe/Berlin", "threshold": "5"})
    assert response.status_code == 303
    location = response.headers["Location"]
    watch_id = location.rsplit("/", 1)[-1]
    page = client.get(location).get_data(as_text=True)
    assert "every 2 hours (Europe/Berlin)" in page and "changed when over 5% of pixels" in page
    assert "No capture yet" in page

    for width in (100, 900):
        pages.set_page("paged", PAGE.format(width=width))
        assert form(f"/watches/{watch_id}/run", {}).status_code == 303
        bundle_id = db.session.scalars(db.select(Watch).where(Watch.id == watch_id)).one() \
            .runs[0].bundle_id
        wait_finished(bundle_id, timeout=60)

    timeline = client.get(location, headers={"HX-Request": "true"}).get_data(as_text=True)
    assert timeline.count('class="run') == 2 and "<strong>a change</strong>" in timeline
    assert "first capture" in timeline
    compare = unescape(re.search(r'href="([^"]+mode=side)"', timeline).group(1))
    for mode in ("side", "overlay", "diff"):
        assert client.get(compare.replace("mode=side", f"mode={mode}")).status_code == 200
    picture = client.get(compare.replace("/compare?", "/compare.png?"))
    assert picture.mimetype == "image/png" and picture.data.startswith(b"\x89PNG")
    listing = client.get("/watches").get_data(as_text=True)
    assert url.replace("&", "&amp;") in listing and "changed" in listing
    assert form(f"/watches/{watch_id}/delete", {}).status_code == 303
    assert client.get(location).status_code == 404


@pytest.mark.parametrize("fields, message", [
    ({"url": "", "schedule": "@daily"}, "url"),
    ({"url": "https://example.com/", "schedule": "now and then"}, "not a five-field cron"),
    ({"url": "https://example.com/", "schedule": "@daily", "timezone": "Moon/Base"},
     "not an IANA time zone"),
    ({"url": "https://example.com/", "schedule": "@daily", "threshold": "lots"},
     '"threshold" must be the share of pixels'),
])
def test_the_form_refuses_bad_values_and_keeps_what_was_typed(ctx, client, form, fields,
                                                              message):
    before = watches()
    response = form("/watches", fields)
    page = unescape(response.get_data(as_text=True))
    assert response.status_code == 400 and message in page
    assert f'value="{fields["schedule"]}"' in page
    assert watches() == before


def test_compare_needs_two_of_the_watch_s_own_captures(ctx, client, pages, form):
    response = form("/watches", {"url": pages.url(title="Lonely"), "schedule": "@daily"})
    watch_id = response.headers["Location"].rsplit("/", 1)[-1]
    assert client.get(f"/watches/{watch_id}/compare?a=x&b=y").status_code == 404
    assert client.get(f"/watches/{watch_id}/compare.png?a=x&b=y").status_code == 404
    form(f"/watches/{watch_id}/delete", {})
