"""How a page is captured: the options a person or script may set, their defaults and bounds.

`read_options(raw)` checks what a request sent and returns it normalised (JSON, only the
keys given): that is what a bundle and a shot keep. `CaptureOptions.merged(...)` lays
those over the defaults for one capture. A bad value raises OptionError naming the option."""
import math
import re
from dataclasses import dataclass, fields

MIN_WIDTH, MAX_WIDTH, MIN_HEIGHT, MAX_HEIGHT = 320, 3840, 200, 2160
DEFAULT_MAX_HEIGHT, MAX_FULL_HEIGHT = 16384, 65536
FORMATS = ("png", "jpeg", "webp", "pdf")
WAIT_UNTIL = ("load", "networkidle")
MAX_VIEWPORTS = 5
MAX_SELECTORS = 50
MAX_SELECTOR_LENGTH = 1000
MAX_HEADERS = 50
MAX_COOKIES = 50
MAX_TEXT = 4096
MAX_SCRIPT = 100_000
DEFAULT_QUALITY = 80


@dataclass(frozen=True)
class Viewport:
    width: int
    height: int
    scale: float = 1
    mobile: bool = False  # a phone: mobile user agent, touch events, meta viewport

    @property
    def text(self):
        return f"{self.width}x{self.height}"


PRESETS = {
    "desktop": Viewport(1280, 800),
    "laptop": Viewport(1440, 900),
    "tablet": Viewport(768, 1024),
    "phone": Viewport(390, 844, scale=3, mobile=True),
}
_SIZE = re.compile(r"^(\d{1,5})x(\d{1,5})$")
# An HTTP header name (RFC 9110 token); a value must not break the header block.
_TOKEN = re.compile(r"^[!#$%&'*+.^_`|~0-9A-Za-z-]+$")
# Headers that describe the connection or the body, which Chromium sets itself.
FORBIDDEN_HEADERS = frozenset({
    "host", "content-length", "connection", "transfer-encoding", "upgrade", "te",
    "keep-alive", "proxy-authorization", "proxy-connection", "expect", "trailer"})


class OptionError(ValueError):
    """A capture option with a value shootflow cannot use; the message names it."""

    def __init__(self, name, problem):
        super().__init__(f'Option "{name}" {problem}.')
        self.name = name


def viewport_of(value, name="viewport"):
    """A Viewport from "WIDTHxHEIGHT" or a preset name."""
    if not isinstance(value, str):
        raise OptionError(name, 'must be "WIDTHxHEIGHT" or one of ' + ", ".join(PRESETS))
    text = value.strip().lower()
    if text in PRESETS:
        return PRESETS[text]
    match = _SIZE.match(text)
    if not match:
        raise OptionError(name, f'must be "WIDTHxHEIGHT" (such as 1280x800) or one of '
                          f'{", ".join(PRESETS)}, not {value[:40]!r}')
    width, height = int(match[1]), int(match[2])
    if not (MIN_WIDTH <= width <= MAX_WIDTH and MIN_HEIGHT <= height <= MAX_HEIGHT):
        raise OptionError(name, f"must be {MIN_WIDTH}–{MAX_WIDTH} wide and "
                          f"{MIN_HEIGHT}–{MAX_HEIGHT} high, not {width}x{height}")
    return Viewport(width, height)


def _bool(name, value):
    if not isinstance(value, bool):
        raise OptionError(name, "must be true or false")
    return value


def _number(name, value, low, high, whole=False):
    if isinstance(value, bool) or not isinstance(value, (int, float)) or (
            isinstance(value, float) and not math.isfinite(value)):
        raise OptionError(name, f"must be a number from {low} to {high}")
    if whole and value != int(value):
        raise OptionError(name, f"must be a whole number from {low} to {high}")
    if not low <= value <= high:
        raise OptionError(name, f"must be from {low} to {high}, not {value}")
    return int(value) if whole or value == int(value) else value


def _text(name, value, limit=MAX_TEXT, empty=False):
    if not isinstance(value, str) or (not empty and not value.strip()):
        raise OptionError(name, "must be a non-empty string")
    if len(value) > limit:
        raise OptionError(name, f"must be at most {limit:,} characters")
    if "\x00" in value:
        raise OptionError(name, "must not contain NUL characters")
    return value


def _selector(name, value):
    return _text(name, value, MAX_SELECTOR_LENGTH).strip()


def _selectors(name, value):
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list) or len(value) > MAX_SELECTORS:
        raise OptionError(name, f"must be a list of at most {MAX_SELECTORS} CSS selectors")
    return [_selector(f"{name}[{i}]", item) for i, item in enumerate(value)]


def _line(name, value, limit=MAX_TEXT):
    value = _text(name, value, limit, empty=True)
    if any(c in value for c in "\r\n"):
        raise OptionError(name, "must not contain line breaks")
    return value


def _headers(name, value):
    if not isinstance(value, dict) or len(value) > MAX_HEADERS:
        raise OptionError(name, f"must be an object of at most {MAX_HEADERS} "
                          'header names and values, such as {"Accept-Language": "de"}')
    headers = {}
    for key, item in value.items():
        if not _TOKEN.match(key):
            raise OptionError(name, f"has an invalid header name {key[:40]!r}")
        if key.lower() in FORBIDDEN_HEADERS:
            raise OptionError(name, f"may not set {key}: the browser sets it itself")
        headers[key] = _line(f"{name}.{key}", item)
    return headers


def _cookies(name, value):
    if not isinstance(value, list) or len(value) > MAX_COOKIES:
        raise OptionError(name, f"must be a list of at most {MAX_COOKIES} cookies such as "
                          '{"name": "session", "value": "abc"}')
    cookies = []
    for i, item in enumerate(value):
        where = f"{name}[{i}]"
        if not isinstance(item, dict) or not {"name", "value"} <= item.keys() or (
                item.keys() - {"name", "value", "domain", "path"}):
            raise OptionError(where, 'must be an object with "name" and "value", and '
                              'optionally "domain" and "path"')
        cookie = {"name": _line(f"{where}.name", item["name"]).strip(),
                  "value": _line(f"{where}.value", item["value"])}
        if not cookie["name"] or any(c in cookie["name"] for c in "=;, \t"):
            raise OptionError(f"{where}.name", "must be a cookie name (no = ; , or spaces)")
        if ";" in cookie["value"]:
            raise OptionError(f"{where}.value", "must not contain ;")
        for key in ("domain", "path"):
            if key in item:
                cookie[key] = _line(f"{where}.{key}", item[key], 255).strip()
        cookies.append(cookie)
    return cookies


def _viewports(name, value):
    """One viewport, or a list of them (one shot each): normalised to text or a list."""
    if isinstance(value, list):
        if not 1 <= len(value) <= MAX_VIEWPORTS:
            raise OptionError(name, f"must list 1 to {MAX_VIEWPORTS} viewports")
        return [_viewports(f"{name}[{i}]", item) for i, item in enumerate(value)]
    viewport_of(value, name)
    return value.strip().lower()


READERS = {
    "viewport": _viewports,
    "full_page": _bool,
    "max_height": lambda n, v: _number(n, v, MIN_HEIGHT, MAX_FULL_HEIGHT, whole=True),
    "scale": lambda n, v: _number(n, v, 1, 3),
    "format": lambda n, v: _choice(n, v, FORMATS),
    "quality": lambda n, v: _number(n, v, 1, 100, whole=True),
    "wait_until": lambda n, v: _choice(n, v, WAIT_UNTIL),
    "wait_for": _selector,
    "delay": lambda n, v: _number(n, v, 0, 30),
    "timeout": lambda n, v: _number(n, v, 1, 120, whole=True),
    "selector": _selector,
    "hide": _selectors,
    "hide_banners": _bool,
    "block_ads": _bool,
    "dark_mode": _bool,
    "reduced_motion": _bool,
    "user_agent": lambda n, v: _line(n, v, 1000).strip() or _fail(n, "must not be empty"),
    "headers": _headers,
    "cookies": _cookies,
    "javascript": lambda n, v: _text(n, v, MAX_SCRIPT),
}


def _choice(name, value, choices):
    if value not in choices:
        raise OptionError(name, f"must be one of {', '.join(choices)}")
    return value


def _fail(name, problem):
    raise OptionError(name, problem)


def read_options(raw, name="options"):
    """Check options sent by a request; returns them normalised ({} for none)."""
    if raw is None:
        return {}
    if not isinstance(raw, dict):
        raise OptionError(name, 'must be an object such as {"full_page": true}')
    unknown = sorted(set(raw) - set(READERS))
    if unknown:
        raise OptionError(unknown[0][:40], "is not a capture option (known: "
                          + ", ".join(READERS) + ")")
    options = {key: READERS[key](key, value) for key, value in raw.items()}
    if "quality" in options and options.get("format", "png") not in ("jpeg", "webp"):
        raise OptionError("quality", 'applies only to "format": "jpeg" or "webp"')
    return options


@dataclass(frozen=True)
class CaptureOptions:
    """Everything one capture is taken with; the defaults are today's plain capture."""
    viewport: Viewport = PRESETS["desktop"]
    full_page: bool = False
    max_height: int = DEFAULT_MAX_HEIGHT
    scale: float | None = None  # None: the viewport's own (3 for phone, else 1)
    format: str = "png"
    quality: int | None = None
    wait_until: str = "load"
    wait_for: str | None = None
    delay: float = 0
    timeout: int | None = None  # None: the browser's page-load timeout
    selector: str | None = None
    hide: tuple = ()
    hide_banners: bool = False
    block_ads: bool = False
    dark_mode: bool = False
    reduced_motion: bool = False
    user_agent: str | None = None
    headers: tuple = ()   # (name, value) pairs
    cookies: tuple = ()   # dicts, as read_options returns them
    javascript: str | None = None
    # Not an option a request sets: CSS selectors whose elements' boxes the capture reports
    # (a watch's ignore regions).
    measure: tuple = ()

    @classmethod
    def merged(cls, *layers, default_viewport=None):
        """Options from normalised layers (a bundle's, then a shot's), later keys winning."""
        values = {}
        for layer in layers:
            values.update(layer or {})
        viewport = values.pop("viewport", None)
        if isinstance(viewport, list):  # a shot of a multi-viewport bundle names its own
            viewport = viewport[0]
        kwargs = dict(values)
        if viewport is not None:
            kwargs["viewport"] = viewport_of(viewport)
        elif default_viewport is not None:
            kwargs["viewport"] = default_viewport
        for key in ("hide", "cookies"):
            if key in kwargs:
                kwargs[key] = tuple(kwargs[key] if key == "hide"
                                    else (dict(c) for c in kwargs[key]))
        if "headers" in kwargs:
            kwargs["headers"] = tuple(kwargs["headers"].items())
        return cls(**kwargs)

    @property
    def device_scale(self):
        return self.scale if self.scale is not None else self.viewport.scale

    @property
    def image_quality(self):
        return self.quality if self.quality is not None else DEFAULT_QUALITY

    def to_json(self):
        """Every option as used, for the shot's record."""
        values = {f.name: getattr(self, f.name) for f in fields(self) if f.name != "measure"}
        values["viewport"] = self.viewport.text
        values["scale"] = self.device_scale
        values["mobile"] = self.viewport.mobile
        values["hide"] = list(self.hide)
        values["headers"] = dict(self.headers)
        values["cookies"] = [dict(c) for c in self.cookies]
        if self.format in ("jpeg", "webp"):
            values["quality"] = self.image_quality
        return values

