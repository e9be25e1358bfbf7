"""A long-lived browser per process: started on first use, reused, recycled, replaced."""
import logging

from .browser import Browser, BrowserOptions
from .errors import BrowserError, PageError
from .processes import kill_tree

log = logging.getLogger(__name__)


class BrowserSession:
    """Hands out one Browser, replacing it after a browser fault or max_captures captures."""

    def __init__(self, options=BrowserOptions(), max_captures=100, factory=Browser):
        self.options = options
        self.max_captures = max_captures
        self._factory = factory
        self._browser = None
        self.captures = 0
        self.started = 0

    @property
    def browser(self):
        if self._browser is None:
            self._browser = self._factory(self.options)
            self.started += 1
            self.captures = 0
        return self._browser

    def capture(self, url, isolation=None, options=None):
        """Capture url; PageError for the page's fault, BrowserError if even a fresh browser
        fails. Captures with different isolation keys (users) share no browser context."""
        try:
            result = self.browser.capture(url, isolation, options)
        except PageError as exc:
            if exc.restart:
                self.close()
            raise
        except BrowserError:
            self.close()
            raise
        finally:
            self.captures += 1
            if self._browser is not None:
                # Nothing of this capture (page, pop-ups, storage) waits for the next one.
                self._browser.end_capture()
        if self.captures >= self.max_captures:
            log.info("recycling the browser after %d captures", self.captures)
            self.close()
        return result

    def kill(self):
        """Stop the current browser at once, even mid-capture (called from another thread)."""
        browser = self._browser
        if browser is not None:
            log.info("killing the browser (ChromeDriver pid %s)", browser.pid)
            kill_tree(browser.pid)

    def close(self):
        """Quit the browser; the next capture starts a new one."""
        if self._browser is not None:
            browser, self._browser = self._browser, None
            browser.quit()

    def shutdown(self):
        """Quit the browser: the process is ending."""
        self.close()
