"""Failures with a kind, retries where trying again may help, and blank pictures, produced
for real (real worker, Chromium behind the egress guard, pages the tests serve)."""
import ssl
import subprocess
import threading
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer

import pytest

from tests.helpers import wait_finished


def _shot(client, url, options=None, timeout=90):
    response = client.post("/api/v1/bundles", json={"urls": [url], "options": options or {}})
    assert response.status_code == 202, response.get_json()
    body = response.get_json()
    wait_finished(body["id"], timeout=timeout)
    return client.get(body["url"]).get_json()["shots"][0]


def test_a_name_that_does_not_resolve_fails_once_as_dns(ctx, client, worker):
    shot = _shot(client, "http://nope.invalid/")
    assert (shot["state"], shot["error_kind"], shot["attempts"]) == ("failed", "dns", 1)
    assert shot["error"] == "could not resolve host nope.invalid"


def test_a_refused_connection_is_tried_again_then_fails_as_connection(
        ctx, app, client, worker, closed_port_url):
    shot = _shot(client, closed_port_url)
    attempts = app.config["CAPTURE_ATTEMPTS"]
    assert (shot["state"], shot["error_kind"], shot["attempts"]) == \
        ("failed", "connection", attempts)
    assert shot["error"].startswith("connection refused by 127.0.0.1:")
    assert [tried["kind"] for tried in shot["failed_attempts"]] == ["connection"] * (
        attempts - 1)


def test_a_connection_dropped_once_is_captured_on_the_second_attempt(ctx, client, worker,
                                                                     pages):
    url = pages.url("/flaky", title="Second time lucky")
    shot = _shot(client, url)
    assert (shot["state"], shot["attempts"], shot["title"]) == ("done", 2, "Second time lucky")
    assert [tried["kind"] for tried in shot["failed_attempts"]] == ["connection"]
    assert pages.loads(url) == 3  # the browser's own retry, then shootflow's


def test_a_page_that_never_loads_times_out_on_every_attempt(ctx, app, client, worker, pages):
    shot = _shot(client, pages.url("/slow", n="never"), {"timeout": 2})
    assert (shot["state"], shot["error_kind"]) == ("failed", "timeout")
    assert shot["attempts"] == app.config["CAPTURE_ATTEMPTS"]
    assert shot["error"] == "timed out after 2 s"


def test_an_address_the_guard_refuses_fails_once_as_refused(ctx, client, worker, pages,
                                                            canary):
    shot = _shot(client, pages.url("/redirect", to=canary.url()))
    assert (shot["state"], shot["error_kind"], shot["attempts"]) == ("failed", "refused", 1)


def test_a_page_that_stays_blank_is_captured_twice_then_kept_and_flagged(ctx, client, worker,
                                                                         pages):
    url = pages.url("/doc", name="blank", n=1)
    shot = _shot(client, url)
    assert (shot["state"], shot["blank"], shot["attempts"]) == ("done", True, 2)
    assert pages.loads(url) == 2


def test_a_page_that_paints_late_is_captured_again_with_a_longer_wait(ctx, client, worker,
                                                                      pages):
    url = pages.url("/doc", name="slow-paint")
    shot = _shot(client, url)
    assert (shot["state"], shot["blank"], shot["attempts"]) == ("done", False, 2)
    assert shot["options"]["delay"] == 3


@pytest.fixture(scope="module")
def self_signed(tmp_path_factory):
    """An https server on 127.0.0.1 whose certificate nobody signed."""
    folder = tmp_path_factory.mktemp("tls")
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
                    "-subj", "/CN=127.0.0.1", "-keyout", folder / "key.pem",
                    "-out", folder / "cert.pem"], check=True, capture_output=True)
    server = ThreadingHTTPServer(("127.0.0.1", 0), SimpleHTTPRequestHandler)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(folder / "cert.pem", folder / "key.pem")
    server.socket = context.wrap_socket(server.socket, server_side=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"https://127.0.0.1:{server.server_address[1]}/"
    server.shutdown()


def test_a_certificate_nobody_signed_fails_once_as_tls(ctx, client, worker, self_signed):
    shot = _shot(client, self_signed)
    assert (shot["state"], shot["error_kind"], shot["attempts"]) == ("failed", "tls", 1)
    assert shot["error"].startswith("the TLS certificate of 127.0.0.1 is not valid (ERR_CERT_")
