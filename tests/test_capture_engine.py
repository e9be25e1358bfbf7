"""The capture engine alone: a real Chromium, pages served on 127.0.0.1, no Celery."""
import io
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import psutil
import pytest
from PIL import Image

from shootflow.capture import (
    Browser,
    BrowserOptions,
    BrowserSession,
    CaptureResult,
    PageError,
)
from shootflow.capture.chromium import chromium_flags
from shootflow.capture.devtools import DevTools
from shootflow.capture.limits import ERROR_LIMIT, TITLE_LIMIT, URL_LIMIT, clip
from shootflow.capture.processes import (
    OWNER_VAR,
    PROFILE_PREFIX,
    read,
    reap_orphans,
    tree,
)
from shootflow.testing.servers import free_port, wait_for
from shootflow.testing.workers import alive_chromium
from shootflow.urls import MAX_URL_LENGTH
from shootflow.workflows.tasks import fit_for_row

# The test pages are on 127.0.0.1, which the egress guard refuses unless allowed.
LOCAL = ("127.0.0.1/32",)


@pytest.fixture(scope="module")
def browser():
    browser = Browser(BrowserOptions(page_load_timeout=3, allowed_networks=LOCAL))
    yield browser
    browser.quit()


def test_capture_follows_redirects_and_reports_status(browser, pages):
    result = browser.capture(pages.url("/redirect", to="/status?code=404&title=Gone&color=%2300ff00"))
    assert result.title == "Gone"
    assert result.final_url.endswith("/status?code=404&title=Gone&color=%2300ff00")
    assert result.http_status == 404
    image = Image.open(io.BytesIO(result.image)).convert("RGB")
    assert image.size == (1280, 800)
    assert image.getpixel((10, 790)) == (0, 255, 0)


@pytest.mark.parametrize("path, query, message", [
    ("/status", {"code": 204}, r"^the server sent no page \(HTTP 204\)$"),
    ("/download", {}, r"^the page was aborted \(it may have started a download instead\)$"),
])
def test_a_load_that_shows_no_new_page_never_returns_the_last_one(
        browser, pages, path, query, message):
    """Chromium keeps the previous page on show for these; the capture must say so."""
    assert browser.capture(pages.url(title="Previous")).title == "Previous"
    with pytest.raises(PageError, match=message):
        browser.capture(pages.url(path, **query))
    assert browser.capture(pages.url(title="Next")).title == "Next"


def test_same_page_again_and_with_a_fragment_is_a_new_capture(browser, pages):
    url = pages.url(title="Again", color="#0000ff")
    for address in (url, url, url + "#part", url + "#other", url):
        result = browser.capture(address)
        assert (result.title, result.final_url) == ("Again", address)


def test_connection_refused_is_readable(browser, closed_port_url):
    with pytest.raises(PageError, match=r"^connection refused by 127\.0\.0\.1:\d+$") as info:
        browser.capture(closed_port_url)
    assert not info.value.restart


def test_unresolvable_host_is_readable(browser):
    with pytest.raises(PageError, match=r"^could not resolve host nope\.invalid$"):
        browser.capture("http://nope.invalid/")


def test_page_that_never_finishes_times_out_and_asks_for_a_new_browser(pages):
    session = BrowserSession(BrowserOptions(page_load_timeout=2, allowed_networks=LOCAL))
    try:
        with pytest.raises(PageError, match=r"^timed out after 2 s$") as info:
            session.capture(pages.url("/slow"))
        assert info.value.restart
        assert session.started == 1
        assert session.capture(pages.url(title="After")).title == "After"
        assert session.started == 2
    finally:
        session.shutdown()


def test_session_reuses_one_browser_then_recycles(pages):
    session = BrowserSession(BrowserOptions(allowed_networks=LOCAL), max_captures=3)
    try:
        first_pid = session.browser.pid
        for n in range(3):
            assert session.capture(pages.url(title=f"p{n}")).title == f"p{n}"
        assert session.started == 1
        first = alive_chromium(p.pid for p in tree(first_pid))
        session.capture(pages.url(title="p3"))
        assert session.started == 2
        assert session.browser.pid != first_pid
        wait_for(lambda: not alive_chromium(first), timeout=15, message="the old browser to go")
    finally:
        session.shutdown()


@pytest.mark.parametrize("script", ["alert('hello')", "confirm('sure?')", "prompt('name?')",
                                    "print()"])
def test_pages_that_open_dialogs_are_still_captured(browser, pages, script):
    result = browser.capture(pages.url(title="Dialog", script=script))
    assert result.title == "Dialog"
    assert browser.capture(pages.url(title="Next")).title == "Next"


def test_a_long_title_and_address_are_read_cut(browser, pages):
    """A 5 MB title (set by the page) and a 3,000-character address come back cut, with an
    ellipsis."""
    url = pages.url(title="Long", pad="p" * 3000,
                    script="document.title = 'T'.repeat(5 * 2 ** 20);")
    result = browser.capture(url)
    assert result.title == "T" * (TITLE_LIMIT - 1) + "\u2026"
    assert result.final_url == url[:URL_LIMIT - 1] + "\u2026"


def test_a_result_is_cut_to_what_a_row_keeps():
    result = fit_for_row(CaptureResult(b"", "T" * 5 * 2**20, "http://x/" + "p" * 5000, 200, 1))
    assert result.title == "T" * (TITLE_LIMIT - 1) + "\u2026"
    assert result.final_url == ("http://x/" + "p" * 5000)[:URL_LIMIT - 1] + "\u2026"
    assert fit_for_row(CaptureResult(b"", "Short", "http://x/", 200, 1)).title == "Short"
    assert URL_LIMIT == MAX_URL_LENGTH  # an address is never kept longer than one accepted


@pytest.mark.parametrize("text, limit, kept", [
    (None, 5, None), ("", 5, ""), ("12345", 5, "12345"), ("123456", 5, "1234\u2026"),
    ("e" * 5000, ERROR_LIMIT, "e" * (ERROR_LIMIT - 1) + "\u2026"),
])
def test_clip(text, limit, kept):
    assert clip(text, limit) == kept


@pytest.mark.parametrize("uid, sandboxed", [(0, False), (1000, True)])
def test_only_root_runs_chromium_without_its_sandbox(uid, sandboxed):
    assert ("--no-sandbox" not in chromium_flags(uid)) is sandboxed


def test_chromium_blocks_pop_ups_and_is_sandboxed_unless_root(browser):
    flags = {arg for proc in tree(browser.pid) if read(proc, "name") == "chromium"
             for arg in read(proc, "cmdline", ())}
    assert "--headless=new" in flags  # these are Chromium's arguments
    assert ("--no-sandbox" in flags) is (os.geteuid() == 0)
    assert "--disable-popup-blocking" not in flags


def test_the_engines_devtools_connection_outlives_a_quiet_spell(browser):
    """A worker may wait long for its next task; reads must not time out meanwhile."""
    devtools = DevTools(browser._profile, timeout=0.5)
    try:
        devtools._reader.join(2)  # ends within 0.5 s of silence if reads time out
        assert devtools._reader.is_alive()
        assert devtools.call("Target.getTargets")["targetInfos"]
    finally:
        devtools.close()


OWNER = """
import time
from shootflow.capture import Browser, BrowserOptions
print(Browser(BrowserOptions()).pid, flush=True)
time.sleep(600)
"""


def test_reaping_takes_only_browsers_whose_owner_died(tmp_path):
    """A capture process killed outright leaves its browser behind, and the next one reaps it.
    Another program's orphaned ChromeDriver and a zombie named like one are left alone."""
    owner = subprocess.Popen([sys.executable, "-c", OWNER], stdout=subprocess.PIPE, text=True)
    foreign = int(subprocess.check_output(  # orphaned at once: its parent is init now
        f"/usr/bin/chromedriver --port={free_port()} >/dev/null 2>&1 & echo $!", shell=True))
    (tmp_path / "chromedriver").symlink_to("/bin/true")
    zombie = subprocess.Popen([tmp_path / "chromedriver"], env={OWNER_VAR: str(owner.pid)})
    try:
        left = alive_chromium(p.pid for p in tree(int(owner.stdout.readline())))
        assert left, "the owner started no browser"
        wait_for(lambda: read(psutil.Process(zombie.pid), "status") == psutil.STATUS_ZOMBIE,
                 timeout=10, message="the fake ChromeDriver to become a zombie")
        owner.kill()
        owner.wait()
        assert reap_orphans() >= 2  # ChromeDriver and Chromium, at least
        wait_for(lambda: not alive_chromium(left), timeout=15, message="the orphans to go")
        assert alive_chromium([foreign]) == {foreign}
        assert not list(Path(tempfile.gettempdir()).glob(f"{PROFILE_PREFIX}{owner.pid}-*"))
    finally:
        owner.kill()
        zombie.wait()
        psutil.Process(foreign).kill()
