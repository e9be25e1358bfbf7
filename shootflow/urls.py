"""What counts as a URL shootflow will capture, and how pasted text becomes a list of them."""
import ipaddress
import re
from urllib.parse import urlsplit, urlunsplit

import idna

from .netpolicy import NetPolicy, resolve_many
from .special_addresses import address_text

MAX_URL_LENGTH = 2000
ALLOWED_SCHEMES = ("http", "https")
SUBMIT_DNS_TIMEOUT = 2.0  # seconds for all of a submission's lookups together
_SCHEME = re.compile(r"^([a-zA-Z][a-zA-Z0-9+.-]*):")
_LABEL = re.compile(r"^(?!-)[a-z0-9-]{1,63}(?<!-)$")
_DIGITS = {8: "01234567", 10: "0123456789", 16: "0123456789abcdefABCDEF"}


class URLError(ValueError):
    """A URL that cannot be captured; the message is meant for the person who typed it, the
    code is the API's word for it (invalid_url, no_urls, too_many_urls)."""

    def __init__(self, message, code="invalid_url"):
        super().__init__(message)
        self.code = code


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


def _ipv4_number(part):
    """One part of an IPv4 host as the URL Standard reads it: 10, 012 (octal), 0xa (hex)."""
    if not part:
        return None
    radix = 10
    if part[:2] in ("0x", "0X"):
        radix, part = 16, part[2:]
    elif len(part) > 1 and part[0] == "0":
        radix, part = 8, part[1:]
    if not part:
        return 0
    if any(ch not in _DIGITS[radix] for ch in part):
        return None
    return int(part, radix)


def _ipv4_host(host):
    """The IPv4 address a host that ends in a number means, as Chromium reads it.

    None when the host is a name; URLError when it ends in a number but is no address.
    2130706433, 0x7f.1, 017700000001, 127.1 and 127.0.0.1. all mean 127.0.0.1."""
    parts = host.split(".")
    if parts[-1] == "" and len(parts) > 1:
        parts.pop()
    last = parts[-1]
    if not (last.isascii() and last.isdigit()) and _ipv4_number(last) is None:
        return None
    numbers = [_ipv4_number(part) for part in parts]
    if (len(parts) > 4 or None in numbers or any(n > 255 for n in numbers[:-1])
            or numbers[-1] >= 256 ** (5 - len(numbers))):
        raise URLError(f"has an invalid IP address {host!r}")
    value = numbers[-1] + sum(n << 8 * (3 - i) for i, n in enumerate(numbers[:-1]))
    return ipaddress.IPv4Address(value)


def _domain_to_ascii(host):
    """host as the URL Standard and Chromium write it: UTS #46 mapping, non-transitional
    (straße.de is xn--strae-oqa.de; Python's own "idna" codec, IDNA 2003, would make it
    strasse.de, another domain), then Punycode for each label that is not ASCII."""
    if host.isascii():
        return host.lower()
    mapped = idna.uts46_remap(host, std3_rules=False, transitional=False)
    return ".".join(label if label.isascii() else "xn--" + label.encode("punycode").decode()
                    for label in mapped.split("."))


def _check_host(host):
    """The host as Chromium will use it: IP literals in canonical form, names in ASCII."""
    if not host:
        raise URLError("has no host name")
    if host.startswith("[") or ":" in host:  # IPv6; urlsplit has already checked the brackets
        try:
            address = ipaddress.IPv6Address(host.strip("[]"))
        except ValueError:
            raise URLError(f"has an invalid IP address {host!r}") from None
        if address.scope_id:
            raise URLError(f"has an IPv6 zone in its address {host!r}")
        return address_text(address)
    try:
        ascii_host = _domain_to_ascii(host)
    except (idna.IDNAError, UnicodeError):
        raise URLError(f"has an invalid host name {host!r}") from None
    address = _ipv4_host(ascii_host)
    if address is not None:
        return str(address)
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
    if "\\" in parts.netloc:
        # Chromium reads a backslash as a slash: http://a\@b/ goes to a, not to b.
        raise URLError("has a backslash before its path")
    host = _check_host(parts.hostname or "")
    netloc = f"[{host}]" if ":" in host else host
    if parts.username or parts.password:
        userinfo = parts.netloc.rsplit("@", 1)[0]
        netloc = f"{userinfo}@{netloc}"
    if port is not None:
        netloc = f"{netloc}:{port}"
    normalized = urlunsplit((scheme, netloc, parts.path or "/", parts.query, ""))
    if len(normalized) > MAX_URL_LENGTH:
        raise URLError(f"is longer than {MAX_URL_LENGTH:,} characters")
    return normalized


def without_credentials(url):
    """url with any user:password@ taken out, for logs and operators' views."""
    parts = urlsplit(url)
    if "@" not in parts.netloc:
        return url
    return urlunsplit(parts._replace(netloc=parts.netloc.rsplit("@", 1)[1]))


def refused_destinations(urls, policy, timeout=None):
    """{url: reason} for the URLs whose host is, or resolves to, an address policy refuses.

    Names that do not resolve (or not within timeout) pass: the capture fails on them later
    with a DNS error, and the egress guard checks every address again at fetch time."""
    hosts = {url: urlsplit(url).hostname for url in urls}
    literal, names = {}, []
    for host in set(hosts.values()):
        try:
            literal[host] = ipaddress.ip_address(host)
        except ValueError:
            names.append(host)
    timeout = SUBMIT_DNS_TIMEOUT if timeout is None else timeout
    resolved = resolve_many(names, timeout) if names else {}
    refused = {}
    for url, host in hosts.items():
        if host in literal:
            refusal = policy.check(literal[host])
        else:
            refusal = policy.check_all(resolved.get(host, ()))
        if refusal is not None:
            refused[url] = refusal.at_submit(resolved=host not in literal)
    return refused


def _shown(line):
    shown = line.strip()
    return shown if len(shown) <= 80 else shown[:77] + "..."


def read_url_list(lines, max_urls):
    """Pasted lines -> {url: (line number, line)} of unique, normalized URLs, in order.

    Only text is checked here (fast, no lookups); URLError names the first bad line."""
    urls = {}
    for number, line in enumerate(lines, start=1):
        if not isinstance(line, str):
            raise URLError(f"Item {number} is not a string.")
        if not line.strip():
            continue
        try:
            url = normalize_url(line)
        except URLError as exc:
            raise URLError(f"Line {number} ({_shown(line)}) {exc}.") from None
        urls.setdefault(url, (number, line))
    if not urls:
        raise URLError("Paste at least one URL, one per line.", "no_urls")
    if len(urls) > max_urls:
        raise URLError(
            f"A bundle can hold at most {max_urls:,} URLs; you gave {len(urls):,}. "
            "Split them into several bundles.", "too_many_urls")
    return urls


def check_destinations(urls, policy=None):
    """URLError naming the first line (of read_url_list's answer) whose host is, or resolves
    to, an address policy refuses; by default the environment's SHOOTFLOW_ALLOWED_NETWORKS.

    This resolves names, which can take SUBMIT_DNS_TIMEOUT: check cheap limits first."""
    refused = refused_destinations(urls, policy if policy is not None else NetPolicy.from_env())
    for url, (number, line) in urls.items():
        if url in refused:
            raise URLError(f"Line {number} ({_shown(line)}) {refused[url]}.")


def parse_url_list(lines, max_urls, policy=None):
    """Turn pasted lines into unique, normalized URLs that policy allows; URLError naming the
    first bad line."""
    urls = read_url_list(lines, max_urls)
    check_destinations(urls, policy)
    return list(urls)
