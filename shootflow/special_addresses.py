"""Which IP addresses are not public, decided range by range here rather than by `ipaddress`.

`ipaddress`'s is_private, is_global and friends changed meaning between Python patch
releases (3.11.2 calls 2002:808:808::1 private, later releases do not), and a security rule
must not change with the interpreter. So every range is written out below, from:

- IANA IPv4 Special-Purpose Address Registry (RFC 6890 and its successors),
  https://www.iana.org/assignments/iana-ipv4-special-registry/ ;
- IANA IPv6 Special-Purpose Address Registry, same source, iana-ipv6-special-registry/ ;
- IANA IPv6 Address Space (only 2000::/3 is global unicast) and IPv4 multicast (RFC 5771);
- the cloud providers' documented metadata endpoints.

A range whose row says "globally reachable" has kind None. The most specific range that
contains an address decides (so 192.0.0.9 is public inside the non-public 192.0.0.0/24).
Forms that carry an IPv4 address (IPv4-mapped, NAT64, 6to4, Teredo) are judged by it.
"""
import ipaddress

PRIVATE = "a private address"
LOOPBACK = "a loopback address"
LINK_LOCAL = "a link-local address"
UNSPECIFIED = "an unspecified address"
MULTICAST = "a multicast address"
RESERVED = "a reserved address"
DOCUMENTATION = "a documentation address"
BENCHMARKING = "a benchmarking address"
PROTOCOL = "an IETF protocol address"
METADATA = "a cloud metadata address"

_RANGES = (
    # IPv4 special-purpose registry
    ("0.0.0.0/8", "a 'this network' address"),          # RFC 791
    ("0.0.0.0/32", UNSPECIFIED),                         # RFC 1122 "this host"
    ("10.0.0.0/8", PRIVATE),                             # RFC 1918
    ("100.64.0.0/10", "a shared (CGNAT) address"),       # RFC 6598
    ("127.0.0.0/8", LOOPBACK),                           # RFC 1122
    ("169.254.0.0/16", LINK_LOCAL),                      # RFC 3927
    ("172.16.0.0/12", PRIVATE),                          # RFC 1918
    ("192.0.0.0/24", PROTOCOL),                          # RFC 6890 (incl. /29, .8, .170, .171)
    ("192.0.0.9/32", None),                              # RFC 7723 PCP anycast
    ("192.0.0.10/32", None),                             # RFC 8155 TURN anycast
    ("192.0.2.0/24", DOCUMENTATION),                     # RFC 5737 TEST-NET-1
    ("192.88.99.0/24", "a deprecated relay address"),    # RFC 7526: 6to4 relay anycast, gone
    ("192.168.0.0/16", PRIVATE),                         # RFC 1918
    ("198.18.0.0/15", BENCHMARKING),                     # RFC 2544
    ("198.51.100.0/24", DOCUMENTATION),                  # RFC 5737 TEST-NET-2
    ("203.0.113.0/24", DOCUMENTATION),                   # RFC 5737 TEST-NET-3
    ("224.0.0.0/4", MULTICAST),                          # RFC 5771
    ("240.0.0.0/4", RESERVED),                           # RFC 1112
    ("255.255.255.255/32", "a broadcast address"),       # RFC 919
    # (192.31.196.0/24, 192.52.193.0/24, 192.175.48.0/24 are globally reachable: no row.)

    # IPv6: everything outside 2000::/3 is unassigned or special unless a row says otherwise
    ("::/0", RESERVED),                                  # IANA IPv6 Address Space
    ("2000::/3", None),                                  # global unicast
    ("::/128", UNSPECIFIED),                             # RFC 4291
    ("::1/128", LOOPBACK),                               # RFC 4291
    ("64:ff9b:1::/48", "a local-use translation address"),  # RFC 8215
    ("100::/64", "a discard-only address"),              # RFC 6666
    ("100:0:0:1::/64", RESERVED),                        # RFC 9780 dummy prefix
    ("2001::/23", PROTOCOL),                             # RFC 2928
    ("2001:1::1/128", None),                             # RFC 7723 PCP anycast
    ("2001:1::2/128", None),                             # RFC 8155 TURN anycast
    ("2001:1::3/128", None),                             # RFC 9665 DNS-SD SRP anycast
    ("2001:2::/48", BENCHMARKING),                       # RFC 5180
    ("2001:3::/32", None),                               # RFC 7450 AMT
    ("2001:4:112::/48", None),                           # RFC 7535 AS112-v6
    ("2001:20::/28", None),                              # RFC 7343 ORCHIDv2
    ("2001:30::/28", None),                              # RFC 9374 Drone Remote ID
    ("2001:db8::/32", DOCUMENTATION),                    # RFC 3849
    ("3fff::/20", DOCUMENTATION),                        # RFC 9637
    ("5f00::/16", "an SRv6 address"),                    # RFC 9602
    ("fc00::/7", PRIVATE),                               # RFC 4193 unique-local
    ("fe80::/10", LINK_LOCAL),                           # RFC 4291
    ("fec0::/10", RESERVED),                             # RFC 3879 deprecated site-local
    ("ff00::/8", MULTICAST),                             # RFC 4291
    # (::ffff:0:0/96, 64:ff9b::/96, 2001::/32 and 2002::/16 carry an IPv4 address: below.)

    # Cloud metadata endpoints, wherever they sit
    ("169.254.169.254/32", METADATA),  # AWS, GCP, Azure, DigitalOcean, OpenStack ...
    ("169.254.170.2/32", METADATA),    # AWS ECS task metadata
    ("169.254.170.23/32", METADATA),   # AWS EKS pod identity agent
    ("fd00:ec2::254/128", METADATA),   # AWS IMDS over IPv6
    ("fd00:ec2::23/128", METADATA),    # AWS EKS pod identity agent over IPv6
    ("100.100.100.200/32", METADATA),  # Alibaba Cloud
    ("168.63.129.16/32", METADATA),    # Azure WireServer: a public-looking platform address
    ("192.0.0.192/32", METADATA),      # Oracle Cloud
)
# Most specific first, so the first range that contains an address is the one that decides.
TABLE = tuple(sorted(((ipaddress.ip_network(net), kind) for net, kind in _RANGES),
                     key=lambda row: -row[0].prefixlen))
NAT64 = ipaddress.ip_network("64:ff9b::/96")   # RFC 6052: the last 32 bits are IPv4
TEREDO = ipaddress.ip_network("2001::/32")      # RFC 4380: server and (obscured) client


def carried_ipv4(ip):
    """The IPv4 addresses an IPv6 address leads to (mapped, NAT64, 6to4, Teredo), or ()."""
    if ip.version != 6:
        return ()
    if ip.ipv4_mapped is not None:
        return (ip.ipv4_mapped,)
    if ip in NAT64:
        return (ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF),)
    if ip.sixtofour is not None:
        return (ip.sixtofour,)
    if ip in TEREDO:
        server, client = ip.teredo
        return (client, server)
    return ()


def address_text(ip):
    """ip as the URL Standard and Chromium write it: for IPv6, hex pieces with the first
    longest run of two or more zero pieces as '::' (Python 3.13's str() writes IPv4-mapped
    addresses dotted instead, ::ffff:127.0.0.1, which Chromium never shows)."""
    if ip.version == 4:
        return str(ip)
    pieces = [(int(ip) >> (112 - 16 * i)) & 0xFFFF for i in range(8)]
    start, length, i = None, 1, 0
    while i < 8:
        end = i
        while end < 8 and pieces[end] == 0:
            end += 1
        if end - i > length:
            start, length = i, end - i
        i = max(end, i + 1)
    text = [f"{piece:x}" for piece in pieces]
    if start is None:
        return ":".join(text)
    return ":".join(text[:start]) + "::" + ":".join(text[start + length:])


def kind_of(ip):
    """What kind of non-public address ip is ('a private address'), or None if it is public."""
    return next((kind for network, kind in TABLE
                 if network.version == ip.version and ip in network), None)
