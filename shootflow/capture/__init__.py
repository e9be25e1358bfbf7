"""The capture engine: headless Chromium driven by Selenium; knows nothing of Flask or Celery."""
from .browser import Browser, BrowserOptions, CaptureResult
from .errors import BrowserError, PageError
from .options import CaptureOptions, OptionError, read_options
from .session import BrowserSession

__all__ = ["Browser", "BrowserOptions", "BrowserError", "BrowserSession", "CaptureOptions",
           "CaptureResult", "OptionError", "PageError", "read_options"]
