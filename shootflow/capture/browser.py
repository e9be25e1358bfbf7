"""One headless Chromium, driven through ChromeDriver, that captures one page at a time."""
import json
import logging
import re
import shutil
import tempfile
import time
from dataclasses import dataclass

from selenium import webdriver
from selenium.common.exceptions import TimeoutException, WebDriverException
from selenium.webdriver.chrome.service import Service

from .errors import BrowserError, PageError, describe_net_error

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
_NET_ERROR = re.compile(r"net::(ERR_[A-Z_]+)")


@dataclass(frozen=True)
class BrowserOptions:
    chromium_path: str = "/usr/bin/chromium"
    chromedriver_path: str = "/usr/bin/chromedriver"
    viewport: tuple = (1280, 800)
    page_load_timeout: int = 30


@dataclass(frozen=True)
class CaptureResult:
    png: bytes
    title: str
    final_url: str
    http_status: int | None
    elapsed_ms: int


class Browser:
    """A started Chromium; call capture() many times, quit() once."""

    def __init__(self, options=BrowserOptions()):
        self.options = options
        self._profile = tempfile.mkdtemp(prefix="shootflow-chromium-")
        chrome = webdriver.ChromeOptions()
        chrome.binary_location = options.chromium_path
        width, height = options.viewport
        for flag in (*CHROMIUM_FLAGS, f"--window-size={width},{height}",
                     f"--user-data-dir={self._profile}"):
            chrome.add_argument(flag)
        chrome.set_capability("goog:loggingPrefs", {"performance": "ALL"})
        chrome.add_experimental_option(
            "perfLoggingPrefs", {"enableNetwork": True, "enablePage": False})
        try:
            self.driver = webdriver.Chrome(
                options=chrome, service=Service(options.chromedriver_path))
            self.driver.set_page_load_timeout(options.page_load_timeout)
            self.driver.execute_cdp_cmd("Emulation.setDeviceMetricsOverride", {
                "width": width, "height": height, "deviceScaleFactor": 1, "mobile": False})
        except WebDriverException as exc:
            shutil.rmtree(self._profile, ignore_errors=True)
            raise BrowserError(f"could not start Chromium: {exc.msg}") from exc

    @property
    def pid(self):
        return self.driver.service.process.pid

    def capture(self, url):
        """Load url and screenshot the viewport; PageError for the page's faults."""
        started = time.monotonic()
        driver = self.driver
        try:
            driver.get_log("performance")  # drop what the previous page left
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
                raise PageError(describe_net_error(match.group(1), url)) from None
            status, net_error = self._main_document_outcome()
            if net_error:
                raise PageError(describe_net_error(net_error, url))
            final_url = driver.current_url
            if not final_url.startswith(("http://", "https://")):
                raise PageError(f"the page ended on a non-web address ({final_url[:80]})")
            title = driver.title
            png = driver.get_screenshot_as_png()
            driver.execute_cdp_cmd("Network.clearBrowserCookies", {})
        except PageError:
            raise
        except WebDriverException as exc:
            raise BrowserError(f"the browser failed: {(exc.msg or str(exc)).splitlines()[0]}") \
                from exc
        elapsed = round((time.monotonic() - started) * 1000)
        return CaptureResult(png, title, final_url, status, elapsed)

    def _main_document_outcome(self):
        """(HTTP status, net error) of the top-level document, from the network log."""
        main_frame = self.driver.execute_cdp_cmd("Page.getFrameTree", {})["frameTree"]["frame"]["id"]
        request_id, status, error = None, None, None
        for entry in self.driver.get_log("performance"):
            message = json.loads(entry["message"])["message"]
            params = message.get("params", {})
            method = message.get("method")
            if method == "Network.requestWillBeSent" and request_id is None:
                if params.get("type") == "Document" and params.get("frameId") == main_frame:
                    request_id = params["requestId"]
            elif params.get("requestId") != request_id or request_id is None:
                continue
            elif method == "Network.responseReceived":
                status = params["response"].get("status")
            elif method == "Network.loadingFailed" and not params.get("canceled"):
                error = params.get("errorText")
        return status, error

    def quit(self):
        try:
            self.driver.quit()
        except Exception:  # already dead: nothing left to tell
            log.debug("browser quit failed", exc_info=True)
        finally:
            shutil.rmtree(self._profile, ignore_errors=True)
