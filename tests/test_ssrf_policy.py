"""The address policy and the submit-time check on their own: no browser, no app, no traffic.

Nothing here connects anywhere; the few tests that need DNS answers shootflow cannot get
on this machine replace socket.getaddrinfo, and say so."""
import socket
import threading
import time

import pytest

from shootflow import netpolicy
from shootflow.config import Config
from shootflow.netpolicy import NetPolicy, parse_networks, resolve_many
from shootflow.urls import URLError, parse_url_list

NOTHING_ALLOWED = NetPolicy()
LOCAL = NetPolicy("127.0.0.1/32")


@pytest.mark.parametrize("address, kind", [
    ("127.0.0.1", "a loopback address"),
    ("127.0.0.2", "a loopback address"),
    ("::1", "a loopback address"),
    ("10.1.2.3", "a private address"),
    ("172.16.0.1", "a private address"),
    ("192.168.1.1", "a private address"),
    ("fc00::1", "a private address"),
    ("fd12:3456::1", "a private address"),
    ("169.254.169.254", "a cloud metadata address"),
    ("fd00:ec2::254", "a cloud metadata address"),
    ("169.254.1.1", "a link-local address"),
    ("fe80::1", "a link-local address"),
    ("100.64.0.1", "a shared (CGNAT) address"),
    ("100.127.255.254", "a shared (CGNAT) address"),
    ("224.0.0.1", "a multicast address"),
    ("ff02::1", "a multicast address"),
    ("0.0.0.0", "an unspecified address"),
    ("::", "an unspecified address"),
    ("240.0.0.1", "a reserved address"),
    ("255.255.255.255", "a broadcast address"),
    ("192.0.2.1", "a documentation address"),
    ("2001:db8::1", "a documentation address"),
    ("198.18.0.1", "a benchmarking address"),
    ("192.0.0.170", "an IETF protocol address"),  # NAT64 discovery
    ("0.1.2.3", "a 'this network' address"),
    ("fec0::1", "a reserved address"),  # deprecated site-local
    ("::a01:203", "a reserved address"),  # deprecated IPv4-compatible form
    ("168.63.129.16", "a cloud metadata address"),  # Azure: public-looking, yet internal
    ("::ffff:10.1.2.3", "a private address"),  # IPv4-mapped
    ("::ffff:127.0.0.2", "a loopback address"),
    ("64:ff9b::a01:203", "a private address"),  # NAT64 of 10.1.2.3
    ("2002:a01:203::1", "a private address"),  # 6to4 of 10.1.2.3
    ("2002:a9fe:a9fe::", "a cloud metadata address"),  # 6to4 of 169.254.169.254
    # Teredo (RFC 4380): server 65.54.227.120, client 10.1.2.3 (stored inverted)
    ("2001:0:4136:e378:8000:63bf:f5fe:fdfc", "a private address"),
    ("2001:0:4136:e378:8000:63bf:3fff:fdd2", "a documentation address"),  # RFC 4380's example
    ("2001:0:7f00:1:8000:63bf:f7f7:f7f7", "a loopback address"),  # server 127.0.0.1
])
def test_non_public_addresses_are_refused(address, kind):
    refusal = NOTHING_ALLOWED.check(address)
    assert refusal is not None and refusal.kind == kind
    assert refusal.at_fetch().startswith("refused: ")
    assert refusal.at_fetch().endswith(f" is {kind}")


@pytest.mark.parametrize("address", [
    "93.184.215.14", "8.8.8.8", "2606:4700::1111", "::ffff:8.8.8.8", "64:ff9b::808:808",
    "2002:808:808::1", "2001:0:4136:e378:8000:63bf:f7f7:f7f7",  # 6to4, Teredo of 8.8.8.8
    "192.0.0.9", "2001:1::1", "2001:4:112::1", "192.31.196.1",  # reachable special ranges
])
def test_public_addresses_pass(address):
    assert NOTHING_ALLOWED.check(address) is None


def test_allowlist_opens_exactly_its_networks():
    policy = NetPolicy("127.0.0.1/32, 10.20.0.0/16,fd00:1::/32")
    for allowed in ("127.0.0.1", "::ffff:127.0.0.1", "10.20.3.4", "fd00:1::5"):
        assert policy.check(allowed) is None, allowed
    for refused in ("127.0.0.2", "10.21.0.1", "::1", "fd00:2::5", "169.254.169.254"):
        assert policy.check(refused) is not None, refused
    assert policy.check_all(["127.0.0.1", "127.0.0.2"]).address == "127.0.0.2"


@pytest.mark.parametrize("value, bad", [
    ("10.0.0.1/8", "'10.0.0.1/8'"),
    ("127.0.0.1/32, intranet", "'intranet'"),
    ("10.0.0.0/33", "'10.0.0.0/33'"),
])
def test_bad_allowlist_stops_startup_with_a_clear_error(monkeypatch, value, bad):
    monkeypatch.setenv("SHOOTFLOW_ALLOWED_NETWORKS", value)
    with pytest.raises(RuntimeError, match=r"^SHOOTFLOW_ALLOWED_NETWORKS must be .*CIDR") as info:
        Config()
    assert bad in str(info.value)


def test_allowlist_setting_is_parsed(monkeypatch):
    monkeypatch.setenv("SHOOTFLOW_ALLOWED_NETWORKS", " 10.0.0.0/8 ,, 192.168.1.7 ,fd00::/8 ")
    assert [str(n) for n in Config().ALLOWED_NETWORKS] == [
        "10.0.0.0/8", "192.168.1.7/32", "fd00::/8"]
    monkeypatch.delenv("SHOOTFLOW_ALLOWED_NETWORKS")
    assert Config().ALLOWED_NETWORKS == ()
    assert parse_networks("") == ()


def test_localhost_is_refused_at_submit_by_its_real_resolution():
    """localhost resolves (through /etc/hosts) to loopback: refused unless allowed."""
    with pytest.raises(URLError, match=r"^Line 1 \(localhost:8000\) resolves to a loopback "
                                       r"address (127\.0\.0\.1|::1), which shootflow does not"):
        parse_url_list(["localhost:8000"], 10, policy=NOTHING_ALLOWED)
    assert parse_url_list(["localhost:8000"], 10, policy=NetPolicy("127.0.0.0/8, ::1/128")) \
        == ["https://localhost:8000/"]


def _fake_dns(monkeypatch, table, delay=None):
    """Replace getaddrinfo (pure unit test: no DNS server here can give these answers)."""
    calls = []

    def getaddrinfo(host, port, *args, **kwargs):
        calls.append(host)
        if delay and host in delay:
            delay[host].wait(10)
        if host not in table:
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
        return [(socket.AF_INET6 if ":" in a else socket.AF_INET, socket.SOCK_STREAM, 6, "",
                 (a, 0)) for a in table[host]]
    monkeypatch.setattr(netpolicy.socket, "getaddrinfo", getaddrinfo)
    return calls


def test_name_that_resolves_to_an_internal_address_is_refused(monkeypatch):
    _fake_dns(monkeypatch, {"intranet.example.com": ["93.184.215.14", "10.0.0.7"],
                            "metadata.example.com": ["169.254.169.254"],
                            "public.example.com": ["93.184.215.14"]})
    with pytest.raises(URLError, match=r"^Line 2 \(intranet\.example\.com/x\) resolves to a "
                                       r"private address 10\.0\.0\.7, which shootflow does "
                                       r"not capture\.$"):
        parse_url_list(["public.example.com", "intranet.example.com/x"], 10,
                       policy=NOTHING_ALLOWED)
    with pytest.raises(URLError, match="resolves to a cloud metadata address 169.254.169.254"):
        parse_url_list(["http://metadata.example.com/latest/"], 10, policy=NOTHING_ALLOWED)
    assert parse_url_list(["public.example.com"], 10, policy=NOTHING_ALLOWED) == [
        "https://public.example.com/"]


def test_names_that_do_not_resolve_are_accepted(monkeypatch):
    calls = _fake_dns(monkeypatch, {})
    assert parse_url_list(["nope.invalid", "http://also-nope.invalid/"], 10,
                          policy=NOTHING_ALLOWED) == [
        "https://nope.invalid/", "http://also-nope.invalid/"]
    assert sorted(calls) == ["also-nope.invalid", "nope.invalid"]


def test_slow_dns_does_not_hold_up_a_submission(monkeypatch):
    """A resolver that never answers: the lookup gives up after its timeout, URL accepted."""
    never = threading.Event()
    try:
        _fake_dns(monkeypatch, {"fast.example.com": ["10.0.0.1"]},
                  delay={"slow.example.com": never})
        started = time.monotonic()
        found = resolve_many(["slow.example.com", "fast.example.com"], timeout=0.5)
        assert time.monotonic() - started < 2
        assert "slow.example.com" not in found
        assert [str(a) for a in found["fast.example.com"]] == ["10.0.0.1"]

        started = time.monotonic()
        from shootflow import urls
        monkeypatch.setattr(urls, "SUBMIT_DNS_TIMEOUT", 0.5)
        with pytest.raises(URLError, match="fast.example.com.*private address 10.0.0.1"):
            parse_url_list(["slow.example.com", "fast.example.com"], 10,
                           policy=NOTHING_ALLOWED)
        assert parse_url_list(["slow.example.com"], 10, policy=NOTHING_ALLOWED) == [
            "https://slow.example.com/"]
        assert time.monotonic() - started < 3
    finally:
        never.set()


# Every spelling of an internal address Chromium would go to; none may pass at submit.
REFUSED_AT_SUBMIT = [
    ("http://127.0.0.2/", "loopback address 127.0.0.2"),
    ("http://2130706434/", "loopback address 127.0.0.2"),  # decimal
    ("http://0x7f.2/", "loopback address 127.0.0.2"),  # hex, short form
    ("http://0x7f000002/", "loopback address 127.0.0.2"),  # hex
    ("http://017700000002/", "loopback address 127.0.0.2"),  # octal
    ("http://0177.0.0.02/", "loopback address 127.0.0.2"),  # octal parts
    ("http://127.2/", "loopback address 127.0.0.2"),
    ("http://127.0.0.2./", "loopback address 127.0.0.2"),
    ("http://１２７.０.０.２/", "loopback address 127.0.0.2"),  # full-width digits
    ("http://[::1]/", "loopback address ::1"),
    ("http://[0:0:0:0:0:0:0:1]/", "loopback address ::1"),
    ("http://[::ffff:127.0.0.2]/", "loopback address ::ffff:7f00:2 (127.0.0.2)"),
    ("http://[::ffff:7f00:2]/", "loopback address ::ffff:7f00:2 (127.0.0.2)"),
    ("http://example.com@127.0.0.2/", "loopback address 127.0.0.2"),  # user@host
    ("http://user:pass@0x7f.2:8080/", "loopback address 127.0.0.2"),
    ("http://0/", "unspecified address 0.0.0.0"),
    ("http://10.1.2.3/", "private address 10.1.2.3"),
    ("http://167838211/", "private address 10.1.2.3"),
    ("http://169.254.169.254/latest/meta-data/", "cloud metadata address 169.254.169.254"),
    ("http://[fd00:ec2::254]/", "cloud metadata address fd00:ec2::254"),
    ("http://100.64.0.1/", "shared (CGNAT) address 100.64.0.1"),
    ("http://[fe80::1]/", "link-local address fe80::1"),
    ("http://224.0.0.1/", "multicast address 224.0.0.1"),
    ("http://[64:ff9b::a01:203]/", "private address 64:ff9b::a01:203 (10.1.2.3)"),
]


@pytest.mark.parametrize("text, reason", REFUSED_AT_SUBMIT)
def test_internal_addresses_are_refused_at_submit_in_every_spelling(text, reason):
    with pytest.raises(URLError, match=r"^Line 1 \(.*\) points to an? "):
        parse_url_list([text], 10, policy=LOCAL)
    with pytest.raises(URLError) as info:
        parse_url_list([text], 10, policy=LOCAL)
    assert f"{reason}, which shootflow does not capture." in str(info.value)


def test_user_at_host_goes_by_the_real_host(monkeypatch):
    _fake_dns(monkeypatch, {})
    # the host is example.invalid; the 127.0.0.2 before the @ is only a user name
    assert parse_url_list(["http://127.0.0.2@example.invalid/"], 10, policy=LOCAL) == [
        "http://127.0.0.2@example.invalid/"]
