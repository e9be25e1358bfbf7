"""Captures cannot touch each other, nor the worker's disk: a real Chromium serves many
captures in a row (for different people), pages served on 127.0.0.1."""
import re
from pathlib import Path

import psutil
import pytest

from shootflow.capture import Browser, BrowserOptions, BrowserSession, PageError
from shootflow.capture.devtools import DevTools
from shootflow.capture.processes import read, tree
from shootflow.testing.pages import BASIC_AUTH
from shootflow.testing.servers import wait_for

LOCAL = ("127.0.0.1/32",)
# What a page leaves behind: a cookie, local storage, an IndexedDB record and a service
# worker that answers later pages of its origin itself (shootflow.testing.pages.POISONING_WORKER).
LEAVE_TRACES = """const done = arguments[arguments.length - 1];
document.cookie = "who=first; max-age=3600; path=/";
localStorage.setItem("who", "first");
const request = indexedDB.open("traces", 1);
request.onupgradeneeded = () => request.result.createObjectStore("kv");
request.onerror = () => done("indexedDB: " + request.error);
request.onsuccess = () => {
  const tx = request.result.transaction("kv", "readwrite");
  tx.objectStore("kv").put("first", "who");
  tx.oncomplete = () => navigator.serviceWorker.register("/worker.js")
    .then(() => navigator.serviceWorker.ready)
    .then(() => done("left"), error => done("service worker: " + error));
};"""
READ_TRACES = """const done = arguments[arguments.length - 1];
Promise.all([indexedDB.databases(), navigator.serviceWorker.getRegistrations()]).then(
  ([databases, workers]) => done({cookie: document.cookie, local: localStorage.getItem("who"),
                                  databases: databases.map(db => db.name),
                                  workers: workers.length}),
  error => done(String(error)));"""
# A pop-up that waits for its opener to show another document, then sends it elsewhere.
HIJACK = """const first = opener.document;
setInterval(() => {
  let moved;
  try { moved = opener.document !== first; } catch (error) { moved = true; }
  if (moved && !window.sent) { window.sent = true; opener.location = "%s"; }
}, 10);
opener.popUpOpen = true;"""
OPEN_ON_CLICK = """document.body.insertAdjacentHTML("afterbegin",
  '<button id="open" style="display:block;width:100%%;height:300px">open</button>');
document.getElementById("open").onclick = () => window.open("%s");"""
OPEN_WINDOWS = ("for (let i = 0; i < 8; i++) "
                "window.open('/page?title=Window' + i, '_blank', 'noopener');")
DOWNLOADED = re.compile(r"^(data|endless)\.bin|\.crdownload$|^Unconfirmed ")


@pytest.fixture(scope="module")
def browser():
    browser = Browser(BrowserOptions(page_load_timeout=5, allowed_networks=LOCAL))
    yield browser
    browser.quit()


def renderers(browser):
    """The live renderer processes of this browser (one per site and context, roughly)."""
    return {proc.pid for proc in tree(browser.pid)
            if "--type=renderer" in read(proc, "cmdline", ())
            and read(proc, "status", psutil.STATUS_ZOMBIE) != psutil.STATUS_ZOMBIE}


def downloaded_files(*folders):
    """Files under folders that look like a download, finished or not."""
    return [path for folder in folders for path in Path(folder).rglob("*")
            if DOWNLOADED.search(path.name)]


def test_downloads_leave_nothing_on_disk(pages, tmp_path, monkeypatch):
    """Chromium would save into $HOME/Downloads (it honours HOME: this test's own), and an
    endless one would go on after the capture failed."""
    home, work = tmp_path / "home", tmp_path / "work"
    home.mkdir()
    work.mkdir()
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.chdir(work)  # Chromium's working folder
    streams = pages.server.streams
    already = len(streams)
    browser = Browser(BrowserOptions(page_load_timeout=5, allowed_networks=LOCAL))
    try:
        with pytest.raises(PageError, match=r"^the page was aborted"):
            browser.capture(pages.url("/download"))
        with pytest.raises(PageError, match=r"^the page was aborted"):
            browser.capture(pages.url("/endless"))
        wait_for(lambda: streams[already:] and streams[-1]["closed"], timeout=15,
                 message="the browser to hang up on the endless download")
        assert streams[-1]["sent"] < 8 * 2**20
        assert downloaded_files(home, work, browser._profile) == []
    finally:
        browser.quit()


def test_a_capture_starts_with_nothing_a_page_left(browser, pages):
    browser.capture(pages.url(title="Leaves traces"))
    assert browser.driver.execute_async_script(LEAVE_TRACES) == "left"
    result = browser.capture(pages.url(title="Victim"))  # same origin
    assert result.title == "Victim"  # not "Poisoned", the service worker's answer
    assert browser.driver.execute_async_script(READ_TRACES) == {
        "cookie": "", "local": None, "databases": [], "workers": 0}


def test_another_user_never_gets_the_credentials_of_an_address(browser, pages):
    """HTTP credentials are kept per browser context, and no clearing reaches them: one
    user's captures never share a context with another's."""
    host = pages.base.removeprefix("http://")
    user, password = BASIC_AUTH
    signed_in = browser.capture(f"http://{user}:{password}@{host}/auth", isolation="user:1")
    assert signed_in.title == "Signed in"
    with pytest.raises(PageError, match=r"^127\.0\.0\.1 asks for a user name and password$"):
        browser.capture(f"http://{host}/auth", isolation="user:2")


def test_with_a_context_per_capture_credentials_are_forgotten_at_once(pages):
    host = pages.base.removeprefix("http://")
    user, password = BASIC_AUTH
    browser = Browser(BrowserOptions(page_load_timeout=5, allowed_networks=LOCAL,
                                     context_captures=1))
    try:
        assert browser.capture(f"http://{user}:{password}@{host}/auth").title == "Signed in"
        with pytest.raises(PageError, match=r"^127\.0\.0\.1 asks for a user name and "
                                            r"password$"):
            browser.capture(f"http://{host}/auth")
    finally:
        browser.quit()


def test_a_pop_up_cannot_send_the_next_capture_elsewhere(browser, pages):
    """A click (the one gesture the pop-up blocker lets through) opens a pop-up that keeps
    its opener, waits for the next capture's page and navigates it to its own."""
    pop_up = pages.url(title="Pop-up", script=HIJACK % pages.url(title="Attacker"))
    browser.capture(pages.url(title="Opener", script=OPEN_ON_CLICK % pop_up))
    windows = len(browser.driver.window_handles)
    browser.driver.find_element("id", "open").click()
    wait_for(lambda: browser.driver.execute_script("return window.popUpOpen === true"),
             timeout=10, message="the pop-up to open")
    # The next page takes a second to finish loading: time for the pop-up to strike.
    victim = pages.url(title="Victim", script="document.write('<img src=/slow?seconds=1>')")
    result = browser.capture(victim)
    assert (result.title, result.final_url) == ("Victim", victim)
    wait_for(lambda: len(browser.driver.window_handles) <= windows, timeout=10,
             message="the pop-up's window to close")


def test_nothing_of_a_capture_outlives_it_in_a_session(pages):
    """The worker's path: once BrowserSession.capture returns, no window the page opened is
    left (the page itself stays in its tab until the next load), and no renderer more than
    after a plain capture."""
    session = BrowserSession(BrowserOptions(page_load_timeout=5, allowed_networks=LOCAL))
    try:
        session.capture(pages.url(title="Plain"))
        plain = len(renderers(session.browser))
        assert session.capture(pages.url(title="Opens windows", script=OPEN_WINDOWS)).title \
            == "Opens windows"
        devtools = DevTools(session.browser._profile)
        try:
            wait_for(lambda: len([target for target in devtools.call("Target.getTargets")[
                "targetInfos"] if target["type"] == "page"
                and target["url"].startswith(pages.base)]) == 1, timeout=10,
                message="the page's windows to close")
        finally:
            devtools.close()
        wait_for(lambda: len(renderers(session.browser)) <= plain, timeout=15,
                 message="no more renderers than after a plain capture")
        assert session.capture(pages.url(title="Next")).title == "Next"
    finally:
        session.shutdown()


def test_each_user_or_client_has_contexts_of_its_own():
    from shootflow.models import Bundle
    assert Bundle(owner_id=3, client="198.51.100.1").owner_key == "user:3"
    assert Bundle(owner_id=None, client="198.51.100.1").owner_key == "client:198.51.100.1"
    assert Bundle(owner_id=None, client="198.51.100.2").owner_key != \
        Bundle(owner_id=None, client="198.51.100.1").owner_key
