"""The egress guard: a small HTTP forward proxy that Chromium must send every request through.

It resolves each host itself, checks every address with the NetPolicy and connects only to
an address it has checked, so neither a redirect, a frame, a subresource nor a DNS answer
that changes between lookups can reach an address the policy refuses. Plain http requests
are forwarded one per connection (Connection: close both ways); https and WebSockets come
as CONNECT tunnels. A refused or failed request gets a 403/502 from the proxy (or a closed
tunnel), and the reason is kept per (host, port) so the engine can tell the person why.
"""
import ipaddress
import logging
import selectors
import socket
import socketserver
import threading
from urllib.parse import urlsplit

from ..netpolicy import resolve

log = logging.getLogger(__name__)

MAX_HEAD = 256 * 1024
MAX_RECORDED = 1000
FAILURE_HEADER = "X-Shootflow-Proxy-Error"
_HOP_BY_HOP = {"connection", "proxy-connection", "keep-alive", "proxy-authorization",
               "proxy-authenticate", "te", "trailer", "upgrade"}


class _Failure(Exception):
    """A request the proxy would not or could not carry out; str() is the person's reason."""

    def __init__(self, message, status):
        super().__init__(message)
        self.status = status


def _read_head(sock):
    """(head, leftover) once a blank line ends the head; (None, data) if it never does."""
    data = b""
    while b"\r\n\r\n" not in data:
        if len(data) > MAX_HEAD:
            return None, data
        chunk = sock.recv(65536)
        if not chunk:
            return None, data
        data += chunk
    head, _, rest = data.partition(b"\r\n\r\n")
    return head.decode("latin-1"), rest


def _headers_without(lines, drop):
    """Header lines minus hop-by-hop ones and those the Connection header names."""
    named = set(drop)
    for line in lines:
        name, _, value = line.partition(":")
        if name.strip().lower() == "connection":
            named.update(token.strip().lower() for token in value.split(","))
    return [line for line in lines if line.partition(":")[0].strip().lower() not in named]


def _split_authority(authority, default_port):
    """'host:443' / '[::1]:443' / 'host' -> ('host', 443), host lowercased without brackets."""
    host, port = authority, default_port
    if authority.startswith("["):
        host, _, after = authority[1:].partition("]")
        if after.startswith(":"):
            port = after[1:]
    elif authority.count(":") == 1:
        host, _, port = authority.partition(":")
    try:
        port = int(port)
    except (TypeError, ValueError):
        raise _Failure(f"bad port in {authority!r}", 400) from None
    if not host or not 0 < port < 65536:
        raise _Failure(f"bad address {authority!r}", 400)
    return host.lower(), port


# What a request is for, from the Sec-Fetch-Dest header Chromium sends, in the lists' words.
_DESTINATIONS = {"script": "script", "image": "image", "style": "stylesheet",
                 "iframe": "subdocument", "frame": "subdocument", "document": "document",
                 "font": "font", "audio": "media", "video": "media", "track": "media",
                 "empty": "xmlhttprequest", "worker": "script", "sharedworker": "script",
                 "serviceworker": "script"}


def _fetch_destination(header_lines):
    for line in header_lines:
        name, _, value = line.partition(":")
        if name.strip().lower() == "sec-fetch-dest":
            return _DESTINATIONS.get(value.strip().lower(), "other")
    return "other"


def _splice(client, upstream, idle_timeout, end_on_upstream_eof):
    """Copy bytes both ways until both sides finish, or one is idle for idle_timeout s."""
    peer = {client: upstream, upstream: client}
    with selectors.DefaultSelector() as selector:
        for sock in peer:
            selector.register(sock, selectors.EVENT_READ)
        open_sides = 2
        while open_sides:
            events = selector.select(idle_timeout)
            if not events:
                return
            for key, _ in events:
                source = key.fileobj
                try:
                    data = source.recv(65536)
                    if data:
                        peer[source].sendall(data)
                        continue
                except OSError:
                    return
                if source is upstream and end_on_upstream_eof:
                    return
                selector.unregister(source)
                open_sides -= 1
                try:
                    peer[source].shutdown(socket.SHUT_WR)
                except OSError:
                    pass


class _Handler(socketserver.BaseRequestHandler):
    def handle(self):
        proxy, client = self.server.proxy, self.request
        self.opened = [client]
        proxy.track(client)
        method = ""
        try:
            client.settimeout(proxy.idle_timeout)
            head, leftover = _read_head(client)
            if head is None:
                return
            request_line, *header_lines = head.split("\r\n")
            parts = request_line.split(" ")
            if len(parts) != 3:
                raise _Failure("malformed request line", 400)
            method, target, version = parts
            if method.upper() == "CONNECT":
                host, port = _split_authority(target, None)
                proxy.check_blocked(f"https://{host}/", host, port, tunnel=True)
                upstream = self._connect(host, port)
                client.sendall(b"HTTP/1.1 200 Connection Established\r\n\r\n")
                if leftover:
                    upstream.sendall(leftover)
                _splice(client, upstream, proxy.idle_timeout, end_on_upstream_eof=False)
            else:
                self._forward(method, target, version, header_lines, leftover)
        except _Failure as failure:
            self._refuse(failure, method)
        except OSError as exc:
            log.debug("egress proxy: connection ended: %s", exc)
        finally:
            for sock in self.opened:
                proxy.untrack(sock)
                sock.close()

    def _forward(self, method, target, version, header_lines, leftover):
        """One plain-http request: absolute-form in, origin-form out, Connection: close."""
        proxy, client = self.server.proxy, self.request
        if not target.lower().startswith("http://"):
            raise _Failure("only http:// requests and CONNECT tunnels pass this proxy", 400)
        rest = target[len("http://"):]
        cut = min((i for i in (rest.find("/"), rest.find("?"), rest.find("#")) if i >= 0),
                  default=len(rest))
        authority, path = rest[:cut], rest[cut:].split("#", 1)[0]
        if "@" in authority:
            raise _Failure("credentials in a proxied URL are not supported", 400)
        host, port = _split_authority(authority, 80)
        path = path if path.startswith("/") else "/" + path
        proxy.check_blocked(target, host, port, resource_type=_fetch_destination(header_lines))
        upstream = self._connect(host, port)
        headers = _headers_without(header_lines, _HOP_BY_HOP)
        request = "\r\n".join([f"{method} {path} {version}", *headers, "Connection: close"])
        upstream.sendall(request.encode("latin-1") + b"\r\n\r\n" + leftover)
        response_head, body = _read_head(upstream)
        if response_head is None:  # no head (or a huge one): pass on whatever came
            client.sendall(body)
        else:
            status_line, *lines = response_head.split("\r\n")
            lines = [line for line in _headers_without(lines, _HOP_BY_HOP)
                     if not line.lower().startswith(FAILURE_HEADER.lower() + ":")]
            response = "\r\n".join([status_line, *lines, "Connection: close"])
            client.sendall(response.encode("latin-1") + b"\r\n\r\n" + body)
        _splice(client, upstream, proxy.idle_timeout, end_on_upstream_eof=True)

    def _connect(self, host, port):
        """A socket connected to host:port at an address the policy allows, or _Failure."""
        proxy = self.server.proxy
        try:
            addresses = [ipaddress.ip_address(host)]
        except ValueError:
            try:
                addresses = resolve(host, timeout=proxy.resolve_timeout)
            except TimeoutError:
                raise proxy.failed(host, port, f"could not resolve host {host} "
                                   f"(no answer in {proxy.resolve_timeout:g} s)", 502) from None
        if not addresses:
            raise proxy.failed(host, port, f"could not resolve host {host}", 502)
        refusal = proxy.policy.check_all(addresses)
        if refusal is not None:
            raise proxy.failed(host, port, refusal.at_fetch(), 403)
        error = None
        for address in addresses:
            address = getattr(address, "ipv4_mapped", None) or address
            try:
                sock = socket.create_connection((str(address), port),
                                                timeout=proxy.connect_timeout)
            except OSError as exc:
                error = exc
                continue
            sock.settimeout(proxy.idle_timeout)
            self.opened.append(sock)
            proxy.track(sock)
            return sock
        if isinstance(error, ConnectionRefusedError):
            message = f"connection refused by {host}:{port}"
        elif isinstance(error, TimeoutError):
            message = f"connecting to {host}:{port} timed out"
        else:
            message = f"could not reach {host}:{port} ({error.strerror or error})"
        raise proxy.failed(host, port, message, 504 if isinstance(error, TimeoutError) else 502)

    def _refuse(self, failure, method):
        if method.upper() == "CONNECT":
            body = b""
        else:
            body = (str(failure) + "\n").encode()
        reason = {400: "Bad Request", 403: "Forbidden", 502: "Bad Gateway",
                  504: "Gateway Timeout"}[failure.status]
        head = (f"HTTP/1.1 {failure.status} {reason}\r\n"
                f"{FAILURE_HEADER}: 1\r\nContent-Type: text/plain; charset=utf-8\r\n"
                f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n")
        try:
            self.request.sendall(head.encode() + body)
        except OSError:
            pass


class _Server(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 128


class EgressProxy:
    """The guard for one Browser: start(), give Chromium .url, read failure(), stop()."""

    def __init__(self, policy, connect_timeout=10.0, idle_timeout=60.0, resolve_timeout=10.0):
        self.policy = policy
        self.connect_timeout = connect_timeout
        self.idle_timeout = idle_timeout
        self.resolve_timeout = resolve_timeout
        self._lock = threading.Lock()
        self._failures = {}
        self._page = ("", "", None)  # see new_page
        self._sockets = set()
        self._server = _Server(("127.0.0.1", 0), _Handler, bind_and_activate=True)
        self._server.proxy = self
        self.port = self._server.server_address[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self._thread = threading.Thread(target=self._server.serve_forever,
                                        kwargs={"poll_interval": 0.2},
                                        name=f"egress-proxy-{self.port}", daemon=True)
        self._thread.start()

    def failed(self, host, port, message, status):
        """Remember why host:port failed (for the engine) and return the _Failure to raise."""
        with self._lock:
            if len(self._failures) < MAX_RECORDED:
                self._failures[(host.lower(), port)] = message
        if status == 403:
            log.info("egress proxy: %s:%s %s", host, port, message)
        return _Failure(message, status)

    def failure(self, host, port):
        """Why the last request to host:port failed in this page, or None."""
        with self._lock:
            return self._failures.get((host.lower().strip("[]"), port))

    def new_page(self, url="", blocker=None):
        """Forget the previous page's failures; for the page at url, refuse what blocker
        (capture.blocking.AdBlocker) blocks, except the page itself."""
        with self._lock:
            self._failures.clear()
            self._page = (url, (urlsplit(url).hostname or "").lower(), blocker)

    def check_blocked(self, url, host, port, resource_type="other", tunnel=False):
        """_Failure if the page's blocker blocks url (for a tunnel only its host is known, so
        the page's own host always passes); noted like any failure, not logged."""
        page_url, page_host, blocker = self._page
        if blocker is None or url == page_url or (tunnel and host.lower() == page_host):
            return
        if blocker.blocks(url, page_url, resource_type):
            message = "blocked as an ad or tracker"
            with self._lock:
                if len(self._failures) < MAX_RECORDED:
                    self._failures[(host.lower(), port)] = message
            raise _Failure(message, 403)

    def track(self, sock):
        with self._lock:
            self._sockets.add(sock)

    def untrack(self, sock):
        with self._lock:
            self._sockets.discard(sock)

    def stop(self):
        self._server.shutdown()
        self._server.server_close()
        with self._lock:
            sockets, self._sockets = list(self._sockets), set()
        for sock in sockets:
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            sock.close()
        self._thread.join(5)
