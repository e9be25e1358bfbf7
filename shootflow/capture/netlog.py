"""What ChromeDriver's performance log says about a tab's top-level document."""
import json
from dataclasses import dataclass

from .egress import FAILURE_HEADER


@dataclass(frozen=True)
class MainDocument:
    """What the network log says about the top-level document."""
    url: str | None = None       # the last URL requested, after any redirects
    status: int | None = None
    net_error: str | None = None
    from_guard: bool = False     # the response was the egress guard's refusal or failure
    aborted: str | None = None   # the net error when Chromium cancelled the navigation
    redirects: tuple = ()        # every URL requested for it, the first one included
    headers: tuple = ()          # the last response's headers, (name, value) pairs


def log_messages(driver):
    """The performance log's CDP messages since the last read (reading empties it)."""
    return [json.loads(entry["message"])["message"] for entry in driver.get_log("performance")]


def read_main_document(messages, frame_id, guarded):
    """What messages say about frame_id's document; None if it requested none. guarded: the
    egress guard is on, so a response carrying its failure header is its refusal."""
    request_id, url, status, error, from_guard, aborted = None, None, None, None, False, None
    chain, headers = [], {}
    for message in messages:
        params = message.get("params", {})
        method = message.get("method")
        if method == "Network.requestWillBeSent" and request_id is None:
            if params.get("type") == "Document" and params.get("frameId") == frame_id:
                request_id, url = params["requestId"], params["request"]["url"]
                chain.append(url)
        elif params.get("requestId") != request_id or request_id is None:
            continue
        elif method == "Network.requestWillBeSent":  # a redirect: same id, next URL
            url = params["request"]["url"]
            chain.append(url)
        elif method == "Network.responseReceived":
            status = params["response"].get("status")
            headers = params["response"].get("headers", {})
            from_guard = guarded and any(
                name.lower() == FAILURE_HEADER.lower() for name in headers)
        elif method == "Network.loadingFailed" and params.get("canceled"):
            aborted = params.get("errorText")
        elif method == "Network.loadingFailed":
            error = params.get("errorText")
    if request_id is None:
        return None
    return MainDocument(url, status, error, from_guard, aborted, tuple(chain),
                        tuple(headers.items()))
