"""The capture engine: headless Chromium driven by Selenium; knows nothing of Flask or Celery.
The browser and its session load Selenium when first named, so reading options alone (the
command line does) stays light."""
from .errors import BrowserError, PageError
from .options import CaptureOptions, OptionError, read_options

_LAZY = {"Browser": "browser", "BrowserOptions": "browser", "CaptureResult": "browser",
         "BrowserSession": "session"}

__all__ = ["Browser", "BrowserOptions", "BrowserError", "BrowserSession", "CaptureOptions",
           "CaptureResult", "OptionError", "PageError", "read_options"]


def __getattr__(name):
    if name in _LAZY:
        from importlib import import_module
        return getattr(import_module(f".{_LAZY[name]}", __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
