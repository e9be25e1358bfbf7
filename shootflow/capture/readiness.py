"""Waiting for a loaded page to be ready to capture: its web fonts, the network gone quiet,
an element that must appear, a fixed delay. Each wait is bounded by the capture's deadline."""
import time

from selenium.common.exceptions import JavascriptException

from .errors import PageError
from .netlog import log_messages

FONT_WAIT_SECONDS = 3
IDLE_SECONDS = 0.5
POLL_SECONDS = 0.05
FIND = "return document.querySelector(arguments[0]) !== null;"


def font_wait_ms(deadline):
    """How long the page's web fonts may take (browser.READ_PAGE waits for them): a page is
    still captured with its fallback fonts once this has passed."""
    return round(max(0.0, min(FONT_WAIT_SECONDS, deadline - time.monotonic())) * 1000)


class InFlight:
    """Requests of the tab not yet finished, from the performance log's Network events."""

    def __init__(self):
        self.pending = set()

    def read(self, messages):
        for message in messages:
            method, params = message.get("method"), message.get("params", {})
            if method == "Network.requestWillBeSent":
                self.pending.add(params.get("requestId"))
            elif method in ("Network.loadingFinished", "Network.loadingFailed"):
                self.pending.discard(params.get("requestId"))
        return self


CONSENT_WAIT_SECONDS = 3
CONSENT_LOOK_SECONDS = 1
CONSENT_STATUS = "return window.__shootflowAutoconsent || null;"


def wait_for_consent(driver, deadline):
    """Give autoconsent (blocking.autoconsent_script) a moment to answer a consent tool with
    "reject": until it has settled, or has found no tool within a second, at most a few
    seconds. Whatever it leaves, the banner style sheet hides next."""
    started = time.monotonic()
    limit = min(deadline, started + CONSENT_WAIT_SECONDS)
    while time.monotonic() < limit:
        status = driver.execute_script(CONSENT_STATUS) or {}
        if status.get("settled") or (not status.get("cmp") and
                                     time.monotonic() - started >= CONSENT_LOOK_SECONDS):
            return status
        time.sleep(POLL_SECONDS * 2)
    return None


def wait_for_network_idle(driver, messages, deadline, timeout):
    """No request in flight for IDLE_SECONDS; PageError if that never happens in time."""
    inflight = InFlight().read(messages)
    quiet_since = time.monotonic() if not inflight.pending else None
    while True:
        now = time.monotonic()
        if quiet_since is not None and now - quiet_since >= IDLE_SECONDS:
            return
        if now >= deadline:
            raise PageError(f"the network did not go quiet within {timeout} s "
                            f"({len(inflight.pending)} requests still open)", kind="timeout")
        time.sleep(POLL_SECONDS)
        inflight.read(log_messages(driver))
        if inflight.pending:
            quiet_since = None
        elif quiet_since is None:
            quiet_since = time.monotonic()


def wait_for_selector(driver, selector, deadline, timeout):
    """The first element matching selector exists; PageError if it never does in time."""
    while True:
        try:
            if driver.execute_script(FIND, selector):
                return
        except JavascriptException:
            raise PageError(f"wait_for is not a valid CSS selector ({selector[:80]})") \
                from None
        if time.monotonic() >= deadline:
            raise PageError(f"no element matched wait_for ({selector[:80]}) within "
                            f"{timeout} s")
        time.sleep(POLL_SECONDS * 2)


def run_script(driver, source):
    """The person's own script, run in the page before the capture."""
    try:
        driver.execute_script(source)
    except JavascriptException as exc:
        message = (exc.msg or "").removeprefix("javascript error: ").splitlines()[0][:300]
        raise PageError(f"the javascript option failed: {message}") from None


# Adds a style sheet; returns the first of the selectors that is not valid CSS, if any.
ADD_STYLE = ("for (const selector of arguments[1]) {"
             "  try { document.querySelector(selector); } catch (e) { return selector; } }"
             "const style = document.createElement('style'); style.textContent = arguments[0];"
             "(document.head || document.documentElement).appendChild(style); return null;")


def hide(driver, selectors, stylesheet=""):
    """Hide the elements matching selectors, and whatever stylesheet hides."""
    css = stylesheet + "".join(f"{selector}{{display:none!important}}" for selector in selectors)
    if css:
        invalid = driver.execute_script(ADD_STYLE, css, list(selectors))
        if invalid is not None:
            raise PageError(f"hide has an invalid CSS selector ({invalid[:80]})")


# The boxes of every element matching each selector, in the picture's pixels (document
# coordinates times the device pixel ratio); an invalid selector measures nothing.
MEASURE = """
const boxes = [], ratio = window.devicePixelRatio;
for (const selector of arguments[0]) {
  let found = [];
  try { found = document.querySelectorAll(selector); } catch (e) { continue; }
  for (const element of found) {
    const box = element.getBoundingClientRect();
    if (box.width > 0 && box.height > 0)
      boxes.push([box.left + window.scrollX, box.top + window.scrollY, box.width, box.height]
                 .map((v) => Math.round(v * ratio)));
  }
}
return boxes;
"""


def measure(driver, selectors):
    """Where the elements matching selectors are, as [x, y, width, height] in pixels."""
    return tuple(tuple(box) for box in driver.execute_script(MEASURE, list(selectors)))
