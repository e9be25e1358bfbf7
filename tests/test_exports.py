"""Exports: a bundle's ZIP (images, thumbnails, manifest.json/.csv, report.html) streamed from
disk, and its self-contained report, opened by a real browser from disk and from the server."""
import base64
import csv
import hashlib
import io
import json
import os
import re
import time
import tracemalloc
import urllib.request
import zipfile

import pytest
from PIL import Image
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import WebDriverWait

from shootflow.exports import COLUMNS
from shootflow.extensions import db
from shootflow.models import Bundle, BundleState, Shot, ShotState, User, new_id, utcnow
from shootflow.storage import MediaStore
from shootflow.testing.servers import free_port, wait_for
from tests.helpers import (
    bearer,
    fresh,
    headless_chromium,
    new_token,
    new_user,
    wait_finished,
)


def _request(url, body=None, headers=None, method=None):
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(url, data=data, method=method, headers={
        **({"Content-Type": "application/json"} if data else {}), **(headers or {})})
    return urllib.request.urlopen(request, timeout=30)


def _api(url, body=None, method=None):
    with _request(url, body, method=method) as response:
        return json.load(response)


def _download(url):
    with _request(url) as response:
        return response.headers, response.read()


def _export_urls(base, bundle_id):
    return (f"{base}/api/v1/bundles/{bundle_id}/export.zip",
            f"{base}/api/v1/bundles/{bundle_id}/report.html")


@pytest.fixture(scope="module")
def captured(app, worker, live_server, pages):
    """A finished bundle captured through the API: a PNG page, a JPEG page after a redirect,
    and a closed port (failed, no image)."""
    closed = f"http://127.0.0.1:{free_port()}/"
    urls = [pages.url(title="Export one", color="#e33"),
            {"url": pages.url("/redirect", to="/page?title=Export+two"),
             "options": {"format": "jpeg"}},
            closed]
    body = _api(f"{live_server.url}/api/v1/bundles", {"urls": urls})
    with app.app_context():
        assert wait_finished(body["id"]).state == "partial"
    bundle = _api(f"{live_server.url}/api/v1/bundles/{body['id']}")
    return {"id": body["id"], "shots": bundle["shots"], "closed": closed}


def _as_csv(value):
    """How manifest.csv writes a value: nothing empty, booleans and options as JSON."""
    if value is None:
        return ""
    if isinstance(value, (bool, dict)):
        return json.dumps(value, ensure_ascii=False, separators=(",", ":"))
    return str(value)


def test_zip_holds_every_file_its_manifest_names(app, captured, live_server):
    bundle_id = captured["id"]
    headers, body = _download(_export_urls(live_server.url, bundle_id)[0])
    assert headers["Content-Type"] == "application/zip"
    assert headers["Content-Disposition"] == f'attachment; filename="shootflow-{bundle_id}.zip"'
    assert int(headers["Content-Length"]) == len(body)

    archive = zipfile.ZipFile(io.BytesIO(body))
    assert archive.testzip() is None  # every member's CRC is right
    manifest = json.loads(archive.read("manifest.json"))
    assert (manifest["bundle_id"], manifest["bundle_state"]) == (bundle_id, "partial")
    assert (manifest["total"], manifest["counts"]["done"], manifest["counts"]["failed"]) == (3, 2, 1)
    rows = manifest["shots"]
    assert [row["id"] for row in rows] == [shot["id"] for shot in captured["shots"]]
    files = {row[key] for row in rows for key in ("image", "thumbnail") if row[key]}
    assert set(archive.namelist()) == {"manifest.json", "manifest.csv", "report.html", *files}

    for row, shot in zip(rows, captured["shots"]):
        for key in ("url", "final_url", "state", "title", "http_status", "error", "error_kind",
                    "format", "width", "height", "bytes", "sha256", "truncated", "options"):
            assert row[key] == shot[key], key  # the manifest says what the API says
        assert list(row) == list(COLUMNS)
    done = [row for row in rows if row["state"] == "done"]
    assert [row["format"] for row in done] == ["png", "jpeg"]
    assert rows[1]["title"] == "Export two" and rows[1]["final_url"].endswith("title=Export+two")
    for row in done:
        ext = {"png": "png", "jpeg": "jpg"}[row["format"]]
        number = f"{row['position'] + 1:03d}"
        assert row["image"] == f"images/{number}-{row['id']}.{ext}"
        assert row["thumbnail"] == f"thumbnails/{number}-{row['id']}.jpg"
        image = archive.read(row["image"])
        assert hashlib.sha256(image).hexdigest() == row["sha256"]
        assert len(image) == row["bytes"]
        with Image.open(io.BytesIO(image)) as picture:
            assert (picture.format.lower(), picture.size) == (row["format"],
                                                              (row["width"], row["height"]))
        with Image.open(io.BytesIO(archive.read(row["thumbnail"]))) as thumbnail:
            assert (thumbnail.format, thumbnail.size) == ("JPEG", (400, 250))
        # images are compressed already: stored as they are
        assert archive.getinfo(row["image"]).compress_type == zipfile.ZIP_STORED

    failed = rows[2]
    assert (failed["url"], failed["state"], failed["error_kind"]) == (
        captured["closed"], "failed", "connection")
    assert failed["error"] and failed["image"] is None and failed["thumbnail"] is None
    assert not [name for name in archive.namelist() if failed["id"] in name]

    table = list(csv.DictReader(io.StringIO(archive.read("manifest.csv").decode("utf-8"))))
    assert [list(line) for line in table] == [list(COLUMNS)] * 3
    for line, row in zip(table, rows):
        assert line == {key: _as_csv(value) for key, value in row.items()}
    assert json.loads(table[1]["options"])["format"] == "jpeg"


def test_a_running_bundle_exports_what_it_has(app, worker, live_server, pages):
    fast = pages.url(title="Already here")
    slow = {"url": pages.url("/slow", seconds=60, export="running"), "options": {"timeout": 60}}
    body = _api(f"{live_server.url}/api/v1/bundles", {"urls": [fast, slow]})
    try:
        with app.app_context():
            first = fresh(Bundle, body["id"]).shots[0].id
            wait_for(lambda: fresh(Shot, first).state == "done", timeout=60,
                     message="the fast shot")
        _, data = _download(_export_urls(live_server.url, body["id"])[0])
        archive = zipfile.ZipFile(io.BytesIO(data))
        manifest = json.loads(archive.read("manifest.json"))
        assert manifest["bundle_state"] == "running" and manifest["finished_at"] is None
        done, waiting = manifest["shots"]
        assert done["state"] == "done" and done["image"] in archive.namelist()
        assert waiting["state"] in ("queued", "running") and waiting["image"] is None
        assert b"not yet" in archive.read("report.html")
    finally:
        _api(f"{live_server.url}/api/v1/bundles/{body['id']}/cancel", method="POST")
        with app.app_context():
            wait_finished(body["id"])


@pytest.fixture
def big_bundle(app, request):
    """A finished bundle written straight to rows and files (no capture): request.param is
    (shots, bytes per image); the images are random, so as incompressible as screenshots."""
    count, size = request.param
    store = MediaStore(app.config["MEDIA_DIR"])
    with app.app_context():
        bundle = Bundle(id=new_id(), client="test-exports", state=BundleState.DONE,
                        finished_at=utcnow())
        db.session.add(bundle)
        for position in range(count):
            shot_id, image = new_id(), os.urandom(size)
            image_path = store.shot_path(shot_id, "full.png")
            thumbnail_path = store.shot_path(shot_id, "thumb.jpg")
            store.write(image_path, image)
            store.write(thumbnail_path, os.urandom(4096))
            db.session.add(Shot(
                id=shot_id, bundle_id=bundle.id, position=position, state=ShotState.DONE,
                url=f"https://example.com/{position}", format="png", width=1280, height=800,
                image_path=image_path, thumbnail_path=thumbnail_path, image_bytes=size,
                sha256=hashlib.sha256(image).hexdigest(), finished_at=utcnow()))
        db.session.commit()
        shots = [(shot.id, shot.image_path) for shot in bundle.shots]
    yield {"id": bundle.id, "shots": shots, "total": count * (size + 4096), "store": store}
    with app.app_context():
        for shot_id, _ in shots:
            store.remove_shot(shot_id)
        db.session.delete(db.session.get(Bundle, bundle.id))
        db.session.commit()


def _time_download(url, target):
    """Download url over HTTP in 64 KiB reads: seconds to the first bytes, and to the last."""
    started = time.monotonic()
    with _request(url) as response, open(target, "wb") as out:
        out.write(response.read(64 << 10))
        first = time.monotonic() - started
        while chunk := response.read(64 << 10):
            out.write(chunk)
    return first, time.monotonic() - started


def _traced_download(client, url, target, after_first):
    """Consume the app's answer piece by piece as a server would, calling after_first once
    the first piece is out; answers the peak memory traced meanwhile. (In process, without
    werkzeug's development server, which reads what a closed connection left with a 10 MB
    buffer whatever it served.)"""
    tracemalloc.start()
    try:
        response = client.get(url, buffered=False)
        pieces = iter(response.response)
        with open(target, "wb") as out:
            out.write(next(pieces))
            after_first()
            for piece in pieces:
                out.write(piece)
        response.close()
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


# What an export may hold in memory: a little, plus its rows, manifest and report (about
# 10 KB a shot), never an image.
BASE_MEMORY, MEMORY_PER_SHOT = 1 << 20, 12 << 10


@pytest.mark.parametrize("big_bundle", [(6, 8 << 20), (1000, 64 << 10)], indirect=True,
                         ids=["6x8MB", "1000x64KB"])
def test_zip_streams_from_disk_without_holding_the_bundle(big_bundle, client, live_server,
                                                          tmp_path):
    """The first bytes leave before the last image is read (it is replaced after they arrive,
    and the ZIP carries the replacement), and memory stays far below the bundle's size."""
    url, count = _export_urls("", big_bundle["id"])[0], len(big_bundle["shots"])
    first_byte, elapsed = _time_download(live_server.url + url, tmp_path / "untraced.zip")

    last_id, last_path = big_bundle["shots"][-1]
    replacement = os.urandom(os.path.getsize(big_bundle["store"].absolute(last_path)))
    peak = _traced_download(client, url, tmp_path / "export.zip",
                            lambda: big_bundle["store"].write(last_path, replacement))
    size = (tmp_path / "export.zip").stat().st_size
    print(f"\n{count} shots, {size / 2**20:.1f} MB: first bytes after {first_byte * 1000:.0f} "
          f"ms, all after {elapsed * 1000:.0f} ms; peak traced memory {peak / 2**20:.2f} MB")
    assert size > big_bundle["total"]
    assert peak < BASE_MEMORY + MEMORY_PER_SHOT * count < big_bundle["total"] / 4

    with zipfile.ZipFile(tmp_path / "export.zip") as archive:
        rows = json.loads(archive.read("manifest.json"))["shots"]
        assert len(rows) == count
        last = archive.read(rows[-1]["image"])
    assert rows[-1]["id"] == last_id
    assert last == replacement  # read from disk only after the first bytes had gone


@pytest.fixture(scope="module")
def browser():
    driver = headless_chromium()
    yield driver
    driver.quit()


def _open_report(source, captured, live_server, browser, tmp_path):
    """Open the report as a person would: from the unzipped download, or from the bundle
    page's Report link. Answers the address each shot's image should be linked at."""
    rows = {shot["id"]: shot for shot in captured["shots"]}
    if source == "unzipped":
        _, data = _download(_export_urls(live_server.url, captured["id"])[0])
        zipfile.ZipFile(io.BytesIO(data)).extractall(tmp_path)
        manifest = json.loads((tmp_path / "manifest.json").read_text())
        browser.get((tmp_path / "report.html").as_uri())
        return {row["id"]: (tmp_path / row["image"]).as_uri()
                for row in manifest["shots"] if row["image"]}
    browser.get(f"{live_server.url}/bundles/{captured['id']}")
    browser.find_element(By.ID, "report-link").click()
    WebDriverWait(browser, 10).until(lambda d: d.current_url.endswith("/report.html"))
    return {shot_id: live_server.url + shot["image_url"]
            for shot_id, shot in rows.items() if shot["image_url"]}


def _shown(browser):
    return [row.get_attribute("data-state")
            for row in browser.find_elements(By.CSS_SELECTOR, "tr.shot") if row.is_displayed()]


@pytest.mark.parametrize("source", ["unzipped", "served"])
def test_report_shows_thumbnails_links_images_and_filters_by_state(
        source, captured, live_server, browser, tmp_path):
    image_urls = _open_report(source, captured, live_server, browser, tmp_path)
    assert browser.find_element(By.ID, "bundle-state").text.lower() == "partial"
    assert captured["id"] in browser.title
    thumbnails = browser.find_elements(By.CSS_SELECTOR, "tr.shot img")
    assert len(thumbnails) == 2
    WebDriverWait(browser, 10).until(lambda d: all(
        d.execute_script("return arguments[0].complete", img) for img in thumbnails))
    assert [browser.execute_script("return arguments[0].naturalWidth", img)
            for img in thumbnails] == [400, 400]
    sources = [img.get_attribute("src") for img in thumbnails]
    if source == "served":
        assert all(src.startswith("data:image/jpeg;base64,") for src in sources)
    else:
        assert all(src.startswith((tmp_path / "thumbnails").as_uri() + "/") for src in sources)
    links = {row.get_attribute("id").removeprefix("shot-"): row.find_element(
        By.CSS_SELECTOR, "a.image-link").get_attribute("href")
        for row in browser.find_elements(By.CSS_SELECTOR, "tr.shot")
        if row.find_elements(By.CSS_SELECTOR, "a.image-link")}
    assert links == image_urls
    failed = browser.find_element(By.CSS_SELECTOR, "tr.shot[data-state=failed]")
    assert "no screenshot" in failed.text and "connection" in failed.text

    # The inline script runs (from disk, and under the server's content security policy).
    assert _shown(browser) == ["done", "done", "failed"]
    browser.find_element(By.ID, "filter-failed").click()
    assert _shown(browser) == ["done", "done"]
    assert browser.find_element(By.ID, "shown").text == "2 of 3 shown"
    browser.find_element(By.ID, "filter-done").click()
    assert _shown(browser) == []
    browser.find_element(By.ID, "filter-failed").click()
    assert _shown(browser) == ["failed"]
    browser.find_element(By.ID, "filter-done").click()
    browser.find_element(By.ID, "search").send_keys("export two")
    assert _shown(browser) == ["done"]
    assert "Export two" in browser.find_element(By.CSS_SELECTOR, "tr.shot:not([hidden])").text


def test_served_report_embeds_thumbnails_and_links_the_servers_images(app, captured,
                                                                      live_server):
    headers, body = _download(_export_urls(live_server.url, captured["id"])[1])
    page = body.decode("utf-8")
    assert headers["Content-Type"] == "text/html; charset=utf-8"
    nonce = re.search(r"script-src 'nonce-([^']+)'", headers["Content-Security-Policy"])[1]
    assert f'<script nonce="{nonce}">' in page and f'<style nonce="{nonce}">' in page
    embedded = re.findall(r'<img src="data:image/jpeg;base64,([^"]+)"', page)
    links = re.findall(r'<a href="([^"]+)" class="image-link">', page)
    store = MediaStore(app.config["MEDIA_DIR"])
    with app.app_context():
        done = [shot for shot in fresh(Bundle, captured["id"]).shots if shot.state == "done"]
        thumbnails = [store.read(shot.thumbnail_path) for shot in done]
        sums = [shot.sha256 for shot in done]
    assert [base64.b64decode(data) for data in embedded] == thumbnails
    assert [url.rpartition("/")[0] for url in links] == [
        f"{live_server.url}/shots/{shot['id']}" for shot in captured["shots"][:2]]
    for url, sha256 in zip(links, sums):
        assert hashlib.sha256(_download(url)[1]).hexdigest() == sha256
    assert "src=\"thumbnails/" not in page and "data:" not in page.split("<body>")[0]


def test_bundle_page_links_to_both_exports(client, captured):
    page = client.get(f"/bundles/{captured['id']}").get_data(as_text=True)
    zip_url = re.search(r'href="([^"]+)" id="download-zip"', page)[1]
    report_url = re.search(r'href="([^"]+)" id="report-link"', page)[1]
    assert (zip_url, report_url) == _export_urls("", captured["id"])
    assert client.get(zip_url).mimetype == "application/zip"
    assert client.get(report_url).mimetype == "text/html"


@pytest.mark.parametrize("export", ["export.zip", "report.html"])
def test_unknown_bundle_is_not_found(client, export):
    response = client.get(f"/api/v1/bundles/{'0' * 24}/{export}")
    assert response.status_code == 404
    assert response.get_json()["error"] == f"No bundle with id {'0' * 24}."


@pytest.fixture(scope="module")
def owned_bundle(auth_app):
    """A bundle of one user's (one failed shot, no files), with that user's and another's
    API tokens."""
    owner, other = new_user(auth_app, "exporter"), new_user(auth_app, "stranger")
    with auth_app.app_context():
        user = db.session.scalar(db.select(User).where(User.username == owner))
        bundle = Bundle(id=new_id(), owner_id=user.id, client="test-exports",
                        state=BundleState.FAILED, finished_at=utcnow())
        db.session.add(bundle)
        db.session.add(Shot(id=new_id(), bundle_id=bundle.id, position=0,
                            url="https://example.com/", state=ShotState.FAILED,
                            error="could not connect", error_kind="connection"))
        db.session.commit()
        bundle_id = bundle.id
    return {"id": bundle_id, "owner": new_token(auth_app, owner),
            "other": new_token(auth_app, other)}


@pytest.mark.parametrize("export", ["export.zip", "report.html"])
def test_another_users_bundle_is_not_found(auth_app, owned_bundle, export):
    client = auth_app.test_client()
    url = f"/api/v1/bundles/{owned_bundle['id']}/{export}"
    mine = client.get(url, headers=bearer(owned_bundle["owner"]))
    assert mine.status_code == 200
    assert b"could not connect" in (zipfile.ZipFile(io.BytesIO(mine.data)).read("report.html")
                                    if export == "export.zip" else mine.data)
    theirs = client.get(url, headers=bearer(owned_bundle["other"]))
    assert theirs.status_code == 404
    assert theirs.get_json()["error"] == f"No bundle with id {owned_bundle['id']}."
    assert client.get(url).status_code == 401
