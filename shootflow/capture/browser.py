"""One headless Chromium, driven through ChromeDriver, that captures one page at a time."""
import base64
import json
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
from .egress import FAILURE_HEADER, EgressProxy
from .errors import BrowserError, PageError, describe_net_error
from .processes import PROFILE_PREFIX, owner_environment

log = logging.getLogger(__name__)

# A closed network refuses Chromium's own background traffic; these flags keep it quiet.
CHROMIUM_FLAGS = (
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-default-apps",
    "--disable-extensions",
    "--disable-quic",
    "--no-first-run",
    "--no-default-browser-check",
    "--hide-scrollbars",
    "--mute-audio",
    "--metrics-recording-only",
)
# WebRTC may send UDP only through a proxy, and an HTTP proxy carries none, so no STUN or
# TURN packet goes around the egress guard (WebTransport refuses to run behind a proxy).
# A profile preference: --force-webrtc-ip-handling-policy is ignored by --headless=new.
GUARD_PREFS = {"webrtc.ip_handling_policy": "disable_non_proxied_udp"}
# A page's alert(), confirm() or print() would block every later command ("unexpected alert
# open"); nobody is there to answer them, so they answer themselves.
NO_DIALOGS = ("window.alert = () => undefined; window.confirm = () => false; "
              "window.prompt = () => null; window.print = () => undefined;")
# One round trip after each load: the address, the title, and whether this document is one
# the previous capture already read (the mark is set here). A load Chromium drops (a 204, a
# download, a redirect to javascript:) leaves the old document in view; the mark says so,
# so an old page is never captured as a new one.
READ_PAGE = ("const mark = arguments[0], seen = window[mark] === true; window[mark] = true; "
             "return [location.href, document.title, seen];")
SCREENSHOT = {"format": "png", "optimizeForSpeed": True}
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
    # Chromium's disk cache folder (None: inside the browser's own profile). A session hands
    # the same folder to each browser it starts, so a recycled browser starts warm.
    cache_dir: str | None = None


@dataclass(frozen=True)
class CaptureResult:
    png: bytes
    title: str
    final_url: str
    http_status: int | None
    elapsed_ms: int


@dataclass(frozen=True)
class _MainDocument:
    """What the network log says about the top-level document."""
    url: str | None = None       # the last URL requested, after any redirects
    status: int | None = None
    net_error: str | None = None
    from_guard: bool = False     # the response was the egress guard's refusal or failure
    aborted: str | None = None   # the net error when Chromium cancelled the navigation


class Browser:
    """A started Chromium; call capture() many times, quit() once."""

    def __init__(self, options=BrowserOptions()):
        self.options = options
        self.proxy = None
        self._mark = f"__shootflow_{secrets.token_hex(8)}"  # see READ_PAGE
        self._shown = None  # the address of the document on show, when known
        flags = [*CHROMIUM_FLAGS]
        if options.egress_guard:
            self.proxy = EgressProxy(NetPolicy(options.allowed_networks))
            # "<-loopback>" takes away Chromium's implicit bypass for localhost and
            # 127.0.0.0/8, so every request, loopback included, meets the guard.
            flags += [f"--proxy-server={self.proxy.url}", "--proxy-bypass-list=<-loopback>"]
        # The owner's pid in the profile's name lets reap_orphans() find this Chromium if
        # the owning process dies without quitting it (SIGKILL, OOM killer).
        self._profile = tempfile.mkdtemp(prefix=f"{PROFILE_PREFIX}{os.getpid()}-")
        chrome = webdriver.ChromeOptions()
        chrome.binary_location = options.chromium_path
        width, height = options.viewport
        if options.cache_dir:
            flags.append(f"--disk-cache-dir={options.cache_dir}")
        for flag in (*flags, f"--window-size={width},{height}",
                     f"--user-data-dir={self._profile}"):
            chrome.add_argument(flag)
        chrome.set_capability("goog:loggingPrefs", {"performance": "ALL"})
        chrome.unhandled_prompt_behavior = "dismiss"  # e.g. a beforeunload prompt
        chrome.add_experimental_option(
            "perfLoggingPrefs", {"enableNetwork": True, "enablePage": False})
        if self.proxy is not None:
            chrome.add_experimental_option("prefs", GUARD_PREFS)
        try:
            service = Service(options.chromedriver_path, env=owner_environment())
            self.driver = webdriver.Chrome(options=chrome, service=service)
            self.driver.set_page_load_timeout(options.page_load_timeout)
            self.driver.execute_cdp_cmd("Emulation.setDeviceMetricsOverride", {
                "width": width, "height": height, "deviceScaleFactor": 1, "mobile": False})
            self.driver.execute_cdp_cmd("Page.addScriptToEvaluateOnNewDocument",
                                        {"source": NO_DIALOGS})
            self._main_frame = self._frame_id()
        except WebDriverException as exc:
            shutil.rmtree(self._profile, ignore_errors=True)
            if self.proxy is not None:
                self.proxy.stop()
            raise BrowserError(f"could not start Chromium: {exc.msg}") from exc

    @property
    def pid(self):
        return self.driver.service.process.pid

    def capture(self, url):
        """Load url and screenshot the viewport; PageError for the page's faults."""
        started = time.monotonic()
        driver = self.driver
        try:
            if self._same_document(url):
                # Only the fragment differs: Chromium would scroll the page it shows instead
                # of loading a new one, and the mark below would call that a dropped load.
                driver.get("about:blank")
            self._shown = None
            driver.get_log("performance")  # drop what the previous page left
            if self.proxy is not None:
                self.proxy.new_page()
            try:
                driver.get(url)
            except TimeoutException:
                raise PageError(
                    f"timed out after {self.options.page_load_timeout} s", restart=True
                ) from None
            except WebDriverException as exc:
                match = _NET_ERROR.search(exc.msg or "")
                if not match:
                    raise
                raise self._page_error(match.group(1), self._main_document(), url) from None
            document = self._main_document()
            if document.net_error or document.from_guard:
                raise self._page_error(document.net_error, document, url)
            final_url, title, seen = driver.execute_script(READ_PAGE, self._mark)
            self._shown = final_url
            if seen:
                raise self._dropped(document, url)
            if not final_url.startswith(("http://", "https://")):
                if document.aborted:
                    raise PageError(describe_net_error(document.aborted, document.url or url))
                final_url = driver.current_url  # an error page's own address says less
                raise PageError(f"the page ended on a non-web address ({final_url[:80]})")
            png = self._screenshot()
            driver.execute_cdp_cmd("Network.clearBrowserCookies", {})
        except PageError:
            raise
        except WebDriverException as exc:
            raise BrowserError(f"the browser failed: {(exc.msg or str(exc)).splitlines()[0]}") \
                from exc
        except (HTTPError, OSError) as exc:  # ChromeDriver itself is gone (killed, crashed)
            raise BrowserError("the browser stopped unexpectedly") from exc
        elapsed = round((time.monotonic() - started) * 1000)
        return CaptureResult(png, title, final_url, document.status, elapsed)

    def _same_document(self, url):
        """Would loading url only move within the page on show (or is that unknown)?"""
        if "#" not in url:
            return False
        return self._shown is None or urldefrag(url).url == urldefrag(self._shown).url

    def _screenshot(self):
        """The viewport as PNG. Through CDP with optimizeForSpeed: a faster zlib setting
        than WebDriver's screenshot command (about 85 ms instead of 150 ms here, ~20%
        larger files)."""
        shot = self.driver.execute_cdp_cmd("Page.captureScreenshot", SCREENSHOT)
        return base64.b64decode(shot["data"])

    @staticmethod
    def _dropped(document, url):
        """Chromium kept the previous document: why, as far as the network log says."""
        if document.status in (204, 205):
            return PageError(f"the server sent no page (HTTP {document.status})")
        if document.url and not document.url.startswith(("http://", "https://")):
            # a redirect Chromium would not follow (ftp:, ws:)
            return PageError(f"the page ended on a non-web address ({document.url[:80]})")
        if document.aborted:
            return PageError(describe_net_error(document.aborted, document.url or url))
        return PageError("the browser did not show a new page "
                         "(the address may start a download instead)")

    def _main_document(self):
        """The top-level document's last URL, status and net error, from the network log."""
        entries = [json.loads(entry["message"])["message"]
                   for entry in self.driver.get_log("performance")]
        document = self._read_main_document(entries)
        if document is None:  # the main frame has a new id (Chromium does not promise one)
            self._main_frame = self._frame_id()
            document = self._read_main_document(entries) or _MainDocument()
        return document

    def _frame_id(self):
        return self.driver.execute_cdp_cmd("Page.getFrameTree", {})["frameTree"]["frame"]["id"]

    def _read_main_document(self, entries):
        """What entries say about the main frame's document; None if it requested none."""
        request_id, url, status, error, from_guard, aborted = None, None, None, None, False, None
        for message in entries:
            params = message.get("params", {})
            method = message.get("method")
            if method == "Network.requestWillBeSent" and request_id is None:
                if params.get("type") == "Document" and params.get("frameId") == self._main_frame:
                    request_id, url = params["requestId"], params["request"]["url"]
            elif params.get("requestId") != request_id or request_id is None:
                continue
            elif method == "Network.requestWillBeSent":  # a redirect: same id, next URL
                url = params["request"]["url"]
            elif method == "Network.responseReceived":
                status = params["response"].get("status")
                headers = params["response"].get("headers", {})
                from_guard = (self.proxy is not None and any(
                    name.lower() == FAILURE_HEADER.lower() for name in headers))
            elif method == "Network.loadingFailed" and params.get("canceled"):
                aborted = params.get("errorText")
            elif method == "Network.loadingFailed":
                error = params.get("errorText")
        if request_id is None:
            return None
        return _MainDocument(url, status, error, from_guard, aborted)

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
                return PageError(reason)
        if net_error is None:
            return PageError(f"the page failed to load (HTTP {document.status} from the guard)")
        return PageError(describe_net_error(net_error, target),
                         restart=net_error.endswith("ERR_PROXY_CONNECTION_FAILED"))

    def quit(self):
        try:
            self.driver.quit()
        except Exception:  # already dead: nothing left to tell
            log.debug("browser quit failed", exc_info=True)
        finally:
            if self.proxy is not None:
                self.proxy.stop()
            shutil.rmtree(self._profile, ignore_errors=True)
