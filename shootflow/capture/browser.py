"""One headless Chromium, driven through ChromeDriver, that captures one page at a time,
each in a browser context of its own."""
import functools
import logging
import os
import re
import secrets
import shutil
import tempfile
import time
from dataclasses import dataclass
from urllib.parse import urldefrag, urlsplit

from selenium import webdriver
from selenium.common.exceptions import TimeoutException, WebDriverException
from selenium.webdriver.chrome.service import Service
from urllib3.exceptions import HTTPError

from ..netpolicy import NetPolicy
from . import readiness, screenshot
from .chromium import CHROMIUM_FLAGS, chrome_options  # noqa: F401  (tests/test_ui.py)
from .contexts import CaptureContexts
from .devtools import DevTools, DevToolsError
from .egress import EgressProxy
from .emulation import TabEmulation
from .errors import (BrowserError, PageError, describe_net_error, guard_failure_kind,
                     net_error_kind)
from .limits import TITLE_LIMIT, URL_LIMIT, clip
from .netlog import MainDocument, log_messages, read_main_document
from .options import CaptureOptions, Viewport
from .processes import PROFILE_PREFIX, owner_environment

log = logging.getLogger(__name__)

# A page's alert(), confirm() or print() would block every later command ("unexpected alert
# open"); nobody is there to answer them, so they answer themselves.
NO_DIALOGS = ("window.alert = () => undefined; window.confirm = () => false; "
              "window.prompt = () => null; window.print = () => undefined;")
# The page's own errors, kept for the shot: uncaught exceptions, rejected promises, failed
# resources and console.error calls, at most CONSOLE_ERRORS of them, each cut short.
CONSOLE_ERRORS = 20
RECORD_ERRORS = """(() => {
  const errors = [], keep = (text) => {
    if (errors.length < %d) errors.push(String(text).slice(0, 500)); };
  Object.defineProperty(window, "__shootflow_errors", {value: errors});
  window.addEventListener("error", (e) => keep(e.message || ("failed to load " +
      ((e.target && (e.target.src || e.target.href)) || "a resource"))), true);
  window.addEventListener("unhandledrejection", (e) => keep("unhandled rejection: " + e.reason));
  const original = console.error;
  console.error = function (...args) { keep(args.map(String).join(" "));
                                       return original.apply(this, args); };
})();""" % CONSOLE_ERRORS
# One round trip after each load: the address and the title, no longer than they are kept
# (one character more, so clip() knows to add its ellipsis), and whether this document is
# one an earlier capture already read (the mark is set here). A load Chromium drops (a 204,
# a download, a redirect to javascript:) leaves the old document in view; the mark says so,
# so an old page is never captured as a new one.
READ_PAGE = ("const mark = arguments[0], seen = window[mark] === true; window[mark] = true; "
             "const page = [location.href.slice(0, arguments[1]), "
             "document.title.slice(0, arguments[2]), seen, "
             "Array.from(window.__shootflow_errors || [])];"
             # and then, in the same round trip, the web fonts loaded (or the bound reached)
             "const done = arguments[arguments.length - 1];"
             "const timer = setTimeout(() => done(page), arguments[3]);"
             "document.fonts.ready.then(() => { clearTimeout(timer); done(page); },"
             "                          () => done(page));")
# Scripts bound their own waits (fonts, scrolling); this only catches a page that hangs.
SCRIPT_TIMEOUT = 60
# A new context's tab starts on this; still on show after a load, the load was dropped too.
BLANK = "about:blank"
_NET_ERROR = re.compile(r"net::(ERR_[A-Z_]+)")


@dataclass(frozen=True)
class BrowserOptions:
    chromium_path: str = "/usr/bin/chromium"
    chromedriver_path: str = "/usr/bin/chromedriver"
    viewport: tuple = (1280, 800)
    page_load_timeout: int = 30
    # Networks the egress guard lets pages reach although they are not public (CIDR strings
    # or ipaddress networks); see shootflow.netpolicy.
    allowed_networks: tuple = ()
    # Send every request through the egress guard. Only measurements and the tests that
    # prove the guard turn it off.
    egress_guard: bool = True
    # Captures one browser context serves before a fresh one replaces it; captures for
    # another isolation key (another user) always get a fresh one. Between two captures in
    # one context, the capture's windows are closed and its cookies and origin's storage
    # cleared. 1 gives every capture its own context, at about twice the CPU per capture.
    context_captures: int = 50


@dataclass(frozen=True)
class CaptureResult:
    image: bytes
    title: str
    final_url: str
    http_status: int | None
    elapsed_ms: int
    format: str = "png"
    width: int | None = None    # of the image, in pixels
    height: int | None = None
    truncated: bool = False     # a full page taller than max_height, cut there
    redirects: tuple = ()       # every URL the main document was requested at
    response_headers: tuple = ()
    console_errors: tuple = ()
    timings: dict | None = None  # ms: navigation, ready, capture, encode
    options: dict | None = None  # every option the capture used
    boxes: tuple = ()            # [x, y, width, height] in the image's pixels, of the
                                 # elements matching options.measure


class Browser:
    """A started Chromium; call capture() many times, quit() once. Captures run in throwaway
    browser contexts, one per isolation key, replaced every options.context_captures
    captures; a capture's page stays on show until end_capture() or the next capture."""

    def __init__(self, options=BrowserOptions()):
        self.options = options
        self.proxy = self.driver = self._devtools = self._contexts = self._context = None
        self._context_key, self._context_uses, self._left = None, 0, None
        self._mark = f"__shootflow_{secrets.token_hex(8)}"  # see READ_PAGE
        self._shown = None  # the address of the document on show, when known
        self._emulation = None  # the capture tab's TabEmulation
        self._load_timeout = options.page_load_timeout
        context_params = {"disposeOnDetach": True}  # our connection gone: contexts go too
        if options.egress_guard:
            self.proxy = EgressProxy(NetPolicy(options.allowed_networks))
            # A new context does take the browser's --proxy-server today; said again here,
            # so that it cannot stop doing so unnoticed.
            context_params.update(proxyServer=self.proxy.url, proxyBypassList="<-loopback>")
        # The owner's pid in the profile's name lets reap_orphans() find this Chromium if
        # the owning process dies without quitting it (SIGKILL, OOM killer).
        self._profile = tempfile.mkdtemp(prefix=f"{PROFILE_PREFIX}{os.getpid()}-")
        width, height = options.viewport
        # What each capture's tab gets before its page loads (Page.enable, or the script
        # is never run).
        tab_setup = [("Page.enable", {}),
                     ("Emulation.setDeviceMetricsOverride", {
                         "width": width, "height": height, "deviceScaleFactor": 1,
                         "mobile": False}),
                     ("Page.addScriptToEvaluateOnNewDocument",
                      {"source": NO_DIALOGS + RECORD_ERRORS})]
        try:
            self.driver = webdriver.Chrome(
                options=chrome_options(options, self._profile, self.proxy and self.proxy.url),
                service=Service(options.chromedriver_path, env=owner_environment()))
            self.driver.set_page_load_timeout(options.page_load_timeout)
            self.driver.set_script_timeout(SCRIPT_TIMEOUT)
            self._devtools = DevTools(self._profile)
            # The driver's own tab, in the default context, shows no page; refused there too.
            self._devtools.call("Browser.setDownloadBehavior", {"behavior": "deny"})
            self._user_agent = self._devtools.call("Browser.getVersion")["userAgent"]
            self._contexts = CaptureContexts(self._devtools, context_params, tab_setup)
            self._contexts.prepare()  # the first capture's, while the caller gets ready
        except (WebDriverException, DevToolsError, OSError) as exc:
            self.quit()
            raise BrowserError(f"could not start Chromium: {getattr(exc, 'msg', None) or exc}") \
                from exc

    @property
    def pid(self):
        return self.driver.service.process.pid

    def capture(self, url, isolation=None, options=None):
        """Load url and take the picture options ask for (by default, the viewport as PNG);
        PageError for the page's faults.

        Captures with another isolation key (one per user) never share a browser context."""
        options = options or CaptureOptions(viewport=Viewport(*self.options.viewport))
        timeout = options.timeout or self.options.page_load_timeout
        started = time.monotonic()
        deadline = started + timeout
        driver = self.driver
        consent = None
        try:
            self._open_context(isolation)
            self._left.add(_origin(url))
            self._emulation.apply(options)
            if self._load_timeout != timeout:
                driver.set_page_load_timeout(timeout)
                self._load_timeout = timeout
            if options.cookies:
                self._set_cookies(url, options.cookies)
            if options.hide_banners:  # autoconsent runs in this capture's documents only
                consent = driver.execute_cdp_cmd("Page.addScriptToEvaluateOnNewDocument",
                                                 {"source": _autoconsent()})
            if self._same_document(url):
                # Only the fragment differs: Chromium would scroll the page it shows instead
                # of loading a new one, and the mark would call that a dropped load.
                driver.get(BLANK)
            if self.proxy is not None:
                self.proxy.new_page(url, _ad_blocker() if options.block_ads else None)
            try:
                driver.get(url)
            except TimeoutException:
                raise PageError(f"timed out after {timeout} s", restart=True,
                                kind="timeout") from None
            except WebDriverException as exc:
                match = _NET_ERROR.search(exc.msg or "")
                if not match:
                    raise
                raise self._page_error(match.group(1), self._main_document()[0], url) \
                    from None
            loaded = time.monotonic()
            document, messages = self._main_document()
            if document.net_error or document.from_guard:
                raise self._page_error(document.net_error, document, url)
            final_url, title, seen, errors = driver.execute_async_script(
                READ_PAGE, self._mark, URL_LIMIT + 1, TITLE_LIMIT + 1,
                readiness.font_wait_ms(deadline))
            final_url, title = clip(final_url, URL_LIMIT), clip(title, TITLE_LIMIT)
            self._shown = final_url
            self._left.add(_origin(final_url))
            if seen or final_url == BLANK:
                raise self._dropped(document, url)
            if not final_url.startswith(("http://", "https://")):
                if document.aborted:
                    raise PageError(describe_net_error(document.aborted, document.url or url),
                                    kind=net_error_kind(document.aborted))
                final_url = driver.current_url  # an error page's own address says less
                raise PageError(f"the page ended on a non-web address ({final_url[:80]})")
            self._get_ready(options, messages, deadline, timeout)
            boxes = readiness.measure(driver, options.measure) if options.measure else ()
            ready = time.monotonic()
            picture = screenshot.take(driver, options, deadline)
            if (options.wait_until != "load" or options.wait_for or options.delay
                    or options.javascript or options.full_page):  # errors since READ_PAGE
                errors = driver.execute_script(
                    "return Array.from(window.__shootflow_errors || []);") or errors
        except PageError:
            raise
        except DevToolsError as exc:
            raise BrowserError(f"the browser failed: {exc}") from exc
        except WebDriverException as exc:
            raise BrowserError(f"the browser failed: {(exc.msg or str(exc)).splitlines()[0]}") \
                from exc
        except (HTTPError, OSError) as exc:  # ChromeDriver itself is gone (killed, crashed)
            raise BrowserError("the browser stopped unexpectedly") from exc
        finally:
            if consent is not None:
                self._forget_script(consent)
        elapsed = round((time.monotonic() - started) * 1000)
        timings = {"navigation": round((loaded - started) * 1000),
                   "ready": round((ready - loaded) * 1000) + picture.scroll_ms,
                   "capture": picture.capture_ms, "encode": picture.encode_ms}
        return CaptureResult(
            picture.data, title, final_url, document.status, elapsed, format=options.format,
            width=picture.width, height=picture.height, truncated=picture.truncated,
            redirects=document.redirects, response_headers=document.headers,
            console_errors=tuple(errors or ()), timings=timings, options=options.to_json(),
            boxes=boxes)

    def _get_ready(self, options, messages, deadline, timeout):
        """Wait as the options say, then change the page as they say, before the picture."""
        driver = self.driver
        if options.wait_until == "networkidle":
            readiness.wait_for_network_idle(driver, messages, deadline, timeout)
        if options.wait_for:
            readiness.wait_for_selector(driver, options.wait_for, deadline, timeout)
        if options.delay:
            time.sleep(options.delay)
        if options.hide_banners:
            readiness.wait_for_consent(driver, deadline)
        if options.hide or options.hide_banners:
            readiness.hide(driver, options.hide, self._banner_stylesheet(options))
        if options.javascript:
            readiness.run_script(driver, options.javascript)

    def _banner_stylesheet(self, options):
        if not options.hide_banners:
            return ""
        from .blocking import banner_stylesheet
        return banner_stylesheet(urlsplit(self._shown or "").hostname or "")

    def _forget_script(self, script):
        try:
            self.driver.execute_cdp_cmd("Page.removeScriptToEvaluateOnNewDocument", script)
        except (WebDriverException, HTTPError, OSError):  # the browser is gone: so is it
            log.debug("could not remove a capture's script", exc_info=True)

    def _set_cookies(self, url, cookies):
        for i, cookie in enumerate(cookies):
            params = {"name": cookie["name"], "value": cookie["value"], "url": url}
            if "domain" in cookie:
                params["domain"] = cookie["domain"]
            if "path" in cookie:
                params["path"] = cookie["path"]
            if not self.driver.execute_cdp_cmd("Network.setCookie", params).get("success", True):
                raise PageError(f"cookies[{i}] ({cookie['name'][:40]}) could not be set for "
                                "this page (check its domain and path)")

    def _open_context(self, key):
        """Make the tab ready for a capture: the same context, tidied, while it may serve
        more captures for this key; else a new context (the old one disposed of)."""
        if (self._context is not None and key == self._context_key
                and self._context_uses < self.options.context_captures):
            self.end_capture()
        else:
            context = self._contexts.take()
            self.dispose_context()
            self._context, self._context_key, self._context_uses = context, key, 0
            self.driver.switch_to.window(context.target)
            self._main_frame = context.target  # a tab's main frame has the tab's target id
            self._shown = None
            self._emulation = TabEmulation(self.driver.execute_cdp_cmd, self.options.viewport,
                                           self._user_agent)
        self._context_uses += 1
        self._left = set()  # the origins to clear: from here on, end_capture() tidies
        if self._context_uses >= self.options.context_captures:
            self._contexts.prepare()  # the next capture's, while this one loads

    def end_capture(self):
        """Leave the context as a new one for the next capture: the page's windows closed,
        its cookies and its origins' storage cleared. The page stays on show until the next
        load (a blank page in between costs a renderer each time); what it still writes is
        its own origin's, which only that origin can read."""
        if self._context is None or self._left is None:
            return
        origins, self._left = self._left, None
        try:
            self._contexts.close_windows(self._context)
            self._contexts.clear(self._context, sorted(filter(None, origins)))
        except (WebDriverException, DevToolsError, HTTPError, OSError) as exc:
            log.warning("could not tidy a capture's context (%s); disposing of it", exc)
            self.dispose_context()

    def dispose_context(self):
        """Dispose of the last capture's context: its page, pop-ups, storage, credentials and
        service workers go, and none of its scripts runs on (does not wait)."""
        context, self._context, self._left = self._context, None, None
        if context is not None:
            self._contexts.dispose(context)

    def _same_document(self, url):
        """Would loading url only move within the page on show (or is that unknown)?"""
        if "#" not in url:
            return False
        return self._shown is None or urldefrag(url).url == urldefrag(self._shown).url

    @staticmethod
    def _dropped(document, url):
        """Chromium kept the document on show: why, as far as the network log says."""
        if document.status in (204, 205):
            return PageError(f"the server sent no page (HTTP {document.status})")
        if document.url and not document.url.startswith(("http://", "https://")):
            # a redirect Chromium would not follow (ftp:, ws:)
            return PageError(f"the page ended on a non-web address ({document.url[:80]})")
        if document.aborted:
            return PageError(describe_net_error(document.aborted, document.url or url),
                             kind=net_error_kind(document.aborted))
        return PageError("the browser did not show a new page "
                         "(the address may start a download instead)")

    def _main_document(self):
        """The top-level document's last URL, status and net error, from the network log;
        and the log's messages read."""
        messages, guarded = log_messages(self.driver), self.proxy is not None
        document = read_main_document(messages, self._main_frame, guarded)
        if document is None:  # the main frame has a new id (Chromium does not promise one)
            self._main_frame = self.driver.execute_cdp_cmd(
                "Page.getFrameTree", {})["frameTree"]["frame"]["id"]
            document = read_main_document(messages, self._main_frame, guarded)
        return document or MainDocument(), messages

    def _page_error(self, net_error, document, url):
        """A PageError for a failed top-level document; the guard's reason when it was the guard."""
        target = document.url or url
        net_error = net_error and net_error.removeprefix("net::")
        if self.proxy is not None and (
                document.from_guard or net_error == "ERR_TUNNEL_CONNECTION_FAILED"):
            parts = urlsplit(target)
            port = parts.port or (443 if parts.scheme in ("https", "wss") else 80)
            reason = self.proxy.failure(parts.hostname or "", port)
            if reason:
                return PageError(reason, kind=guard_failure_kind(reason))
        if net_error is None:
            return PageError(f"the page failed to load (HTTP {document.status} from the guard)",
                             kind="connection")
        return PageError(describe_net_error(net_error, target),
                         restart=net_error.endswith("ERR_PROXY_CONNECTION_FAILED"),
                         kind=net_error_kind(net_error))

    def quit(self):
        try:
            if self._contexts is not None:
                self._contexts.close()
            if self._devtools is not None:
                self._devtools.close()
            if self.driver is not None:
                self.driver.quit()
        except Exception:  # already dead: nothing left to tell
            log.debug("browser quit failed", exc_info=True)
        finally:
            if self.proxy is not None:
                self.proxy.stop()
            shutil.rmtree(self._profile, ignore_errors=True)


@functools.cache
def _autoconsent():
    from .blocking import autoconsent_script
    return autoconsent_script()


def _ad_blocker():
    from .blocking import AdBlocker  # loaded on first use: 0.3 s and 60 MB per process
    return AdBlocker.shared()


def _origin(url):
    """scheme://host[:port] of an http(s) URL, '' for anything else."""
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc.rsplit('@', 1)[-1]}" \
        if parts.scheme in ("http", "https") else ""
