"""Throwaway browser contexts for captures, made ready before a capture needs one."""
import logging
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from .devtools import DevToolsError

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class CaptureContext:
    """A browser context (its own cookies, storage, HTTP cache, cached credentials, service
    workers, permissions and windows) with one blank tab in it."""
    id: str      # the browserContextId
    target: str  # the tab's target id: ChromeDriver's window handle and its main frame's id
    session: str = ""  # our DevTools session on the tab, for commands about its storage


class CaptureContexts:
    """Makes CaptureContexts one ahead, in a thread of its own (a context costs round trips,
    a window and a renderer: made while the previous page loads, most of that is hidden),
    and disposes of used ones."""

    def __init__(self, devtools, context_params, tab_setup):
        self._devtools = devtools
        self._context_params = context_params  # for Target.createBrowserContext
        self._tab_setup = tab_setup            # (method, params) to send to each new tab
        self._executor = ThreadPoolExecutor(1, thread_name_prefix="capture-contexts")
        self._next = None

    def prepare(self):
        """Start making the next context, unless one is ready or on its way."""
        if self._next is None:
            self._next = self._executor.submit(self._create)

    def take(self):
        """The prepared context (waiting for it if need be); DevToolsError if it failed."""
        self.prepare()
        future, self._next = self._next, None
        try:
            return future.result(self._devtools.timeout)
        except TimeoutError:
            raise DevToolsError("a new browser context took too long to make") from None

    def close_windows(self, context):
        """Close every page of context but its tab (pop-ups, windows it opened); waits, so
        none of them can act on the next capture."""
        extra = self._windows(context)
        for target in extra:
            self._devtools.send("Target.closeTarget", {"targetId": target})
        deadline = time.monotonic() + self._devtools.timeout
        while extra and time.monotonic() < deadline:  # closing is asynchronous
            time.sleep(0.01)
            extra = self._windows(context)
        if extra:
            raise DevToolsError(f"{len(extra)} windows of a capture would not close")

    def clear(self, context, origins):
        """Clear context's cookies and these origins' storage (local storage, IndexedDB,
        service workers, caches): what one capture leaves for the next in one context."""
        devtools = self._devtools
        cleared = [devtools.send("Storage.clearCookies", {"browserContextId": context.id})]
        cleared += [devtools.send("Storage.clearDataForOrigin", {
            "origin": origin, "storageTypes": "all"}, context.session) for origin in origins]
        for future in cleared:
            future.result(devtools.timeout)

    def _windows(self, context):
        """The pages of context other than its own tab: pop-ups and windows it opened."""
        infos = self._devtools.call("Target.getTargets")["targetInfos"]
        return [info["targetId"] for info in infos if info.get("browserContextId") == context.id
                and info["targetId"] != context.target and info["type"] == "page"]

    def dispose(self, context):
        """Close context and everything in it (pop-ups too); does not wait."""
        try:
            self._devtools.send("Target.disposeBrowserContext",
                                {"browserContextId": context.id}).add_done_callback(_logged)
        except DevToolsError as exc:  # the browser is gone, and its contexts with it
            log.debug("could not dispose of a browser context: %s", exc)

    def _create(self):
        devtools = self._devtools
        context = devtools.call("Target.createBrowserContext", self._context_params)
        context_id = context["browserContextId"]
        try:
            # Downloads are refused per context: the browser-wide setting does not reach it.
            denied = devtools.send("Browser.setDownloadBehavior",
                                   {"behavior": "deny", "browserContextId": context_id})
            target = devtools.call("Target.createTarget",
                                   {"url": "about:blank", "browserContextId": context_id})
            target_id = target["targetId"]
            # Our session stays attached for the tab's life: what it sets (viewport, scripts
            # for new documents) lasts only as long as the session that set it.
            session = devtools.call("Target.attachToTarget",
                                    {"targetId": target_id, "flatten": True})["sessionId"]
            sent = [devtools.send(method, params, session) for method, params in self._tab_setup]
            for future in (denied, *sent):
                future.result(devtools.timeout)
        except Exception:
            self.dispose(CaptureContext(context_id, ""))
            raise
        return CaptureContext(context_id, target_id, session)

    def close(self):
        """Stop making contexts (the browser is quitting: every context goes with it)."""
        self._executor.shutdown(wait=False, cancel_futures=True)
        self._next = None


def _logged(future):
    if future.exception() is not None:
        log.debug("disposing of a browser context failed: %s", future.exception())
