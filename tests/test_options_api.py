"""Capture options through the JSON API with a real worker and Chromium: what is kept, what
comes back, and every bad value refused with nothing written."""
import io

import pytest
from PIL import Image

from shootflow.models import Bundle
from tests.helpers import fresh, row_counts, wait_finished


def test_options_are_kept_once_per_bundle_and_overridden_per_url(ctx, client, pages):
    body = client.post("/api/v1/bundles", json={
        "options": {"full_page": True, "format": "jpeg"},
        "urls": [pages.url(title="Plain"),
                 {"url": pages.url(title="Own"), "options": {"format": "png"}}]})
    assert body.status_code == 202, body.get_json()
    bundle = fresh(Bundle, body.get_json()["id"])
    assert bundle.options == {"full_page": True, "format": "jpeg"}
    assert [shot.options for shot in bundle.shots] == [None, {"format": "png"}]
    shots = client.get(body.get_json()["url"]).get_json()["shots"]
    assert [s["options"]["format"] for s in shots] == ["jpeg", "png"]
    assert all(s["options"]["full_page"] for s in shots)
    client.post(f"{body.get_json()['url']}/cancel")


def test_a_list_of_viewports_gives_one_shot_each(ctx, client, pages):
    body = client.post("/api/v1/bundles", json={
        "options": {"viewport": ["phone", "1024x768"]}, "urls": [pages.url(title="Twice")]})
    bundle = fresh(Bundle, body.get_json()["id"])
    assert [shot.options for shot in bundle.shots] == [{"viewport": "phone"},
                                                       {"viewport": "1024x768"}]
    page = client.get(f"/bundles/{bundle.id}").get_data(as_text=True)
    assert '<p class="shot-options">viewport phone</p>' in page
    assert '<p class="shot-options">viewport 1024x768</p>' in page
    client.post(f"{body.get_json()['url']}/cancel")


def test_a_jpeg_full_page_shot_end_to_end(ctx, client, worker, pages):
    body = client.post("/api/v1/bundles", json={
        "options": {"full_page": True, "format": "jpeg", "quality": 70},
        "urls": [pages.url("/doc", name="tall")]}).get_json()
    bundle = wait_finished(body["id"], timeout=60)
    assert bundle.state == "done", bundle.shots[0].error
    shot = client.get(body["url"]).get_json()["shots"][0]
    assert (shot["format"], shot["width"], shot["height"], shot["truncated"]) == \
        ("jpeg", 1280, 6000, False)
    assert shot["image_url"].endswith("/image.jpg") and shot["attempts"] == 1
    image = client.get(shot["image_url"])
    assert image.mimetype == "image/jpeg" and len(image.data) == shot["bytes"]
    assert Image.open(io.BytesIO(image.data)).size == (1280, 6000)
    import hashlib
    assert hashlib.sha256(image.data).hexdigest() == shot["sha256"]
    assert set(shot["timings"]) >= {"queued", "navigation", "ready", "capture", "encode",
                                    "processing"}
    assert shot["redirects"] == [pages.url("/doc", name="tall")]


def test_a_pdf_has_a_thumbnail_of_its_first_page(ctx, client, worker, pages):
    response = client.post("/api/v1/shots?wait=60", json={
        "url": pages.url(title="Printed", color="#ff0000"), "options": {"format": "pdf"}})
    shot = response.get_json()
    assert response.status_code == 200 and shot["state"] == "done", shot["error"]
    pdf = client.get(shot["image_url"])
    assert pdf.mimetype == "application/pdf" and pdf.data.startswith(b"%PDF-")
    thumbnail = Image.open(io.BytesIO(client.get(shot["thumbnail_url"]).data)).convert("RGB")
    red, green, blue = thumbnail.getpixel((200, 200))
    assert red > 200 and green < 60 and blue < 60  # the page's red, not a blank


@pytest.mark.parametrize("options, message", [
    ({"viewport": "10x10"}, 'Option "viewport" must be 320–3840 wide and 200–2160 high'),
    ({"viewport": "huge"}, 'Option "viewport" must be "WIDTHxHEIGHT"'),
    ({"viewport": ["phone"] * 6}, 'Option "viewport" must list 1 to 5 viewports'),
    ({"full_page": "yes"}, 'Option "full_page" must be true or false'),
    ({"max_height": 70000}, 'Option "max_height" must be from 200 to 65536'),
    ({"scale": 4}, 'Option "scale" must be from 1 to 3'),
    ({"format": "gif"}, 'Option "format" must be one of png, jpeg, webp, pdf'),
    ({"format": "jpeg", "quality": 0}, 'Option "quality" must be from 1 to 100'),
    ({"quality": 50}, 'Option "quality" applies only to "format": "jpeg" or "webp"'),
    ({"wait_until": "domcontentloaded"}, 'Option "wait_until" must be one of load, network'),
    ({"wait_for": ""}, 'Option "wait_for" must be a non-empty string'),
    ({"delay": 31}, 'Option "delay" must be from 0 to 30'),
    ({"timeout": 0}, 'Option "timeout" must be from 1 to 120'),
    ({"timeout": 1.5}, 'Option "timeout" must be a whole number'),
    ({"selector": 5}, 'Option "selector" must be a non-empty string'),
    ({"hide": [""]}, 'Option "hide[0]" must be a non-empty string'),
    ({"hide_banners": 1}, 'Option "hide_banners" must be true or false'),
    ({"dark_mode": None}, 'Option "dark_mode" must be true or false'),
    ({"user_agent": "a\nb"}, 'Option "user_agent" must not contain line breaks'),
    ({"headers": {"Host": "x"}}, 'Option "headers" may not set Host'),
    ({"headers": {"Bad Name": "x"}}, 'Option "headers" has an invalid header name'),
    ({"headers": ["x"]}, 'Option "headers" must be an object'),
    ({"cookies": [{"name": "a"}]}, 'Option "cookies[0]" must be an object with "name"'),
    ({"cookies": [{"name": "a=b", "value": "1"}]}, 'Option "cookies[0].name" must be a'),
    ({"javascript": "x" * 100_001}, 'Option "javascript" must be at most 100,000'),
    ({"colour": "red"}, 'Option "colour" is not a capture option'),
])
def test_bad_option_values_are_refused_naming_the_option(ctx, client, options, message):
    before = row_counts()
    response = client.post("/api/v1/bundles", json={"urls": ["https://example.com/"],
                                                    "options": options})
    assert response.status_code == 400
    assert message in response.get_json()["error"]
    assert row_counts() == before


@pytest.mark.parametrize("payload, message", [
    ({"urls": [{"url": "https://example.com/", "options": {"scale": 9}}]},
     'Item 1 (https://example.com/): Option "scale" must be from 1 to 3'),
    ({"urls": [{"href": "https://example.com/"}]}, "Item 1 must be a URL string or an object"),
    ({"urls": ["https://example.com/"], "options": "full"}, 'Option "options" must be an'),
])
def test_bad_per_url_options_are_refused(ctx, client, payload, message):
    before = row_counts()
    response = client.post("/api/v1/bundles", json=payload)
    assert response.status_code == 400 and message in response.get_json()["error"]
    assert row_counts() == before


def test_one_shot_takes_one_viewport(ctx, client):
    before = row_counts()
    response = client.post("/api/v1/shots", json={
        "url": "https://example.com/", "options": {"viewport": ["phone", "tablet"]}})
    assert response.status_code == 400 and "one viewport here" in response.get_json()["error"]
    assert row_counts() == before
