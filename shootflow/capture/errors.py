"""Failures of a page, told in words a person understands."""
from urllib.parse import urlsplit


class PageError(Exception):
    """The page could not be captured; the browser itself is fine unless restart is set."""

    def __init__(self, message, restart=False):
        super().__init__(message)
        self.restart = restart


class BrowserError(Exception):
    """The browser failed (crashed, hung, refused a command); it must be replaced."""


_NET_ERRORS = {
    "ERR_NAME_NOT_RESOLVED": "could not resolve host {host}",
    "ERR_NAME_RESOLUTION_FAILED": "could not resolve host {host}",
    "ERR_CONNECTION_REFUSED": "connection refused by {hostport}",
    "ERR_CONNECTION_RESET": "connection reset by {hostport}",
    "ERR_CONNECTION_CLOSED": "{hostport} closed the connection",
    "ERR_EMPTY_RESPONSE": "{hostport} closed the connection without sending a page",
    "ERR_CONNECTION_TIMED_OUT": "connecting to {hostport} timed out",
    "ERR_TIMED_OUT": "{hostport} took too long to answer",
    "ERR_ADDRESS_UNREACHABLE": "could not reach {hostport}",
    "ERR_INTERNET_DISCONNECTED": "could not reach {hostport}: no network",
    "ERR_NETWORK_ACCESS_DENIED": "network access to {hostport} was denied",
    "ERR_UNSAFE_PORT": "port {port} is blocked by the browser as unsafe",
    "ERR_TOO_MANY_REDIRECTS": "{host} redirects too many times",
    "ERR_INVALID_RESPONSE": "{hostport} sent an invalid response",
    "ERR_INVALID_HTTP_RESPONSE": "{hostport} sent an invalid HTTP response",
    "ERR_SSL_PROTOCOL_ERROR": "the secure connection to {host} failed",
    "ERR_ABORTED": "the page was aborted (it may have started a download instead)",
    "ERR_BLOCKED_BY_CLIENT": "the request to {host} was blocked",
    "ERR_UNSAFE_REDIRECT": "{host} redirects to an address that is not a web page",
    "ERR_TUNNEL_CONNECTION_FAILED": "could not open a connection to {hostport}",
    "ERR_PROXY_CONNECTION_FAILED": "the browser's egress guard did not answer",
    "ERR_INVALID_AUTH_CREDENTIALS": "{host} asks for a user name and password",
}


def describe_net_error(code, url):
    """Turn Chromium's net::ERR_* code for a URL into a sentence."""
    code = code.removeprefix("net::")
    parts = urlsplit(url)
    host = parts.hostname or url
    port = parts.port or (443 if parts.scheme == "https" else 80)
    template = _NET_ERRORS.get(code)
    if template is None and code.startswith("ERR_CERT_"):
        template = "the TLS certificate of {host} is not valid (" + code + ")"
    if template is None:
        template = "the page failed to load (" + code + ")"
    return template.format(host=host, port=port, hostport=f"{host}:{port}")
