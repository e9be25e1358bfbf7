"""How Chromium is started for captures: flags, profile preferences, ChromeDriver options."""
import os
from pathlib import Path

from selenium import webdriver

# A closed network refuses Chromium's own background traffic; these flags keep it quiet.
# The features turned off cost CPU in every capture's context and bring nothing headless:
# the omnibox's pop-up pages (a busy renderer per window, made even before anyone types)
# and a spare renderer warmed per context that no capture would use.
COMMON_FLAGS = (
    "--headless=new",
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
    ("--disable-features=WebUIOmniboxPopup,WebUIOmniboxAimPopup,WebUIOmniboxFullPopup,"
     "PreloadTopChromeWebUI,SpareRendererForSitePerProcess"),
)


def chromium_flags(uid=None):
    """COMMON_FLAGS, with --no-sandbox only for root (uid 0; the effective uid by default):
    Chromium refuses to start sandboxed as root, and anyone else keeps the sandbox."""
    uid = os.geteuid() if uid is None else uid
    return (*COMMON_FLAGS, "--no-sandbox") if uid == 0 else COMMON_FLAGS


CHROMIUM_FLAGS = chromium_flags()  # this process's
# WebRTC may send UDP only through a proxy, and an HTTP proxy carries none, so no STUN or
# TURN packet goes around the egress guard (WebTransport refuses to run behind a proxy).
# A profile preference: --force-webrtc-ip-handling-policy is ignored by --headless=new.
GUARD_PREFS = {"webrtc.ip_handling_policy": "disable_non_proxied_udp"}
# ChromeDriver's default --disable-popup-blocking would let any page open windows at will.
EXCLUDED_SWITCHES = ["disable-popup-blocking"]


def chromium_prefs(profile, egress_guard):
    """Profile preferences: every download refused, and one that slipped through would land
    in the throwaway profile rather than the worker's ~/Downloads."""
    folder = str(Path(profile) / "downloads")
    prefs = {"download_restrictions": 3,  # 3: block all downloads
             "download.default_directory": folder, "savefile.default_directory": folder,
             "download.prompt_for_download": False}
    return {**prefs, **GUARD_PREFS} if egress_guard else prefs


def chrome_options(options, profile, proxy_url=None):
    """ChromeDriver's options for a browser of BrowserOptions options, profile folder and
    egress guard address (None: no guard)."""
    chrome = webdriver.ChromeOptions()
    chrome.binary_location = options.chromium_path
    width, height = options.viewport
    flags = [*chromium_flags(), f"--window-size={width},{height}", f"--user-data-dir={profile}"]
    if proxy_url:
        # "<-loopback>" takes away Chromium's implicit bypass for localhost and
        # 127.0.0.0/8, so every request, loopback included, meets the guard.
        flags += [f"--proxy-server={proxy_url}", "--proxy-bypass-list=<-loopback>"]
    for flag in flags:
        chrome.add_argument(flag)
    chrome.set_capability("goog:loggingPrefs", {"performance": "ALL"})
    chrome.unhandled_prompt_behavior = "dismiss"  # e.g. a beforeunload prompt
    chrome.add_experimental_option(
        "perfLoggingPrefs", {"enableNetwork": True, "enablePage": False})
    chrome.add_experimental_option("prefs", chromium_prefs(profile, proxy_url is not None))
    chrome.add_experimental_option("excludeSwitches", EXCLUDED_SWITCHES)
    return chrome
