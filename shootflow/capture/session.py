"""A long-lived browser per process: started on first use, reused, recycled, replaced."""
import dataclasses
import logging
import os
import shutil
import tempfile

from .browser import Browser, BrowserOptions
from .errors import BrowserError, PageError
from .processes import PROFILE_PREFIX, kill_tree

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
            if self.options.cache_dir is None:
                # One disk cache for every browser of this session: a replacement starts
                # with what its predecessor fetched (a cold cache made the first captures
                # after a recycle several times slower).
                self.options = dataclasses.replace(self.options, cache_dir=tempfile.mkdtemp(
                    prefix=f"{PROFILE_PREFIX}{os.getpid()}-cache-"))
            self._browser = self._factory(self.options)
            self.started += 1
            self.captures = 0
        return self._browser

    def capture(self, url):
        """Capture url; PageError for the page's fault, BrowserError if even a fresh browser fails."""
        try:
            result = self.browser.capture(url)
        except PageError as exc:
            if exc.restart:
                self.close()
            raise
        except BrowserError:
            self.close()
            raise
        finally:
            self.captures += 1
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
        """Quit the browser and remove the session's disk cache: the process is ending."""
        self.close()
        if self.options.cache_dir is not None:
            shutil.rmtree(self.options.cache_dir, ignore_errors=True)
            self.options = dataclasses.replace(self.options, cache_dir=None)
