"""The engine's own DevTools connection to the whole browser, beside ChromeDriver's."""
import itertools
import json
import logging
import socket
import threading
from concurrent.futures import Future
from pathlib import Path

import websocket

log = logging.getLogger(__name__)


class DevToolsError(Exception):
    """A DevTools command failed, or the connection to the browser is gone."""


class DevTools:
    """Sends browser-level CDP commands (Target.*, Browser.*), which ChromeDriver's page-level
    execute_cdp_cmd may not; a reader thread matches the answers and drops the events."""

    def __init__(self, profile_dir, timeout=30):
        # Chromium writes its DevTools port and browser path here at start (ChromeDriver
        # reads the same file), so no HTTP round trip to /json/version is needed.
        port, path = (Path(profile_dir) / "DevToolsActivePort").read_text().split()[:2]
        # A socket of our own: an http_proxy in the environment must not be asked to carry it.
        sock = socket.create_connection(("127.0.0.1", int(port)), timeout=timeout)
        self.timeout = timeout
        try:
            self._ws = websocket.create_connection(
                f"ws://127.0.0.1:{port}{path}", socket=sock, suppress_origin=True, timeout=None)
        except (OSError, websocket.WebSocketException) as exc:
            sock.close()
            raise DevToolsError(f"could not connect to the browser's DevTools: {exc}") from exc
        # timeout bounds connecting and each call; the reader waits as long as the browser
        # is idle (close() wakes it).
        self._ws.settimeout(None)
        self._ids = itertools.count(1)
        self._pending = {}
        self._lock = threading.Lock()
        self._closed = None
        self._reader = threading.Thread(target=self._read, name="devtools-reader", daemon=True)
        self._reader.start()

    def send(self, method, params=None, session=None):
        """Send one command; a Future of its result."""
        future = Future()
        message = {"method": method, "params": params or {}}
        if session is not None:
            message["sessionId"] = session
        with self._lock:
            if self._closed is not None:
                raise DevToolsError(f"{method}: {self._closed}")
            message["id"] = command_id = next(self._ids)
            self._pending[command_id] = (method, future)
            try:
                self._ws.send(json.dumps(message))
            except (OSError, websocket.WebSocketException) as exc:
                del self._pending[command_id]
                raise DevToolsError(f"{method}: the browser's DevTools connection failed "
                                    f"({exc})") from exc
        return future

    def call(self, method, params=None, session=None):
        """Send one command and wait for its result."""
        return self.send(method, params, session).result(self.timeout)

    def _read(self):
        reason = "the browser's DevTools connection closed"
        try:
            while True:
                message = json.loads(self._ws.recv())
                if "id" not in message:
                    continue  # an event: nobody here listens to them
                with self._lock:
                    method, future = self._pending.pop(message["id"], (None, None))
                if future is None:
                    continue
                if "error" in message:
                    future.set_exception(DevToolsError(
                        f"{method}: {message['error'].get('message', message['error'])}"))
                else:
                    future.set_result(message.get("result", {}))
        except (OSError, ValueError, websocket.WebSocketException) as exc:
            log.debug("devtools reader ends: %s", exc)
        finally:
            with self._lock:
                self._closed = self._closed or reason
                pending, self._pending = self._pending, {}
            for method, future in pending.values():
                future.set_exception(DevToolsError(f"{method}: {reason}"))

    def close(self):
        with self._lock:
            self._closed = "the connection was closed"
        try:
            self._ws.abort()  # wakes the reader from recv(); no closing handshake is needed
        except OSError:  # the browser hung up first
            pass
        self._ws.shutdown()
        self._reader.join(5)
