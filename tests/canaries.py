"""The SSRF guard's targets: a canary server on another loopback address that records any
contact, and a bait page that reaches for it every way a page can."""
import html
import socket
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit


class _CanaryHandler(BaseHTTPRequestHandler):
    def do_GET(self):
        body = b"<html><head><title>canary</title></head><body>canary</body></html>"
        self.send_response(200)
        self.send_header("Content-Type", "text/html")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    do_POST = do_GET

    def log_message(self, *args):
        pass


class _CanaryHTTPServer(ThreadingHTTPServer):
    daemon_threads = True

    def process_request(self, request, client_address):
        self.canary.hit("tcp", client_address)  # counted on accept, before any HTTP
        super().process_request(request, client_address)


class CanaryServer:
    """A server on another loopback address that pages reach for and the guard must stop.

    It records every TCP connection it accepts and every UDP datagram (STUN, ...) that
    arrives on the same port number, so any contact at all shows up in .hits."""

    def __init__(self, host="127.0.0.2"):
        self.host = host
        self.hits = []
        self._lock = threading.Lock()
        self.server = _CanaryHTTPServer((host, 0), _CanaryHandler)
        self.server.canary = self
        self.port = self.server.server_address[1]
        self.udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.udp.bind((host, self.port))
        self.udp.settimeout(0.2)
        self._stop = threading.Event()
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        threading.Thread(target=self._read_udp, daemon=True).start()

    def _read_udp(self):
        while not self._stop.is_set():
            try:
                _, peer = self.udp.recvfrom(4096)
            except (TimeoutError, OSError):
                continue
            self.hit("udp", peer)

    def hit(self, protocol, peer):
        with self._lock:
            self.hits.append((protocol, peer))

    def url(self, path="/", scheme="http"):
        return f"{scheme}://{self.host}:{self.port}{path}"

    def protocols(self):
        with self._lock:
            return {protocol for protocol, _ in self.hits}

    def stop(self):
        self._stop.set()
        self.server.shutdown()
        self.server.server_close()
        self.udp.close()


BAIT = """<!doctype html><html><head><title>{title}</title>
<link rel=stylesheet href="{http}/style.css"><script src="{http}/script.js"></script></head>
<body style="margin:0;background:#00ff00"><h1>{title}</h1>
<iframe src="{http}/frame"></iframe><img src="{http}/image.png">
<script>
window.attempts = {{}};
function note(name, value) {{ window.attempts[name] = String(value); }}
fetch("{http}/fetch").then(r => note("fetch", r.status), e => note("fetch", "failed"));
fetch("{https}/fetch", {{mode: "no-cors"}}).then(r => note("https", r.type), e => note("https", "failed"));
const xhr = new XMLHttpRequest();
xhr.onloadend = () => note("xhr", xhr.status);
xhr.open("POST", "{http}/xhr"); xhr.send("x");
const ws = new WebSocket("{ws}/socket");
ws.onclose = () => note("websocket", "closed");
const pc = new RTCPeerConnection({{iceServers: [{{urls: "stun:{hostport}"}},
  {{urls: "turn:{hostport}?transport=tcp", username: "u", credential: "p"}}]}});
pc.createDataChannel("x");
pc.onicegatheringstatechange = () => pc.iceGatheringState == "complete" && note("webrtc", "done");
pc.createOffer().then(offer => pc.setLocalDescription(offer));
</script></body></html>"""
BAIT_ATTEMPTS = {"fetch", "https", "xhr", "websocket", "webrtc"}


class _BaitHandler(BaseHTTPRequestHandler):
    def do_GET(self):
        canary = self.server.canary
        title = parse_qs(urlsplit(self.path).query).get("title", ["Bait"])[0]
        body = BAIT.format(title=html.escape(title), http=canary.url("").rstrip("/"),
                           https=canary.url("", scheme="https").rstrip("/"),
                           ws=canary.url("", scheme="ws").rstrip("/"),
                           hostport=f"{canary.host}:{canary.port}").encode()
        self.send_response(200)
        self.send_header("Content-Type", "text/html; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


class BaitServer:
    """A page on 127.0.0.1 that reaches for a canary every way a page can: stylesheet,
    script, frame, image, fetch (http and https), XHR, WebSocket, STUN and TURN.
    The page records in window.attempts which of its scripted requests have finished."""

    def __init__(self, canary):
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), _BaitHandler)
        self.server.daemon_threads = True
        self.server.canary = canary
        self.base = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def url(self, title="Bait"):
        from urllib.parse import quote
        return f"{self.base}/bait?title={quote(title)}"

    def stop(self):
        self.server.shutdown()
        self.server.server_close()
