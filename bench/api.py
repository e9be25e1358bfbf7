"""Talking to the web app as a client does: one request, submitting and cancelling a bundle
through the API, and one person watching a bundle's page."""
import html
import http.client
import json
import re
import threading
import time

from bench.report import pct

JSON = {"Content-Type": "application/json"}


def http_request(port, method, path, body=None, headers=None, timeout=60):
    """(status, body bytes, milliseconds) of one request on a new connection."""
    t0 = time.monotonic()
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        conn.request(method, path, body=body, headers=headers or {})
        response = conn.getresponse()
        data = response.read()
    finally:
        conn.close()
    return response.status, data, (time.monotonic() - t0) * 1000


def post_bundle(port, urls):
    """POST /api/v1/bundles: (the bundle's id, milliseconds to the 202)."""
    status, body, ms = http_request(port, "POST", "/api/v1/bundles",
                                    json.dumps({"urls": urls}), JSON, timeout=300)
    if status != 202:
        raise RuntimeError(f"POST /api/v1/bundles answered {status}: {body[:300]!r}")
    return json.loads(body)["id"], ms


def cancel_bundle(port, bundle_id):
    """POST /api/v1/bundles/<id>/cancel: (status, body, milliseconds)."""
    return http_request(port, "POST", f"/api/v1/bundles/{bundle_id}/cancel", "{}", JSON)


POLL_URL = re.compile(r'hx-get="([^"]*since=[^"]*)"')
CARDS_UPTO = re.compile(r'id="cards-upto" name="upto" value="(-?\d+)"')


class WebProbe(threading.Thread):
    """One person watching the bundle page: GETs it every interval, alternating the full
    page (first load) and the htmx poll the page makes (the status and the cards changed
    since the previous poll, at the address the previous response gave)."""

    KINDS = ("full", "htmx", "more", "htmx")

    def __init__(self, port, path, cards, interval=0.5, limit=4000):
        super().__init__(daemon=True)
        self.port, self.path, self.interval, self.limit = port, path, interval, limit
        self.cards = cards  # how many shots the bundle has
        self.samples = {"full": [], "htmx": [], "more": []}
        self.errors = 0
        self.upto = -1
        self._halt = threading.Event()

    def run(self):
        n, poll = 0, None
        while not self._halt.is_set() and n < self.limit:
            kind = self.KINDS[n % len(self.KINDS)]
            headers = {"HX-Request": "true"} if kind != "full" else {}
            # the poll: the address the last response gave
            path = poll if kind == "htmx" and poll else self.path
            if kind == "more":  # the next cards, as scrolling down a long bundle asks
                after = (n // len(self.KINDS) * 50 + 49) % max(self.cards, 1)
                path = f"{self.path}/cards?after={after}"
            try:
                status, body, ms = http_request(self.port, "GET", path, headers=headers)
                if status == 200:
                    self.samples[kind].append(ms)
                    if kind != "more":  # (what scrolling loads is not kept in this page)
                        poll = self._next_poll(body.decode("utf-8", "replace"))
                else:
                    self.errors += 1
            except OSError:
                self.errors += 1
            n += 1
            self._halt.wait(self.interval)

    def _next_poll(self, text):
        found, upto = POLL_URL.search(text), CARDS_UPTO.search(text)
        if upto:  # how far down the page has cards: its polls include it (hx-include)
            self.upto = upto.group(1)
        return f"{html.unescape(found.group(1))}&upto={self.upto}" if found else None

    def stop(self):
        self._halt.set()
        self.join(30)
        out = {"errors": self.errors}
        for kind, values in self.samples.items():
            out[kind] = {"n": len(values), "p50": pct(values, 50), "p95": pct(values, 95),
                         "max": max(values) if values else float("nan")}
        return out
