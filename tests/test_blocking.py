"""Consent banners and ads, by the vendored lists: the stylesheet checked in a real Chromium
against consent tools' markup, autoconsent clicking "reject" on a page, and the blocker
asked about well-known ad and tracker hosts."""
import gzip
import os
import re
import tomllib
from pathlib import Path
from types import SimpleNamespace

import pytest
from selenium import webdriver
from selenium.webdriver.chrome.service import Service

from shootflow.capture import blocking
from shootflow.capture.blocking import AdBlocker, autoconsent_script, banner_stylesheet
from shootflow.capture.chromium import chrome_options
from shootflow.testing.servers import ROOT, wait_for

NEWS = "https://news.example/article"
# Adds the stylesheet as a <style> element; answers how many rules Chromium kept.
ADD_STYLE = """const style = document.createElement("style");
style.textContent = arguments[0];
document.head.append(style);
return style.sheet.cssRules.length;"""
SHOWN = "return getComputedStyle(document.querySelector(arguments[0])).display !== 'none';"
OVERFLOW = "return getComputedStyle(document.querySelector(arguments[0])).overflowY;"
# Markup of orestbida/cookieconsent v2 as a page shows it; its "reject all" button leaves
# a mark, so the test sees autoconsent press it.
COOKIECONSENT2 = """document.documentElement.classList.add("show--consent");
document.body.insertAdjacentHTML("beforeend", '<div id="cc--main"><div id="cm">' +
  '<p>We use cookies.</p><button id="s-all-bn">Accept all</button>' +
  '<button id="s-rall-bn">Reject all</button></div></div>');
document.getElementById("s-rall-bn").onclick = () => {
  document.title = "rejected";
  document.getElementById("cc--main").remove();
};"""


@pytest.fixture(scope="module")
def driver(tmp_path_factory):
    chromium = os.environ.get("SHOOTFLOW_CHROMIUM", "/usr/bin/chromium")
    options = SimpleNamespace(chromium_path=chromium, viewport=(1280, 800))
    profile = tmp_path_factory.mktemp("blocking-profile")
    driver = webdriver.Chrome(
        options=chrome_options(options, profile),
        service=Service(os.environ.get("SHOOTFLOW_CHROMEDRIVER", "/usr/bin/chromedriver")))
    driver.set_page_load_timeout(10)
    yield driver
    driver.quit()


def list_lines(name):
    path = blocking.LISTS / name
    data = gzip.decompress(path.read_bytes()) if name.endswith(".gz") else path.read_bytes()
    return data.decode().splitlines()


def in_cookie_list(rule):
    """Whether the vendored list has rule ("##sel", or "site##sel" among its sites)."""
    site, _, selector = rule.partition("##")
    for line in list_lines(blocking.COOKIE_LIST):
        sites, found, hides = line.partition("##")
        if found and hides == selector and (site in sites.split(",") if site else not sites):
            return True
    return False


def show(driver, pages, markup):
    driver.get(pages.url())
    driver.execute_script("document.body.insertAdjacentHTML('beforeend', arguments[0]);", markup)


@pytest.mark.parametrize("host", ["", "www.joe.ie", "www.allocine.fr", "www.postnl.nl",
                                  "www.reddit.com", "www.sony.co.uk"])
def test_every_rule_of_the_stylesheet_parses_in_chromium(driver, pages, host):
    css = banner_stylesheet(host)
    rules = css.splitlines()
    assert len(rules) > 50 and len(css) > 100_000  # the whole list, not a handful
    show(driver, pages, "")
    assert driver.execute_script(ADD_STYLE, css) == len(rules), "Chromium dropped a rule"


@pytest.mark.parametrize("host, same_as", [
    ("WWW.JOE.IE.", "www.joe.ie"), ("127.0.0.1", ""), ("::1", ""), ("not a host/", "")])
def test_hosts_are_read_as_hostnames(host, same_as):
    assert banner_stylesheet(host) == banner_stylesheet(same_as)


@pytest.mark.parametrize("selector", [
    "##.cookie:has-text(Accept)", "##div:-abp-has(.x)", "##.a:upward(2)", "##body:style(x: y)",
    "##.x:remove()", "##:xpath(//div)", "##.a[title='b'", "##.a)", "##^script",
    "##.a { color: red }", "##.a /* b */"])
def test_what_is_not_css_is_left_out(selector):
    assert not blocking.plain_css(selector[2:])


@pytest.mark.parametrize("selector", [
    "#onetrust-banner-sdk", ".cky-consent-container.cky-banner-bottom",
    'div[id^="sp_message_container_"]', ".truste_overlay:not(body):not(html)",
    ".undefined:has([data-test-selector='click-the-cookie-banner'])", "#a\\:b"])
def test_plain_css_is_kept(selector):
    assert blocking.plain_css(selector)


# (host, the consent tool's markup, its element, the list's rule that covers it or None
# when the list excepts that host, whether the element is hidden)
CONSENT_TOOLS = [
    ("", '<div id="onetrust-consent-sdk"><div id="onetrust-banner-sdk">We use cookies'
         '</div></div>', "#onetrust-banner-sdk", "###onetrust-banner-sdk", True),
    ("", '<div id="CybotCookiebotDialogBodyUnderlay"></div>',
     "#CybotCookiebotDialogBodyUnderlay", "###CybotCookiebotDialogBodyUnderlay", True),
    ("", '<div id="didomi-notice">Didomi</div>', "#didomi-notice", "###didomi-notice", True),
    ("", '<div class="cky-consent-container cky-banner-bottom">CookieYes</div>',
     ".cky-consent-container", "##.cky-banner-bottom.cky-consent-container", True),
    # Site-specific rules: only on the sites the list names.
    ("www.joe.ie", '<div class="qc-cmp2-container">Quantcast</div>', ".qc-cmp2-container",
     "joe.ie##.qc-cmp2-container", True),
    ("www.example.com", '<div class="qc-cmp2-container">Quantcast</div>',
     ".qc-cmp2-container", None, False),
    ("www.blockchain.com", '<div id="CybotCookiebotDialog">Cookiebot</div>',
     "#CybotCookiebotDialog", "blockchain.com###CybotCookiebotDialog", True),
    ("www.idealista.com", '<div id="didomi-host">Didomi</div>', "#didomi-host",
     "idealista.com###didomi-host", True),
    # Exceptions: the list shows these where hiding them breaks the site.
    ("www.allocine.fr", '<div id="didomi-host">Didomi</div>', "#didomi-host", None, False),
    ("www.sony.co.uk", '<div id="onetrust-consent-sdk">OneTrust</div>',
     "#onetrust-consent-sdk", None, False),
]


@pytest.mark.parametrize("host, markup, element, rule, hidden", CONSENT_TOOLS)
def test_consent_tools_are_hidden_where_the_list_says(driver, pages, host, markup, element,
                                                      rule, hidden):
    assert rule is None or in_cookie_list(rule), f"the vendored list has no {rule}"
    show(driver, pages, markup)
    assert driver.execute_script(SHOWN, element)
    driver.execute_script(ADD_STYLE, banner_stylesheet(host))
    assert driver.execute_script(SHOWN, element) is not hidden


def test_an_ordinary_page_keeps_its_content(driver, pages):
    show(driver, pages, '<header id="header"><nav class="menu">Menu</nav></header>'
                        '<main id="content"><article class="post"><h2>News</h2>'
                        '<p class="lead">Text</p></article><aside class="sidebar">More</aside>'
                        '</main><footer id="footer"><p class="copyright">(c)</p></footer>')
    driver.execute_script(ADD_STYLE, banner_stylesheet("news.example"))
    for element in ("#header", ".menu", "#content", ".post", ".lead", ".sidebar", "#footer",
                    ".copyright", "h1"):
        assert driver.execute_script(SHOWN, element), element


@pytest.mark.parametrize("host, page_css, element, locked", [
    # Sourcepoint's lock class, which autoconsent's rules take off <html>.
    ("", ".sp-message-open { overflow: hidden !important }", "html", False),
    # The list's own rule for reddit.com: body:style(overflow: auto !important;)
    ("www.reddit.com", "body { overflow: hidden !important }", "body", False),
    # Anywhere else a page's own overflow stays as the page wants it.
    ("", "body { overflow: hidden }", "body", True),
    ("", "html { overflow-y: hidden }", "html", True),
])
def test_scroll_locks_of_consent_tools_are_undone(driver, pages, host, page_css, element,
                                                  locked):
    show(driver, pages, "")
    if "sp-message-open" in page_css:
        driver.execute_script("document.documentElement.classList.add('sp-message-open');")
    driver.execute_script(ADD_STYLE, page_css)
    assert driver.execute_script(OVERFLOW, element) == "hidden"
    driver.execute_script(ADD_STYLE, banner_stylesheet(host))
    assert (driver.execute_script(OVERFLOW, element) == "hidden") is locked


def test_autoconsent_rejects_a_consent_tool(driver, pages):
    driver.execute_cdp_cmd("Page.enable", {})
    script = driver.execute_cdp_cmd("Page.addScriptToEvaluateOnNewDocument",
                                    {"source": autoconsent_script()})
    try:
        driver.get(pages.url(script=COOKIECONSENT2))
        status = wait_for(lambda: driver.execute_script(
            "const s = window.__shootflowAutoconsent; return s && s.settled && s;"),
            timeout=20, message="autoconsent to settle")
        assert status["cmp"] == "cookieconsent2" and status["popup"] and status["optOut"]
        assert driver.title == "rejected"
    finally:
        driver.execute_cdp_cmd("Page.removeScriptToEvaluateOnNewDocument", script)


@pytest.fixture(scope="module")
def blocker():
    return AdBlocker.shared()


@pytest.mark.parametrize("url, resource_type", [
    ("https://securepubads.g.doubleclick.net/tag/js/gpt.js", "script"),
    ("https://pagead2.googlesyndication.com/pagead/js/adsbygoogle.js", "script"),
    ("https://www.google-analytics.com/analytics.js", "script"),
    ("https://www.google-analytics.com/g/collect?v=2&tid=G-1", "Fetch"),  # a DevTools type
    ("https://www.googletagmanager.com/gtag/js?id=G-1", "Script"),
    ("https://connect.facebook.net/en_US/fbevents.js", "script"),
    ("https://static.criteo.net/js/ld/publishertag.js", "script"),
    # Whole hosts, as a proxy asks for a CONNECT tunnel.
    ("https://stats.g.doubleclick.net/", "other"),
    ("https://pagead2.googlesyndication.com/", "other"),
    ("https://www.google-analytics.com/", "other"),
    ("https://ads.example.com/", "other"),
])
def test_ads_and_trackers_are_blocked(blocker, url, resource_type):
    assert blocker.blocks(url, NEWS, resource_type)


@pytest.mark.parametrize("url, resource_type", [
    ("https://news.example/article", "document"),
    ("https://news.example/", "other"),
    ("https://news.example/static/site.css", "stylesheet"),
    ("https://news.example/static/app.js", "script"),
    ("https://news.example/images/photo.jpg", "image"),
    ("https://cdn.jsdelivr.net/npm/jquery@3/dist/jquery.min.js", "script"),
    ("https://fonts.googleapis.com/css2?family=Roboto", "stylesheet"),
    ("https://www.google.com/", "other"),
    ("data:image/png;base64,AAAA", "image"),
])
def test_ordinary_requests_pass(blocker, url, resource_type):
    assert not blocker.blocks(url, NEWS, resource_type)


def test_options_of_a_rule_are_honoured(blocker):
    """||quantserve.com^$script,third-party: scripts, from other sites only."""
    assert "||quantserve.com^$script,third-party" in list_lines("easyprivacy.txt.gz")
    script = "https://cdn.quantserve.com/lib.js"
    assert blocker.blocks(script, NEWS, "script")
    assert blocker.blocks(script, "", "script")  # page unknown: taken as third-party
    assert not blocker.blocks(script, NEWS, "image")
    assert not blocker.blocks(script, "https://www.quantserve.com/", "script")


def test_hosts_the_lists_block_entirely_are_blocked_at_connect(blocker):
    lines = list_lines("easylist.txt.gz") + list_lines("easyprivacy.txt.gz")
    allowed = "\n".join(line for line in lines if line.startswith("@@"))
    hosts = [m[1] for line in lines if (m := re.fullmatch(r"\|\|([a-z0-9.-]+)\^", line))]
    sample = [host for host in hosts[::200] if host not in allowed]
    assert len(sample) > 100
    refused = [host for host in sample if not blocker.blocks(f"https://{host}/", NEWS)]
    assert not refused


def test_the_blocker_is_loaded_once(blocker):
    assert AdBlocker.shared() is blocker


def test_the_lists_are_package_data():
    globs = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"][
        "package-data"]["shootflow.capture"]
    capture = Path(blocking.__file__).parent
    for path in blocking.LISTS.iterdir():
        assert any(path.relative_to(capture).match(glob) for glob in globs), path.name
