"""The egress guard at fetch time: a real Chromium, pages on 127.0.0.1, a canary on 127.0.0.2.

The guard allows 127.0.0.1 (where the test pages live) and nothing else that is not public.
The canary records every TCP connection and UDP datagram that reaches it; it must get none.
test_without_the_guard_the_canary_is_reached shows the same pages do reach a canary when
the guard is off, so these tests can fail."""
import io
import re
import socket
from urllib.parse import urlsplit

import pytest
from PIL import Image

from shootflow.capture import Browser, BrowserOptions, PageError, egress
from shootflow.testing.servers import free_port, wait_for
from shootflow.urls import normalize_url
from tests.canaries import BAIT_ATTEMPTS, BaitServer, CanaryServer

LOCAL = ("127.0.0.1/32",)
REFUSED_CANARY = r"^refused: 127\.0\.0\.2 is a loopback address$"


@pytest.fixture(scope="module")
def browser():
    browser = Browser(BrowserOptions(page_load_timeout=5, allowed_networks=LOCAL))
    yield browser
    browser.quit()


@pytest.fixture
def untouched(canary):
    """The canary, checked after the test: nothing may have reached it."""
    before = len(canary.hits)
    yield canary
    assert canary.hits[before:] == [], "the canary was reached"


@pytest.fixture(scope="module")
def bait(canary):
    server = BaitServer(canary)
    yield server
    server.stop()


def wait_for_attempts(browser, attempts=BAIT_ATTEMPTS):
    """Until the bait page's scripted requests have finished, one way or another."""
    def finished():
        done = browser.driver.execute_script("return window.attempts") or {}
        return attempts <= set(done) and done
    return wait_for(finished, timeout=30, message="the bait page's requests to finish")


def test_page_is_captured_but_nothing_it_loads_reaches_the_canary(browser, bait, untouched):
    result = browser.capture(bait.url())
    assert result.title == "Bait" and result.http_status == 200
    assert Image.open(io.BytesIO(result.image)).convert("RGB").getpixel((10, 790)) == (0, 255, 0)
    attempts = wait_for_attempts(browser)
    assert attempts["https"] == "failed" and attempts["websocket"] == "closed"
    # The requests did reach the guard, and it said no.
    assert browser.proxy.failure("127.0.0.2", untouched.port) == \
        "refused: 127.0.0.2 is a loopback address"
    assert untouched.hits == []


def test_without_the_guard_the_canary_is_reached():
    """The control: the same bait with the guard off does reach a (private) canary."""
    canary = CanaryServer("127.0.0.3")
    bait = BaitServer(canary)
    browser = Browser(BrowserOptions(page_load_timeout=5, egress_guard=False))
    try:
        assert browser.capture(bait.url()).title == "Bait"
        wait_for_attempts(browser, BAIT_ATTEMPTS - {"webrtc"})  # STUN/TURN retry for long here
        wait_for(lambda: {"tcp", "udp"} <= canary.protocols(), timeout=10,
                 message="TCP and UDP (STUN) to reach the unguarded canary")
    finally:
        browser.quit()
        bait.stop()
        canary.stop()


@pytest.mark.parametrize("scheme", ["http", "https"])
def test_redirect_to_the_canary_is_refused(browser, pages, untouched, scheme):
    with pytest.raises(PageError, match=REFUSED_CANARY) as info:
        browser.capture(pages.url("/redirect", to=untouched.url("/redirected", scheme=scheme)))
    assert not info.value.restart


@pytest.mark.parametrize("target, message", [
    ("file:///etc/passwd", r"^127\.0\.0\.1 redirects to an address that is not a web page$"),
    ("data:text/html,hi", r"^127\.0\.0\.1 redirects to an address that is not a web page$"),
    ("javascript:alert(1)", r"^the page was aborted"),
    ("ftp://127.0.0.2/", r"^the page ended on a non-web address \(ftp://127\.0\.0\.2/\)$"),
])
def test_redirect_to_a_non_web_address_fails_and_never_shows_the_last_page(
        browser, pages, untouched, target, message):
    assert browser.capture(pages.url(title="Previous")).title == "Previous"
    with pytest.raises(PageError, match=message):
        browser.capture(pages.url("/redirect", to=target))


@pytest.mark.parametrize("scheme", ["http", "https"])
def test_canary_url_is_refused_at_fetch_time(browser, untouched, scheme):
    with pytest.raises(PageError, match=REFUSED_CANARY):
        browser.capture(untouched.url("/direct", scheme=scheme))


@pytest.mark.parametrize("spelling", ["2130706434", "0x7f.2", "017700000002", "[::ffff:7f00:2]"])
def test_canary_in_other_spellings_is_refused_at_fetch_time(browser, untouched, spelling):
    with pytest.raises(PageError, match=r"^refused: .*127\.0\.0\.2.* is a loopback address$"):
        browser.capture(f"http://{spelling}:{untouched.port}/")


@pytest.mark.parametrize("spelling", [
    "2130706433", "0x7f.1", "017700000001", "0x7f000001", "0177.0.0.01", "127.1",
    "127.0.0.1.", "[::ffff:127.0.0.1]",
])
def test_submit_time_canonical_form_matches_chromium(browser, pages, spelling):
    """The submit check reads IP spellings exactly as Chromium does: same final URL."""
    url = f"http://{spelling}:{pages.base.rsplit(':', 1)[1]}/page?title=Spelled"
    result = browser.capture(url)
    assert result.title == "Spelled"
    assert result.final_url == normalize_url(url)


def test_name_resolving_to_a_refused_address_is_refused():
    """localhost really resolves to loopback; a guard that allows nothing refuses it. Which
    loopback address comes first (127.0.0.1 or ::1) is the machine's /etc/hosts' choice."""
    local = CanaryServer("127.0.0.1")
    browser = Browser(BrowserOptions(page_load_timeout=5))
    try:
        refused = r"^refused: (127\.0\.0\.1|::1) is a loopback address$"
        with pytest.raises(PageError, match=refused):
            browser.capture(f"http://localhost:{local.port}/")
        with pytest.raises(PageError, match=refused):
            browser.capture(f"https://localhost:{local.port}/")
        assert local.hits == []
    finally:
        browser.quit()
        local.stop()


def test_guard_connects_to_the_address_it_checked(browser, pages, untouched, monkeypatch):
    """DNS rebinding: the name answers 127.0.0.1 once, then 127.0.0.2. The guard looks it up
    once and connects to what it checked. (getaddrinfo is replaced for this one made-up
    name: no DNS server here can play the attacker.)"""
    answers = ["127.0.0.1"]
    real_getaddrinfo = socket.getaddrinfo

    def rebinding_getaddrinfo(host, port, *args, **kwargs):
        if host != "rebind.test":
            return real_getaddrinfo(host, port, *args, **kwargs)
        address = answers.pop(0) if answers else "127.0.0.2"
        return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", (address, port or 0))]

    monkeypatch.setattr(socket, "getaddrinfo", rebinding_getaddrinfo)
    port = pages.base.rsplit(":", 1)[1]
    result = browser.capture(f"http://rebind.test:{port}/page?title=Rebound")
    assert result.title == "Rebound"
    assert answers == []  # the one lookup was used
    with pytest.raises(PageError, match=REFUSED_CANARY):
        browser.capture(f"http://rebind.test:{untouched.port}/")


def test_unresolvable_https_host_is_readable(browser):
    with pytest.raises(PageError, match=r"^could not resolve host nope\.invalid$"):
        browser.capture("https://nope.invalid/")


def test_refused_connection_through_a_tunnel_is_readable(browser):
    port = free_port()
    with pytest.raises(PageError, match=rf"^connection refused by 127\.0\.0\.1:{port}$"):
        browser.capture(f"https://127.0.0.1:{port}/")


def test_guard_answers_a_refused_tunnel_without_connecting(untouched):
    """The proxy on its own: CONNECT to the canary gets a 403 and no connection is made."""
    from shootflow.netpolicy import NetPolicy
    proxy = egress.EgressProxy(NetPolicy(LOCAL), idle_timeout=5)
    try:
        with socket.create_connection(("127.0.0.1", proxy.port), timeout=5) as sock:
            sock.sendall(f"CONNECT 127.0.0.2:{untouched.port} HTTP/1.1\r\n"
                         f"Host: 127.0.0.2:{untouched.port}\r\n\r\n".encode())
            reply = sock.recv(4096).decode()
        assert reply.startswith("HTTP/1.1 403 ")
        assert proxy.failure("127.0.0.2", untouched.port) == \
            "refused: 127.0.0.2 is a loopback address"
    finally:
        proxy.stop()


@pytest.mark.parametrize("name", ["straße.invalid", "faß.invalid", "ＥＸＡＭＰＬＥ.invalid",
                                  "☃.invalid"])
def test_submit_time_names_are_the_ones_chromium_asks_for(browser, name):
    """The egress guard hears the name Chromium really looks up; it must be the name the
    submit check looked up (no DNS answers here: the guard's failure names the host)."""
    expected = urlsplit(normalize_url(f"http://{name}/")).hostname
    with pytest.raises(PageError, match=rf"^could not resolve host {re.escape(expected)}$"):
        browser.capture(f"http://{name}/")
