"""Which network addresses shootflow may fetch from: one rule for submit time and fetch time.

Everything that is not a public unicast address is refused (loopback, private, link-local,
CGNAT, multicast, reserved, unspecified, cloud metadata ...: the table in
shootflow.special_addresses), unless it falls inside a network the deployment allows with
SHOOTFLOW_ALLOWED_NETWORKS. IPv6 forms that carry an IPv4 address (IPv4-mapped, NAT64,
6to4, Teredo) are judged by the IPv4 address they lead to.
No Flask, no Celery: the web app, the capture engine and its proxy all use this module.
"""
import ipaddress
import os
import queue
import socket
import threading
import time
from dataclasses import dataclass

from .special_addresses import address_text, carried_ipv4, kind_of

ENV_VAR = "SHOOTFLOW_ALLOWED_NETWORKS"


def parse_networks(text, name=ENV_VAR):
    """'10.0.0.0/8, fd00::/8' -> tuple of networks; RuntimeError naming the bad entry."""
    networks = []
    for item in (text or "").replace(";", ",").split(","):
        item = item.strip()
        if not item:
            continue
        try:
            networks.append(ipaddress.ip_network(item, strict=True))
        except ValueError as exc:
            raise RuntimeError(
                f"{name} must be comma-separated networks in CIDR form such as "
                f"10.0.0.0/8 or fd00::/8; {item!r} is not one ({exc})") from None
    return tuple(networks)


@dataclass(frozen=True)
class Refusal:
    """An address shootflow will not fetch from, and what kind of address it is."""
    address: str
    kind: str  # "a private address"

    def at_submit(self, resolved=False):
        verb = "resolves to" if resolved else "points to"
        return f"{verb} {self.kind} {self.address}, which shootflow does not capture"

    def at_fetch(self):
        return f"refused: {self.address} is {self.kind}"


class NetPolicy:
    """Decides whether shootflow may connect to an IP address."""

    def __init__(self, allowed_networks=()):
        if isinstance(allowed_networks, str):
            allowed_networks = parse_networks(allowed_networks)
        self.allowed = tuple(ipaddress.ip_network(net) for net in allowed_networks)

    @classmethod
    def from_env(cls, environ=None):
        return cls(parse_networks((environ or os.environ).get(ENV_VAR, "")))

    def _allowed(self, ip):
        return any(ip.version == net.version and ip in net for net in self.allowed)

    def check(self, address):
        """None when address may be fetched from, else a Refusal saying why not."""
        ip = ipaddress.ip_address(address) if isinstance(address, str) else address
        if self._allowed(ip):
            return None
        carried = carried_ipv4(ip)
        if carried:  # judged by the IPv4 addresses it leads to: each allowed or public
            return next((Refusal(f"{address_text(ip)} ({inner})", kind) for inner in carried
                         if not self._allowed(inner) and (kind := kind_of(inner))), None)
        kind = kind_of(ip)
        return Refusal(address_text(ip), kind) if kind else None

    def check_all(self, addresses):
        """The first Refusal among addresses, or None when every one may be fetched from."""
        return next((r for r in map(self.check, addresses) if r is not None), None)

    def __repr__(self):
        return f"NetPolicy(allowed={[str(n) for n in self.allowed]})"


def resolve(host, timeout):
    """The IP addresses host resolves to ([] when it does not); TimeoutError after timeout s."""
    found = resolve_many([host], timeout)
    if host not in found:
        raise TimeoutError(f"resolving {host} took longer than {timeout:g} s")
    return found[host]


def resolve_many(hosts, timeout, workers=8):
    """{host: [addresses]} for the hosts resolved within timeout seconds, [] for no answer.

    Lookups run in at most `workers` daemon threads; a host missing from the result had no
    answer in time (its thread finishes on its own when the system resolver gives up)."""
    hosts = list(dict.fromkeys(hosts))
    pending = queue.SimpleQueue()
    for host in hosts:
        pending.put(host)
    results = {}
    changed = threading.Condition()
    deadline = time.monotonic() + timeout

    def work():
        while time.monotonic() < deadline:
            try:
                host = pending.get_nowait()
            except queue.Empty:
                return
            addresses = _getaddrinfo(host)
            with changed:
                results[host] = addresses
                changed.notify_all()

    for n in range(min(workers, len(hosts))):
        threading.Thread(target=work, name=f"shootflow-resolve-{n}", daemon=True).start()
    with changed:
        changed.wait_for(lambda: len(results) == len(hosts), timeout)
        return dict(results)


def _getaddrinfo(host):
    try:
        infos = socket.getaddrinfo(host, None, type=socket.SOCK_STREAM)
    except (OSError, UnicodeError):
        return []
    addresses = []
    for family, _, _, _, sockaddr in infos:
        if family in (socket.AF_INET, socket.AF_INET6):
            ip = ipaddress.ip_address(sockaddr[0])
            if ip not in addresses:
                addresses.append(ip)
    return addresses
