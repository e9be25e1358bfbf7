"""SSRF through the JSON API: refused at submit with a 400, refused at fetch by the worker.

The test app and worker allow 127.0.0.1 (SHOOTFLOW_ALLOWED_NETWORKS in conftest); the
canary on 127.0.0.2 must never be reached."""
import pytest

from tests.canaries import BaitServer
from tests.helpers import row_counts, wait_finished


@pytest.fixture
def post(client):
    def post(payload):
        return client.post("/api/v1/bundles", json=payload)
    return post


@pytest.fixture(scope="module")
def bait(canary):
    server = BaitServer(canary)
    yield server
    server.stop()


@pytest.mark.parametrize("spelling, shown", [
    ("127.0.0.2:{port}", "loopback address 127.0.0.2"),
    ("2130706434:{port}", "loopback address 127.0.0.2"),
    ("0x7f.2:{port}", "loopback address 127.0.0.2"),
    ("017700000002:{port}", "loopback address 127.0.0.2"),
    ("[::ffff:127.0.0.2]:{port}", "loopback address ::ffff:7f00:2 (127.0.0.2)"),
    ("[::1]:{port}", "loopback address ::1"),
    ("example.com@127.0.0.2:{port}", "loopback address 127.0.0.2"),
    ("169.254.169.254", "cloud metadata address 169.254.169.254"),
])
def test_internal_address_is_refused_at_submit(ctx, post, canary, spelling, shown):
    before = row_counts()
    url = "http://" + spelling.format(port=canary.port) + "/"
    response = post({"urls": ["https://public.invalid/", url]})
    assert response.status_code == 400
    assert response.get_json()["error"] == (
        f"Line 2 ({url}) points to a {shown}, which shootflow does not capture.")
    assert row_counts() == before
    assert canary.hits == []


def test_pages_that_reach_for_the_canary_get_nothing_from_it(
        ctx, worker, client, post, pages, bait, canary):
    bait_url = bait.url("Bait for the worker")
    redirect = pages.url("/redirect", to=canary.url("/via-redirect"))
    tls_redirect = pages.url("/redirect", to=canary.url("/via-tls-redirect", scheme="https"))
    response = post({"urls": [bait_url, redirect, tls_redirect]})
    assert response.status_code == 202
    wait_finished(response.get_json()["id"])
    shots = {s["url"]: s for s in client.get(response.get_json()["url"]).get_json()["shots"]}
    assert shots[bait_url]["state"] == "done"
    assert shots[bait_url]["title"] == "Bait for the worker"
    for url in (redirect, tls_redirect):
        assert shots[url]["state"] == "failed"
        assert shots[url]["error"] == "refused: 127.0.0.2 is a loopback address"
    assert canary.hits == []


def test_unresolvable_name_is_accepted_and_fails_at_capture(ctx, worker, client, post):
    response = post({"urls": ["https://nope.invalid/"]})
    assert response.status_code == 202
    wait_finished(response.get_json()["id"])
    shot = client.get(response.get_json()["url"]).get_json()["shots"][0]
    assert shot["state"] == "failed"
    assert shot["error"] == "could not resolve host nope.invalid"
