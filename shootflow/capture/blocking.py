"""Consent banners hidden and ads blocked with maintained lists, vendored in lists/ (see its
README for each list's source, version and licence). No Flask, no Celery.

banner_stylesheet(host) is CSS built from the EasyList Cookie List's cosmetic rules;
autoconsent_script() is DuckDuckGo's autoconsent, which clicks "reject" on known consent
tools; AdBlocker answers whether EasyList or EasyPrivacy blocks a request. Brave's adblock
engine reads the lists, so domain matching, exceptions and options follow its semantics.
"""
import functools
import gzip
import json
import re
import threading
from pathlib import Path
from urllib.parse import urlsplit

import adblock

LISTS = Path(__file__).with_name("lists")
COOKIE_LIST = "easylist-cookie-cosmetic.txt"
NETWORK_LISTS = ("easylist.txt.gz", "easyprivacy.txt.gz")
AUTOCONSENT_BUNDLE = "autoconsent.playwright.js"
AUTOCONSENT_RULES = "autoconsent-compact-rules.json"
CHUNK = 256  # selectors per rule: a selector Chromium rejects costs only the rule it is in
HIDE = "{ display: none !important; }"
# Syntax of uBlock Origin, AdGuard and Adblock Plus that is no CSS: Chromium would drop
# the whole rule that held such a selector.
PROCEDURAL = re.compile(
    r":(?:-abp-[a-z-]+|contains|has-text|if|if-not|matches-(?:attr|css|css-after|"
    r"css-before|media|path|prop)|min-text-length|nth-ancestor|others|remove|"
    r"remove-(?:attr|class)|shadow|style|upward|watch-attrs?|xpath)\(")
UNSAFE_DECLARATION = re.compile(r"[{}<>\\@]|/\*|url\(|expression\(|image-set\(", re.I)
CLASS_NAME = re.compile(r"-?[A-Za-z_][\w-]*")


def _read(name):
    data = (LISTS / name).read_bytes()
    return (gzip.decompress(data) if name.endswith(".gz") else data).decode("utf-8")


def plain_css(selector):
    """Whether a list's selector is plain CSS, with nothing a CSS parser would refuse."""
    if not selector or "{" in selector or "}" in selector or "/*" in selector:
        return False
    if selector.startswith(("^", "+js(")) or PROCEDURAL.search(selector):
        return False
    depth, quote, escaped = [], None, False
    for char in selector:
        if escaped:
            escaped = False
        elif char == "\\":
            escaped = True
        elif quote:
            quote = None if char == quote else quote
        elif char in "\"'":
            quote = char
        elif char in "([":
            depth.append(")" if char == "(" else "]")
        elif char in ")]":
            if not depth or depth.pop() != char:
                return False
    return not depth and quote is None and not escaped


def _rules(selectors, body=HIDE):
    """`a, b, … { body }` in rules of CHUNK selectors."""
    return "".join(f"{', '.join(selectors[i:i + CHUNK])} {body}\n"
                   for i in range(0, len(selectors), CHUNK))


def _style(declarations):
    """A :style() rule's declarations, or None when they could load or run anything."""
    text = "; ".join(part.strip().rstrip(";") for part in declarations)
    return None if UNSAFE_DECLARATION.search(text) else text


class _CookieList:
    """The EasyList Cookie List's cosmetic rules: generic selectors read here, the rules
    for one host (and its exceptions) answered by Brave's engine."""

    def __init__(self):
        text = _read(COOKIE_LIST)
        generic, excepted = [], set()
        for line in text.splitlines():
            if line.startswith("##"):
                generic.append(line[2:])
            elif line.startswith("#@#"):
                excepted.add(line[3:])
        self.generic = tuple(dict.fromkeys(
            s for s in generic if s not in excepted and plain_css(s)))
        filters = adblock.FilterSet(debug=False)
        filters.add_filter_list(text, format="standard", rule_types="all")
        self.engine = adblock.Engine(filters, optimize=True)
        # The generic selectors that are neither a class nor an id: the engine gives them
        # for every host, less those the host excepts.
        self.everywhere = frozenset(
            self.engine.url_cosmetic_resources("https://unlisted.invalid/").hide_selectors)
        self.stylesheet = _rules(self.generic) + _scroll_unlock()

    def for_host(self, host):
        found = self.engine.url_cosmetic_resources(f"https://{host}/")
        if self.everywhere and not found.hide_selectors:  # no host the engine could read
            return self.stylesheet
        shown = set(found.exceptions) | (self.everywhere - set(found.hide_selectors))
        extra = sorted(s for s in set(found.hide_selectors) - self.everywhere - shown
                       if plain_css(s))
        if found.generichide:
            css = _scroll_unlock()
        elif shown & set(self.generic):
            css = _rules([s for s in self.generic if s not in shown]) + _scroll_unlock()
        else:
            css = self.stylesheet
        css += _rules(extra)
        for selector, declarations in sorted(found.style_selectors.items()):
            body = _style(declarations)
            if body and plain_css(selector):
                css += f"{selector} {{ {body} }}\n"
        return css


@functools.cache
def _cookie_list():
    return _CookieList()


@functools.cache
def _autoconsent_rules():
    return json.loads(_read(AUTOCONSENT_RULES))


@functools.cache
def _scroll_unlock():
    """Undo the scroll lock of consent tools, for the classes autoconsent's rules remove
    from html or body. Only those: `html, body { overflow: auto }` on every page would
    show what pages hide on purpose (off-canvas menus, overflow-x: hidden)."""
    locks = set()

    def walk(node):
        if isinstance(node, dict):
            name, where = node.get("removeClass"), node.get("selector")
            if where in ("html", "body") and isinstance(name, str) and CLASS_NAME.fullmatch(name):
                locks.add(f"{where}.{name}")
            node = list(node.values())
        if isinstance(node, list):
            for item in node:
                walk(item)

    walk(_autoconsent_rules())
    return _rules(sorted(locks), "{ overflow: auto !important; }")


@functools.lru_cache(maxsize=512)
def _host_stylesheet(host):
    return _cookie_list().for_host(host)


def banner_stylesheet(host=""):
    """CSS hiding cookie and consent banners: the list's generic rules, plus its rules for
    host (a hostname such as www.example.com) and less the ones it excepts there."""
    host = (host or "").strip().lower().rstrip(".")
    return _host_stylesheet(host) if host else _cookie_list().stylesheet


AUTOCONSENT_CONFIG = {
    "enabled": True, "autoAction": "optOut", "disabledCmps": [],
    "enablePrehide": True, "enableCosmeticRules": True, "enableGeneratedRules": True,
    # Popups of tools without a rule: click their reject button, never accept.
    "enableHeuristicDetection": True, "heuristicMode": "reject",
    "detectRetries": 20, "prehideTimeout": 2000,
    # The script runs in the page's own world, so rules evaluate their snippets in place
    # and nothing is sent anywhere to be evaluated.
    "isMainWorld": True,
    "logs": {key: False for key in ("lifecycle", "rulesteps", "detectionsteps", "evals",
                                    "errors", "messages", "waits")},
}
# The page side of autoconsent's messages, which a browser extension would answer: the
# rules on init, and the outcome kept in window.__shootflowAutoconsent for the engine.
AUTOCONSENT_BRIDGE = """(() => {
  if (window.autoconsentSendMessage) return;
  const config = %(config)s, rules = {autoconsent: [], compact: %(rules)s};
  const ends = ["nothingDetected", "optOutSucceeded", "optOutFailed", "done"];
  const status = {lifecycle: "loading", cmp: null, popup: false, optOut: null, settled: false};
  window.__shootflowAutoconsent = status;
  window.autoconsentSendMessage = async (message) => {
    if (message.type === "init") {
      setTimeout(() => window.autoconsentReceiveMessage({type: "initResp", config, rules}));
    } else if (message.type === "report") {
      status.lifecycle = message.state.lifecycle;
      status.settled = status.settled || ends.includes(status.lifecycle);
    } else if (message.type === "cmpDetected" || message.type === "popupFound") {
      status.cmp = message.cmp;
      status.popup = status.popup || message.type === "popupFound";
    } else if (message.type === "optOutResult") {
      status.optOut = message.result;
    } else if (message.type === "autoconsentDone") {
      status.settled = true;
    }
  };
})();
"""


@functools.cache
def autoconsent_script():
    """JavaScript for Page.addScriptToEvaluateOnNewDocument: autoconsent with its rules,
    opting out of the consent tools it knows. window.__shootflowAutoconsent tells how far
    it got: {lifecycle, cmp, popup, optOut, settled}. settled: it finished (or found
    nothing, which on a page that stops changing takes it a minute): wait a bounded time,
    and only while a cmp was found and it has not settled."""
    bridge = AUTOCONSENT_BRIDGE % {"config": json.dumps(AUTOCONSENT_CONFIG),
                                   "rules": json.dumps(_autoconsent_rules())}
    return bridge + _read(AUTOCONSENT_BUNDLE)


# Chrome DevTools' resource types, by the names the lists' options use.
RESOURCE_TYPES = {"xhr": "xmlhttprequest", "fetch": "xmlhttprequest",
                  "eventsource": "xmlhttprequest", "cspviolationreport": "csp_report",
                  "texttrack": "media", "subframe": "sub_frame", "iframe": "sub_frame"}


class AdBlocker:
    """EasyList and EasyPrivacy's network rules, in Brave's adblock engine."""

    _shared = None
    _lock = threading.Lock()

    def __init__(self, lists=NETWORK_LISTS):
        filters = adblock.FilterSet(debug=False)
        for name in lists:
            filters.add_filter_list(_read(name), format="standard", rule_types="networkonly")
        self._engine = adblock.Engine(filters, optimize=True)

    @classmethod
    def shared(cls):
        """This process's blocker, loaded on first use (half a second or so)."""
        with cls._lock:
            if cls._shared is None:
                cls._shared = cls()
            return cls._shared

    def blocks(self, url, page_url, resource_type="other"):
        """Whether the lists block a request for url made by the page at page_url ("" when
        unknown: taken as third-party). A proxy that only sees CONNECT host:port asks for
        https://host/ and "other": True when the lists block every such request to host."""
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https", "ws", "wss") or not parts.hostname:
            return False
        page_host = urlsplit(page_url or "").hostname or ""
        kind = (resource_type or "other").lower()
        result = self._engine.check_network_urls_with_hostnames(
            url, parts.hostname, page_host, RESOURCE_TYPES.get(kind, kind),
            None if page_host else True)
        return result.matched
