"""Failures of a page, told in words a person understands."""
from urllib.parse import urlsplit


class PageError(Exception):
    """The page could not be captured; the browser itself is fine unless restart is set.
    kind says what sort of failure it is (see KINDS)."""

    def __init__(self, message, restart=False, kind="page"):
        super().__init__(message)
        self.restart = restart
        self.kind = kind


class BrowserError(Exception):
    """The browser failed (crashed, hung, refused a command); it must be replaced."""
    kind = "browser"


# What went wrong, in one word, and whether trying again later may help.
KINDS = {
    "dns": False,         # the name does not resolve
    "connection": True,   # refused, reset, closed, unreachable, no answer in time
    "tls": False,         # the certificate or the secure connection
    "timeout": True,      # the page did not load, or get ready, in time
    "refused": False,     # shootflow would not fetch it (an internal address, an ad)
    "browser": True,      # the browser crashed or stopped answering
    "page": False,        # anything else about the page: a download, a bad option for it
}
TRANSIENT = frozenset(kind for kind, transient in KINDS.items() if transient)
_CODE_KINDS = {
    "ERR_NAME_NOT_RESOLVED": "dns", "ERR_NAME_RESOLUTION_FAILED": "dns",
    "ERR_TIMED_OUT": "timeout", "ERR_UNSAFE_PORT": "refused",
    "ERR_BLOCKED_BY_CLIENT": "refused", "ERR_NETWORK_ACCESS_DENIED": "refused",
    "ERR_ABORTED": "page", "ERR_TOO_MANY_REDIRECTS": "page", "ERR_UNSAFE_REDIRECT": "page",
    "ERR_INVALID_AUTH_CREDENTIALS": "page", "ERR_PROXY_CONNECTION_FAILED": "browser",
}


def net_error_kind(code):
    """The kind of failure a net::ERR_* code is."""
    code = code.removeprefix("net::")
    if code in _CODE_KINDS:
        return _CODE_KINDS[code]
    if code.startswith(("ERR_CERT_", "ERR_SSL_", "ERR_BAD_SSL")):
        return "tls"
    if code.startswith(("ERR_CONNECTION_", "ERR_ADDRESS_", "ERR_EMPTY_RESPONSE",
                        "ERR_INTERNET_", "ERR_TUNNEL_", "ERR_INVALID_RESPONSE",
                        "ERR_INVALID_HTTP_RESPONSE", "ERR_SOCKET_", "ERR_HTTP2_",
                        "ERR_QUIC_", "ERR_NETWORK_CHANGED")):
        return "connection"
    return "page"


def guard_failure_kind(message):
    """The kind of a failure the egress guard reported, from its message."""
    if message.startswith("could not resolve host"):
        return "dns"
    if message.startswith(("connection refused", "could not reach", "connecting to")):
        return "connection"
    return "refused"  # an address shootflow does not fetch, or an ad or tracker


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
