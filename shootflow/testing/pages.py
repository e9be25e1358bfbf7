"""The pages that captures load in the tests and the bench: a threaded HTTP server on a free
port, with a plain page whose title, colour and text the address sets, and documents,
redirects, slow, failing and endless answers for the capture's edge cases."""
import base64
import collections
import html
import socket
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit


PAGE = """<!doctype html><html><head><title>{title}</title></head>
<body style="margin:0;background:{color};font:24px sans-serif">
<h1 style="margin:40px">{heading}</h1><p style="margin:40px">{text}</p>{script}</body></html>"""


# Documents the capture-option tests look at, by name (/doc?name=…). Colours mark places:
# a test finds them in the image's pixels.
DOCS = {
    # 6,000 px: bands of 1,000 px alternating blue and yellow; the last band turns green
    # only once it has been scrolled into view (lazy content).
    "tall": """<!doctype html><html><head><title>tall</title><style>
body{margin:0} div{height:1000px} .a{background:#0000ff} .b{background:#ffff00}
#lazy{background:#ffffff}</style></head><body>
<div class="a"></div><div class="b"></div><div class="a"></div><div class="b"></div>
<div class="a"></div><div id="lazy"></div><script>
new IntersectionObserver((entries) => { if (entries[0].isIntersecting)
  document.getElementById("lazy").style.background = "#00ff00"; })
  .observe(document.getElementById("lazy"));</script></body></html>""",
    # 30,000 px of 1,000 px bands whose red channel counts the band: band n is (n*8, 0, 128).
    "very-tall": "<!doctype html><html><head><title>very tall</title><style>body{margin:0}"
                 "div{height:1000px}</style></head><body>"
                 + "".join(f'<div style="background:rgb({n * 8},0,128)"></div>'
                           for n in range(30)) + "</body></html>",
    # A white page that dark mode turns black.
    "dark": """<!doctype html><html><head><title>dark</title><style>
body{margin:0;height:100vh;background:#ffffff}
@media (prefers-color-scheme: dark){body{background:#000000}}</style></head><body></body>
</html>""",
    # A white page that reduced motion turns grey.
    "motion": """<!doctype html><html><head><title>motion</title><style>
body{margin:0;height:100vh;background:#ffffff}
@media (prefers-reduced-motion: reduce){body{background:#808080}}</style></head><body></body>
</html>""",
    # A 300x150 red box at (50, 60), and a blue full-width banner at the top.
    "elements": """<!doctype html><html><head><title>elements</title><style>
body{margin:0;background:#ffffff} #box{position:absolute;left:50px;top:60px;width:300px;
height:150px;background:#ff0000} .banner{position:fixed;left:0;right:0;bottom:0;
height:120px;background:#0000ff}</style></head><body><div id="box"></div>
<div class="banner" id="onetrust-banner-sdk"></div></body></html>""",
    # Turns green 300 ms after load, when a late element appears.
    "late": """<!doctype html><html><head><title>late</title><style>body{margin:0;
height:100vh;background:#ffffff}</style></head><body><script>
setTimeout(() => { const p = document.createElement("p"); p.id = "late";
  document.body.appendChild(p); document.body.style.background = "#00ff00"; }, 300);
</script></body></html>""",
    # Turns green once a request that takes 1 s, sent after load, has finished.
    "fetching": """<!doctype html><html><head><title>fetching</title><style>body{margin:0;
height:100vh;background:#ffffff}</style></head><body><script>
window.addEventListener("load", () => fetch("/slow?seconds=1").then((r) => r.text())
  .then(() => { document.body.style.background = "#00ff00"; }));</script></body></html>""",
    # A first-party script at a path EasyList blocks (/js/prebid.js), and a tracker host.
    "ads": """<!doctype html><html><head><title>ads</title></head><body>
<script src="/js/prebid.js"></script>
<img src="https://www.google-analytics.com/collect?v=1" alt=""></body></html>""",
    # A consent banner in the markup of orestbida/cookieconsent v2; its "Reject all" turns
    # the page green.
    "consent": """<!doctype html><html class="show--consent"><head><title>consent</title>
<style>body{margin:0;height:100vh;background:#ffffff}</style></head><body>
<div id="cc--main"><div id="cm"><p>We use cookies.</p><button id="s-all-bn">Accept all</button>
<button id="s-rall-bn">Reject all</button></div></div><script>
document.getElementById("s-rall-bn").onclick = () => {
  document.body.style.background = "#00ff00";
  document.getElementById("cc--main").remove(); };</script></body></html>""",
    # Nothing but white, for ever.
    "blank": """<!doctype html><html><head><title>blank</title><style>body{margin:0;
height:100vh;background:#ffffff}</style></head><body></body></html>""",
    # White at load; it paints its heading 1.5 s later.
    "slow-paint": """<!doctype html><html><head><title>slow paint</title><style>body{margin:0;
height:100vh;background:#ffffff;font:48px sans-serif}</style></head><body><script>
setTimeout(() => { document.body.innerHTML = "<h1>Painted at last</h1>"; }, 1500);
</script></body></html>""",
    "errors": """<!doctype html><html><head><title>errors</title></head><body><script>
console.error("something broke"); setTimeout(() => { throw new Error("late failure"); });
</script></body></html>""",
}

# A service worker that answers any page whose address asks for the title Victim itself:
# what a page could leave behind for the next capture of its origin.
POISONING_WORKER = """self.addEventListener("install", () => self.skipWaiting());
self.addEventListener("activate", event => event.waitUntil(self.clients.claim()));
self.addEventListener("fetch", event => {
  if (event.request.url.includes("title=Victim")) {
    event.respondWith(new Response("<title>Poisoned</title>poisoned",
                                   {headers: {"Content-Type": "text/html"}}));
  }
});"""
BASIC_AUTH = ("user", "secret")


class _PageHandler(BaseHTTPRequestHandler):
    """/page?title=..&color=..  /redirect?to=..  /status?code=..  /download  /slow
    /endless (a download that never ends)  /auth (HTTP basic, user:secret)  /worker.js
    /whoami (titled with the address that asked)"""

    def do_GET(self):
        self.server.requests[self.path] += 1
        self.server.clients[self.path].append(self.client_address[0])
        parts = urlsplit(self.path)
        query = {k: v[0] for k, v in parse_qs(parts.query).items()}
        if parts.path == "/redirect":
            self.send_response(302)
            self.send_header("Location", query.get("to", "/page"))
            self.end_headers()
        elif parts.path == "/download":
            self.send_response(200)
            self.send_header("Content-Type", "application/octet-stream")
            self.send_header("Content-Disposition", 'attachment; filename="data.bin"')
            self.end_headers()
            self.wfile.write(b"not a page" * 100)
        elif parts.path == "/endless":
            self._endless()
        elif parts.path == "/auth":
            self._auth()
        elif parts.path == "/echo":
            # What the browser sent, kept for the test: headers (cookies among them).
            self.server.seen[query.get("id", "")] = dict(self.headers.items())
            self._send(200, "text/html", PAGE.format(
                title=html.escape(self.headers.get("User-Agent", "")), heading="echo",
                color="#ffffff", text="", script=""))
        elif parts.path == "/flaky" and self.server.requests[self.path] <= int(
                query.get("fail", 2)):
            # The first `fail` requests for each /flaky?… address: the connection just
            # closes (Chromium tries a GET once more by itself, hence two by default).
            self.close_connection = True
            self.connection.shutdown(socket.SHUT_RDWR)
        elif parts.path == "/whoami":  # after ?seconds=N, a page titled with the client's address
            self.server.stop.wait(float(query.get("seconds", 0)))
            self._send(200, "text/html; charset=utf-8", PAGE.format(
                title=self.client_address[0], heading=self.client_address[0],
                color="#ffffff", text="", script=""))
        elif parts.path == "/doc":
            self._send(200, "text/html; charset=utf-8", DOCS[query.get("name", "")])
        elif parts.path == "/mutable":  # whatever the test set with PageServer.set_page
            self._send(200, "text/html; charset=utf-8", self.server.mutable[query["id"]])
        elif parts.path == "/worker.js":
            self._send(200, "text/javascript", POISONING_WORKER)
        elif parts.path == "/status" and query.get("code") in ("204", "205"):
            self.send_response(int(query["code"]))  # no content, by definition
            self.end_headers()
        elif parts.path == "/slow":
            self.send_response(200)
            self.send_header("Content-Type", "text/html")
            self.end_headers()
            self.wfile.write(b"<html><head><title>slow</title></head><body>loading")
            self.wfile.flush()
            # /slow never finishes; /slow?seconds=N finishes after N seconds.
            if not self.server.stop.wait(float(query.get("seconds", 600))):
                self.wfile.write(b"</body></html>")
        else:
            code = int(query.get("code", 200)) if parts.path == "/status" else 200
            title = query.get("title", "Test page")
            # The title goes in raw (inside <title> markup is text); the page shows it escaped.
            body = PAGE.format(title=title, heading=html.escape(title),
                               color=html.escape(query.get("color", "#ffffff")),
                               text=html.escape(query.get("text", "A page served by the tests.")),
                               script=f"<script>{query['script']}</script>"
                               if "script" in query else "")
            self.send_response(code)
            self.send_header("Content-Type", "text/html; charset=utf-8")
            self.end_headers()
            self.wfile.write(body.encode())

    def _send(self, code, content_type, text, headers=()):
        body = text.encode()
        self.send_response(code)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        for name, value in headers:
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(body)

    def _endless(self):
        """A download that goes on until the client hangs up (at about 6 MB/s); what was sent
        and whether the client hung up are kept in the server's .streams."""
        stream = {"sent": 0, "closed": False}
        self.server.streams.append(stream)
        self.send_response(200)
        self.send_header("Content-Type", "application/octet-stream")
        self.send_header("Content-Disposition", 'attachment; filename="endless.bin"')
        self.end_headers()
        chunk = b"x" * 65536
        try:
            while not self.server.stop.wait(0.01):
                self.wfile.write(chunk)
                self.wfile.flush()
                stream["sent"] += len(chunk)
        except OSError:
            stream["closed"] = True

    def _auth(self):
        expected = "Basic " + base64.b64encode(":".join(BASIC_AUTH).encode()).decode()
        if self.headers.get("Authorization") == expected:
            self._send(200, "text/html", PAGE.format(
                title="Signed in", heading="Signed in", color="#ffffff", text="", script=""))
        else:
            self._send(401, "text/html", PAGE.format(
                title="Sign-in required", heading="Sign-in required", color="#ffffff",
                text="", script=""), [("WWW-Authenticate", 'Basic realm="tests"')])

    def log_message(self, *args):
        pass


class PageServer:
    """Listens on host (loopback unless other hosts load its pages)."""

    def __init__(self, port=0, host="127.0.0.1"):
        self.server = ThreadingHTTPServer((host, port), _PageHandler)
        self.server.daemon_threads = True
        self.server.stop = threading.Event()
        self.server.streams = []  # /endless downloads: {"sent": bytes, "closed": bool}
        self.server.requests = collections.Counter()  # how often each path?query was asked
        self.server.clients = collections.defaultdict(list)  # and by which addresses
        self.server.seen = {}  # /echo?id=X: the headers of the last request with that id
        self.server.mutable = {}  # /mutable?id=X: the page the test set
        self.base = f"http://{host}:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def url(self, path="/page", **query):
        from urllib.parse import urlencode
        return f"{self.base}{path}" + (f"?{urlencode(query)}" if query else "")

    def set_page(self, page_id, html):
        """Serve html at /mutable?id=page_id from now on; returns that URL."""
        self.server.mutable[page_id] = html
        return self.url("/mutable", id=page_id)

    def seen(self, echo_id):
        """The request headers /echo?id=echo_id last received (None if never asked)."""
        return self.server.seen.get(echo_id)

    def loads(self, url):
        """How many times the page at url (made by .url) has been asked for."""
        return self.server.requests[url.removeprefix(self.base)]

    def loaded_by(self, url):
        """The addresses that asked for the page at url, in order."""
        return list(self.server.clients[url.removeprefix(self.base)])

    def stop(self):
        self.server.stop.set()
        self.server.shutdown()
