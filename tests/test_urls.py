"""The URL policy on its own: what a pasted line becomes, and what is refused."""
import pytest

from shootflow.urls import URLError, normalize_url, parse_url_list, without_credentials


@pytest.mark.parametrize("text, expected", [
    ("example.com", "https://example.com/"),
    ("  example.com/path?q=1  ", "https://example.com/path?q=1"),
    ("localhost:5000", "https://localhost:5000/"),
    ("HTTP://Example.COM", "http://example.com/"),
    ("https://example.com/a#fragment", "https://example.com/a"),
    ("https://[::1]:8080/x", "https://[::1]:8080/x"),
    ("bücher.de", "https://xn--bcher-kva.de/"),
    # UTS #46 non-transitional, as Chromium and the URL Standard: ß stays, it is not "ss"
    ("https://straße.de/", "https://xn--strae-oqa.de/"),
    ("faß.de", "https://xn--fa-hia.de/"),
    ("ＥＸＡＭＰＬＥ.com", "https://example.com/"),  # full-width letters
    ("example。com", "https://example.com/"),  # ideographic full stop
    ("Bücher.DE/x", "https://xn--bcher-kva.de/x"),
    ("☃.net", "https://xn--n3h.net/"),
])
def test_normalize(text, expected):
    assert normalize_url(text) == expected


@pytest.mark.parametrize("text, message", [
    ("file:///etc/passwd", "uses file:"),
    ("javascript:alert(1)", "uses javascript:"),
    ("data:text/html,<b>hi</b>", "uses data:"),
    ("chrome://settings", "uses chrome:"),
    ("ftp://example.com/", "uses ftp:"),
    ("http://", "has no host name"),
    ("http:/example.com", "is malformed"),
    ("http://exa mple.com", "contains spaces"),
    ("http://example.com:99999/", "is malformed"),
    ("http://-bad-.com/", "invalid host name"),
    ("http://300.1.1.1/", "invalid IP address"),
    ("https://example.com/" + "x" * 2000, "longer than 2,000 characters"),
])
def test_refused(text, message):
    with pytest.raises(URLError, match=message):
        normalize_url(text)


def test_list_drops_blanks_and_duplicates_keeping_order():
    lines = ["b.example", "", "a.example", "  ", "https://b.example/", "a.example"]
    assert parse_url_list(lines, 10) == ["https://b.example/", "https://a.example/"]


def test_list_names_the_bad_line():
    with pytest.raises(URLError, match=r"^Line 3 \(javascript:x\) uses javascript:"):
        parse_url_list(["a.example", "", "javascript:x"], 10)


def test_list_limit_counts_unique_urls():
    assert len(parse_url_list(["a.example"] * 20, 1)) == 1
    with pytest.raises(URLError, match="at most 2 URLs; you gave 3"):
        parse_url_list(["a.example", "b.example", "c.example"], 2)


def test_empty_list():
    with pytest.raises(URLError, match="Paste at least one URL"):
        parse_url_list([" ", ""], 10)


# Chromium reads these hosts as IPv4 addresses (URL Standard), so the submit check must too.
@pytest.mark.parametrize("text, expected", [
    ("http://2130706433/", "http://127.0.0.1/"),
    ("http://0x7f.1/", "http://127.0.0.1/"),
    ("http://017700000001/", "http://127.0.0.1/"),
    ("http://0x7f000001/", "http://127.0.0.1/"),
    ("http://0177.0.0.01/", "http://127.0.0.1/"),
    ("http://127.1/", "http://127.0.0.1/"),
    ("http://0X7F.0.0.1./x", "http://127.0.0.1/x"),
    ("http://１２７.０.０.１/", "http://127.0.0.1/"),
    ("http://0x/", "http://0.0.0.0/"),
    ("http://[::ffff:127.0.0.1]/", "http://[::ffff:7f00:1]/"),
    ("http://[0:0:0:0:0:0:0:1]:8080/", "http://[::1]:8080/"),
    ("http://example.com@127.0.0.2/", "http://example.com@127.0.0.2/"),
    ("http://foo.0x1g/", "http://foo.0x1g/"),
])
def test_ip_spellings_are_canonicalised(text, expected):
    assert normalize_url(text) == expected


@pytest.mark.parametrize("text, message", [
    ("http://1.2.3.4.5/", "invalid IP address"),
    ("http://999999999999/", "invalid IP address"),
    ("http://0x100000000/", "invalid IP address"),
    ("http://1.2.65536/", "invalid IP address"),
    ("http://example.1/", "invalid IP address"),
    ("http://[fe80::1%25eth0]/", "IPv6 zone"),
    ("http://127.0.0.2\\@example.com/", "backslash"),
])
def test_bad_ip_spellings_are_refused(text, message):
    with pytest.raises(URLError, match=message):
        normalize_url(text)


@pytest.mark.parametrize("url, shown", [
    ("https://user:secret@example.com:8443/a?b=c", "https://example.com:8443/a?b=c"),
    ("https://user@example.com/", "https://example.com/"),
    ("https://example.com/p@th", "https://example.com/p@th"),  # an @ in the path stays
    ("https://a@b:c@example.com/", "https://example.com/"),
])
def test_credentials_are_left_out_of_what_operators_see(url, shown):
    assert without_credentials(url) == shown
