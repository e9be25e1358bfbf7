"""The paste form and pages through the Flask test client: messages by the field, nothing half-saved."""
import pytest

from tests.helpers import row_counts


@pytest.mark.parametrize("text, message", [
    ("", "Paste at least one URL, one per line."),
    ("\n   \n", "Paste at least one URL, one per line."),
    ("example.com\nfile:///etc/passwd", "Line 2 (file:///etc/passwd) uses file:"),
    ("javascript:alert(1)", "Line 1 (javascript:alert(1)) uses javascript:"),
    ("http://exa mple.com", "contains spaces"),
    ("https://example.com/" + "a" * 2001, "longer than 2,000 characters"),
    ("\n".join(f"site{i}.example" for i in range(6)), "at most 5 URLs; you gave 6"),
])
def test_form_shows_the_message_next_to_the_field(ctx, client, text, message):
    before = row_counts()
    response = client.post("/bundles", data={"urls": text})
    html = response.get_data(as_text=True)
    assert response.status_code == 400
    assert 'id="urls-error"' in html and 'aria-invalid="true"' in html
    error = html.split('id="urls-error"', 1)[1].split("</p>", 1)[0]
    assert message.replace("(", "(").replace("'", "&#39;") in error
    assert row_counts() == before


def test_form_keeps_what_was_typed(ctx, client):
    html = client.post("/bundles", data={"urls": "good.example\nchrome://x"}).get_data(True)
    assert ">good.example\nchrome://x</textarea>" in html


def test_form_redirects_to_the_bundle_page(ctx, client, pages):
    response = client.post("/bundles", data={"urls": pages.url(title="Form")})
    assert response.status_code == 303
    page = client.get(response.headers["Location"])
    assert page.status_code == 200
    assert 'hx-trigger="every 1s"' in page.get_data(True)


def test_htmx_request_gets_only_the_partial(ctx, client, pages):
    location = client.post("/bundles", data={"urls": pages.url()}).headers["Location"]
    partial = client.get(location, headers={"HX-Request": "true"}).get_data(True)
    assert partial.lstrip().startswith('<section id="bundle"')
    assert "<html" not in partial


def test_unknown_pages_are_404(client):
    assert client.get("/bundles/000000000000000000000000").status_code == 404
    assert client.get("/shots/nothing").status_code == 404
    assert client.get("/shots/nothing/image.png").status_code == 404
