"""What a capture's tab pretends to be: its viewport, scale, user agent, touch, media
features and extra request headers, set through CDP. Sent only when a capture asks for
something other than what the tab already has, so the plain capture costs nothing more."""
import re

# The state a new capture tab starts in (its tab set-up sets the browser's viewport).
_DEFAULTS = {"ua": None, "touch": False, "media": (False, False), "headers": ()}


def mobile_user_agent(user_agent):
    """Chromium's own user agent as the same version on an Android phone would send it."""
    agent = re.sub(r"\([^)]*\)", "(Linux; Android 10; K)", user_agent, count=1)
    agent = agent.replace("HeadlessChrome/", "Chrome/")
    return agent.replace(" Safari/", " Mobile Safari/", 1)


class TabEmulation:
    """The emulation state of one tab; apply(options) changes only what differs."""

    def __init__(self, cdp, browser_viewport, default_user_agent):
        self._cdp = cdp  # cdp(method, params) on the capture's tab
        self._default_ua = default_user_agent
        width, height = browser_viewport
        self._applied = {**_DEFAULTS, "metrics": (width, height, 1, False)}

    def apply(self, options):
        viewport, mobile = options.viewport, options.viewport.mobile
        wanted = {
            "metrics": (viewport.width, viewport.height, options.device_scale, mobile),
            "ua": options.user_agent or (mobile_user_agent(self._default_ua) if mobile
                                         else None),
            "touch": mobile,
            "media": (options.dark_mode, options.reduced_motion),
            "headers": tuple(options.headers),
        }
        for key, value in wanted.items():
            if self._applied[key] != value:
                getattr(self, f"_set_{key}")(value)
                self._applied[key] = value

    def _set_metrics(self, value):
        width, height, scale, mobile = value
        self._cdp("Emulation.setDeviceMetricsOverride", {
            "width": width, "height": height, "deviceScaleFactor": scale, "mobile": mobile})

    def _set_ua(self, value):
        self._cdp("Emulation.setUserAgentOverride", {"userAgent": value or self._default_ua})

    def _set_touch(self, value):
        self._cdp("Emulation.setTouchEmulationEnabled",
                  {"enabled": value, "maxTouchPoints": 5 if value else 1})

    def _set_media(self, value):
        dark, reduced = value
        self._cdp("Emulation.setEmulatedMedia", {"features": [
            {"name": "prefers-color-scheme", "value": "dark" if dark else ""},
            {"name": "prefers-reduced-motion", "value": "reduce" if reduced else ""}]})

    def _set_headers(self, value):
        self._cdp("Network.setExtraHTTPHeaders", {"headers": dict(value)})


