"""Configuration: safe one-machine defaults, every deployment knob from the environment."""
import os
from pathlib import Path

from .netpolicy import parse_networks

BASE_DIR = Path(__file__).resolve().parent.parent
INSTANCE_DIR = BASE_DIR / "instance"


def _int(name, default):
    raw = os.environ.get(name)
    if raw is None or raw.strip() == "":
        return default
    try:
        return int(raw)
    except ValueError:
        raise RuntimeError(f"{name} must be a whole number, got {raw!r}") from None


def _viewport(raw):
    try:
        width, height = (int(part) for part in raw.lower().split("x"))
    except ValueError:
        raise RuntimeError(
            f"SHOOTFLOW_VIEWPORT must look like 1280x800, got {raw!r}") from None
    if not (200 <= width <= 4000 and 200 <= height <= 4000):
        raise RuntimeError("SHOOTFLOW_VIEWPORT sides must be between 200 and 4000 pixels")
    return width, height


class Config:
    """Read once at app creation; tests subclass it or pass overrides."""

    def __init__(self):
        env = os.environ.get
        self.SECRET_KEY = env("SHOOTFLOW_SECRET_KEY", "dev-only-not-secret")
        self.SQLALCHEMY_DATABASE_URI = env(
            "SHOOTFLOW_DATABASE_URL", f"sqlite:///{INSTANCE_DIR / 'shootflow.db'}")
        self.MEDIA_DIR = env("SHOOTFLOW_MEDIA_DIR", str(INSTANCE_DIR / "media"))
        self.BROKER_URL = env("SHOOTFLOW_BROKER_URL", "redis://127.0.0.1:6379/0")
        self.RESULT_BACKEND = env("SHOOTFLOW_RESULT_BACKEND", self.BROKER_URL)
        self.MAX_BUNDLE_URLS = _int("SHOOTFLOW_MAX_BUNDLE_URLS", 1000)
        auth = env("SHOOTFLOW_AUTH", "off").strip().lower()
        if auth not in ("on", "off"):
            raise RuntimeError(f"SHOOTFLOW_AUTH must be 'on' or 'off', got {auth!r}")
        self.AUTH = auth == "on"
        self.URLS_PER_MINUTE = _int("SHOOTFLOW_URLS_PER_MINUTE", 3000)
        self.VIEWPORT = _viewport(env("SHOOTFLOW_VIEWPORT", "1280x800"))
        self.PAGE_LOAD_TIMEOUT = _int("SHOOTFLOW_PAGE_LOAD_TIMEOUT", 30)
        self.BROWSER_MAX_CAPTURES = _int("SHOOTFLOW_BROWSER_MAX_CAPTURES", 100)
        self.CHROMIUM_PATH = env("SHOOTFLOW_CHROMIUM", "/usr/bin/chromium")
        self.CHROMEDRIVER_PATH = env("SHOOTFLOW_CHROMEDRIVER", "/usr/bin/chromedriver")
        # Non-public networks pages may still be captured from (CIDRs); none by default.
        self.ALLOWED_NETWORKS = parse_networks(env("SHOOTFLOW_ALLOWED_NETWORKS", ""))
        self.FLOWER_URL = env("SHOOTFLOW_FLOWER_URL", "http://127.0.0.1:%d/"
                              % _int("SHOOTFLOW_FLOWER_PORT", 5555))
        self.VISIBILITY_TIMEOUT = _int("SHOOTFLOW_VISIBILITY_TIMEOUT", 3600)
        self.WATCHDOG_INTERVAL = _int("SHOOTFLOW_WATCHDOG_INTERVAL", 60)
        # Longer than any capture may run (celeryconfig's hard time limit is 180 s).
        self.STUCK_AFTER = _int("SHOOTFLOW_STUCK_AFTER", 300)
        self.MAX_CONTENT_LENGTH = 2 * 1024 * 1024
        self.SQLALCHEMY_ENGINE_OPTIONS = {}
