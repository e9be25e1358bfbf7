"""What counts as a URL shootflow will capture, and how pasted text becomes a list of them."""
import re
from urllib.parse import urlsplit, urlunsplit

MAX_URL_LENGTH = 2000
ALLOWED_SCHEMES = ("http", "https")
_SCHEME = re.compile(r"^([a-zA-Z][a-zA-Z0-9+.-]*):")
_LABEL = re.compile(r"^(?!-)[a-z0-9-]{1,63}(?<!-)$")
_IPV4 = re.compile(r"^\d{1,3}(\.\d{1,3}){3}$")


class URLError(ValueError):
    """A URL that cannot be captured; the message is meant for the person who typed it."""


def _has_scheme(text):
    """True when text starts with a scheme, not with a bare host and port (example.com:8080)."""
    match = _SCHEME.match(text)
    if not match:
        return False
    prefix, rest = match.group(1), text[match.end():]
    if "://" in text[:match.end() + 2]:
        return True
    bare_host_with_port = "." in prefix or re.match(r"^\d+(/|$)", rest)
    return not bare_host_with_port


def _check_host(host):
    if not host:
        raise URLError("has no host name")
    if host.startswith("[") or ":" in host:
        return host  # an IPv6 literal; urlsplit has already checked the brackets
    if _IPV4.match(host):
        if any(int(part) > 255 for part in host.split(".")):
            raise URLError(f"has an invalid IP address {host!r}")
        return host
    try:
        ascii_host = host.encode("idna").decode("ascii")
    except UnicodeError:
        raise URLError(f"has an invalid host name {host!r}") from None
    labels = ascii_host.rstrip(".").split(".")
    if not all(_LABEL.match(label) for label in labels):
        raise URLError(f"has an invalid host name {host!r}")
    return ascii_host


def normalize_url(text):
    """Return the canonical http(s) URL for one pasted line, or raise URLError."""
    text = text.strip()
    if len(text) > MAX_URL_LENGTH:
        raise URLError(f"is longer than {MAX_URL_LENGTH:,} characters")
    if any(ch.isspace() or ord(ch) < 32 for ch in text):
        raise URLError("contains spaces or control characters")
    if not _has_scheme(text):
        text = "https://" + text
    try:
        parts = urlsplit(text)
        port = parts.port
    except ValueError as exc:
        raise URLError(f"is malformed ({exc})") from None
    scheme = parts.scheme.lower()
    if scheme not in ALLOWED_SCHEMES:
        raise URLError(f"uses {scheme}:, but only http and https pages can be captured")
    if not text[len(scheme) + 1:].startswith("//"):
        raise URLError("is malformed (expected scheme://host)")
    host = _check_host(parts.hostname or "")
    netloc = host if "[" not in parts.netloc else f"[{host}]"
    if parts.username or parts.password:
        userinfo = parts.netloc.rsplit("@", 1)[0]
        netloc = f"{userinfo}@{netloc}"
    if port is not None:
        netloc = f"{netloc}:{port}"
    normalized = urlunsplit((scheme, netloc, parts.path or "/", parts.query, ""))
    if len(normalized) > MAX_URL_LENGTH:
        raise URLError(f"is longer than {MAX_URL_LENGTH:,} characters")
    return normalized


def parse_url_list(lines, max_urls):
    """Turn pasted lines into unique, normalized URLs; raise URLError naming the first bad line."""
    urls, seen = [], set()
    for number, line in enumerate(lines, start=1):
        if not isinstance(line, str):
            raise URLError(f"Item {number} is not a string.")
        if not line.strip():
            continue
        try:
            url = normalize_url(line)
        except URLError as exc:
            shown = line.strip()
            shown = shown if len(shown) <= 80 else shown[:77] + "..."
            raise URLError(f"Line {number} ({shown}) {exc}.") from None
        if url not in seen:
            seen.add(url)
            urls.append(url)
    if not urls:
        raise URLError("Paste at least one URL, one per line.")
    if len(urls) > max_urls:
        raise URLError(
            f"A bundle can hold at most {max_urls:,} URLs; you gave {len(urls):,}. "
            "Split them into several bundles.")
    return urls
