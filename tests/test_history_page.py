"""The history page: every bundle, a page at a time, searched by URL or title and kept to one
state, with each bundle's shots counted; bad queries answered 400, nothing written."""
import re
from datetime import datetime, timedelta, timezone

import pytest

from shootflow.extensions import db
from shootflow.history import encode_cursor
from shootflow.lifecycle import create_bundle
from shootflow.models import Bundle, BundleState, ShotState, utcnow
from tests.helpers import row_counts


@pytest.fixture
def bundles(ctx):
    """Thirty bundles of two shots each, one of them done with a title, the rest queued."""
    made, start = [], utcnow()
    for n in range(30):
        bundle = create_bundle([f"https://history-{n}.example/", f"https://other-{n}.example/"])
        bundle.created_at = start + timedelta(milliseconds=n)  # in this order, no two alike
        db.session.flush()
        if n % 10 == 0:
            bundle.state = BundleState.DONE
            bundle.shots[0].state = bundle.shots[1].state = ShotState.DONE
            bundle.shots[0].title = f"Title number {n}"
        made.append(bundle.id)
    db.session.commit()
    yield made
    for bundle_id in made:
        db.session.delete(db.session.get(Bundle, bundle_id))
    db.session.commit()


def listed(html):
    return re.findall(r'href="/bundles/([0-9a-f]{24})"', html)


def test_every_bundle_a_page_at_a_time(client, bundles):
    first = client.get("/history")
    assert first.status_code == 200
    html = first.get_data(as_text=True)
    assert listed(html) == list(reversed(bundles))[:25]  # newest first
    assert "2 URLs · 2 queued" in html
    older = re.search(r'rel="next" href="([^"]+)"', html).group(1).replace("&amp;", "&")
    rest = listed(client.get(older).get_data(as_text=True))
    assert rest[:5] == list(reversed(bundles))[25:]


def test_search_by_url_or_title_and_state(client, bundles):
    html = client.get("/history?q=HISTORY-7.example").get_data(as_text=True)
    assert listed(html) == [bundles[7]]
    html = client.get("/history?q=title+number+20").get_data(as_text=True)
    assert listed(html) == [bundles[20]] and "Title number 20" in html
    html = client.get("/history?state=done").get_data(as_text=True)
    assert listed(html)[:3] == [bundles[20], bundles[10], bundles[0]]
    assert "2 URLs · 2 done" in html
    html = client.get("/history?q=100%25").get_data(as_text=True)  # % is not a wildcard
    assert listed(html) == [] and "No bundle matches." in html


@pytest.mark.parametrize("query, message", [
    ("state=finished", "There is no bundle state &#39;finished&#39;"),
    ("cursor=not-a-cursor", "cursor is not one this server gave"),
    # Well formed, but with a time zone ours never have: on PostgreSQL it would be compared
    # in the server's zone and give a wrong page.
    ("cursor=" + encode_cursor(datetime(2026, 1, 1, tzinfo=timezone.utc), "f" * 24),
     "cursor is not one this server gave"),
    ("q=" + "x" * 201, "Search for at most 200 characters."),
    # PostgreSQL's text refuses NUL: refused here, not a failed query.
    ("q=a%00b", "Search text cannot contain NUL characters."),
])
def test_bad_queries_are_refused(client, bundles, query, message):
    before = row_counts()
    response = client.get(f"/history?{query}")
    assert response.status_code == 400
    assert message in response.get_data(as_text=True)
    assert row_counts() == before
