"""The address table against the IANA registries, range by range, at every edge.

The rows below are transcribed from the registries' "Globally Reachable" column (IPv4 and
IPv6 Special-Purpose Address Registries, IPv6 Address Space, IPv4 multicast), separately
from the product's table: a row the product leaves out, or a boundary off by one, fails here.
The answers must not depend on the Python release (ipaddress's own tables do)."""
import ipaddress

import pytest

from shootflow.netpolicy import NetPolicy
from shootflow.special_addresses import address_text

PUBLIC, NOT_PUBLIC = True, False
REGISTRY = [
    ("0.0.0.0/8", NOT_PUBLIC), ("0.0.0.0/32", NOT_PUBLIC), ("10.0.0.0/8", NOT_PUBLIC),
    ("100.64.0.0/10", NOT_PUBLIC), ("127.0.0.0/8", NOT_PUBLIC), ("169.254.0.0/16", NOT_PUBLIC),
    ("172.16.0.0/12", NOT_PUBLIC), ("192.0.0.0/24", NOT_PUBLIC), ("192.0.0.0/29", NOT_PUBLIC),
    ("192.0.0.8/32", NOT_PUBLIC), ("192.0.0.9/32", PUBLIC), ("192.0.0.10/32", PUBLIC),
    ("192.0.0.170/32", NOT_PUBLIC), ("192.0.0.171/32", NOT_PUBLIC),
    ("192.0.2.0/24", NOT_PUBLIC), ("192.31.196.0/24", PUBLIC), ("192.52.193.0/24", PUBLIC),
    ("192.88.99.0/24", NOT_PUBLIC),  # deprecated 6to4 relay anycast (RFC 7526): refused
    ("192.168.0.0/16", NOT_PUBLIC), ("192.175.48.0/24", PUBLIC), ("198.18.0.0/15", NOT_PUBLIC),
    ("198.51.100.0/24", NOT_PUBLIC), ("203.0.113.0/24", NOT_PUBLIC),
    ("224.0.0.0/4", NOT_PUBLIC), ("240.0.0.0/4", NOT_PUBLIC), ("255.255.255.255/32", NOT_PUBLIC),
    ("::/128", NOT_PUBLIC), ("::1/128", NOT_PUBLIC), ("64:ff9b:1::/48", NOT_PUBLIC),
    ("100::/64", NOT_PUBLIC), ("100:0:0:1::/64", NOT_PUBLIC), ("2001::/23", NOT_PUBLIC),
    ("2001:1::1/128", PUBLIC), ("2001:1::2/128", PUBLIC), ("2001:1::3/128", PUBLIC),
    ("2001:2::/48", NOT_PUBLIC), ("2001:3::/32", PUBLIC), ("2001:4:112::/48", PUBLIC),
    ("2001:10::/28", NOT_PUBLIC), ("2001:20::/28", PUBLIC), ("2001:30::/28", PUBLIC),
    ("2001:db8::/32", NOT_PUBLIC), ("2620:4f:8000::/48", PUBLIC), ("3fff::/20", NOT_PUBLIC),
    ("5f00::/16", NOT_PUBLIC), ("fc00::/7", NOT_PUBLIC), ("fe80::/10", NOT_PUBLIC),
    ("fec0::/10", NOT_PUBLIC), ("ff00::/8", NOT_PUBLIC),
    ("::/0", NOT_PUBLIC), ("2000::/3", PUBLIC),  # only 2000::/3 is global unicast
]
# Judged by the IPv4 address they carry (tested in test_ssrf_policy), so not by their row.
CARRIERS = [ipaddress.ip_network(n) for n in
            ("::ffff:0:0/96", "64:ff9b::/96", "2001::/32", "2002::/16")]
ROWS = sorted(((ipaddress.ip_network(net), public) for net, public in REGISTRY),
              key=lambda row: -row[0].prefixlen)
POLICY = NetPolicy()


def expected(ip):
    """The registry's answer: the most specific row decides; IPv4 outside every row is public."""
    return next((public for net, public in ROWS if net.version == ip.version and ip in net),
                ip.version == 4)


def edges():
    """(row, address, public) for each row's first and last address and the two beside them."""
    for net, public in ROWS:
        first, last = net.network_address, net.broadcast_address
        for n in (int(first), int(last), int(first) - 1, int(last) + 1):
            if not 0 <= n < 2 ** net.max_prefixlen:
                continue
            ip = type(first)(n)
            if not any(ip.version == c.version and ip in c for c in CARRIERS):
                yield (str(net) if ip in net else f"beside {net}"), ip, expected(ip)


@pytest.mark.parametrize("row, address, public", [
    pytest.param(row, ip, public, id=f"{row}:{ip}") for row, ip, public in edges()])
def test_every_registry_range_at_its_edges(row, address, public):
    refusal = POLICY.check(address)
    assert (refusal is None) == public, f"{address} ({row}): {refusal}"
    if refusal is not None:
        assert refusal.kind.startswith(("a ", "an ")) and refusal.address == str(address)


@pytest.mark.parametrize("address, text", [
    ("::", "::"), ("::1", "::1"), ("1::", "1::"),
    ("::ffff:127.0.0.1", "::ffff:7f00:1"),  # never dotted, whatever str() does
    ("1:0:0:2:0:0:0:3", "1:0:0:2::3"),  # the longest run of zeros
    ("0:0:1:0:0:1:0:0", "::1:0:0:1:0:0"),  # the first of two equal runs
    ("1:0:2:3:4:5:6:7", "1:0:2:3:4:5:6:7"),  # a single zero piece stays
    ("2001:DB8:0:0:0:0:0:AB", "2001:db8::ab"), ("10.1.2.3", "10.1.2.3"),
])
def test_addresses_are_written_as_the_url_standard_does(address, text):
    assert address_text(ipaddress.ip_address(address)) == text
