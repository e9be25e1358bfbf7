"""Machines of their own on this one, for the tests: each host is a network namespace with its
own address on a private bridge, and the processes started in it have its name as their
host name (a UTS namespace). This machine is the main host, at the bridge's address. Made
with iproute2 and util-linux's unshare; why_not() says when that cannot be done here."""
import ipaddress
import os
import secrets
import shutil
import signal
import subprocess
import time

TOOLS = (("ip", "iproute2"), ("unshare", "util-linux"), ("hostname", "hostname"))


def why_not():
    """Why hosts cannot be made on this machine, or None when they can."""
    if os.geteuid() != 0:
        return "network namespaces need root (run the tests as root)"
    for tool, package in TOOLS:
        if shutil.which(tool) is None:
            return f"`{tool}` is missing (Debian's package: {package})"
    # Root in a container may still be refused namespaces or links: try both.
    probe = f"sfprobe{secrets.token_hex(3)}"
    for command in (["unshare", "--net", "--uts", "true"],
                    ["ip", "link", "add", probe, "type", "bridge"]):
        tried = subprocess.run(command, capture_output=True, text=True)
        if tried.returncode != 0:
            return f"`{' '.join(command)}` is refused here: {tried.stderr.strip()}"
    subprocess.run(["ip", "link", "del", probe], capture_output=True)
    return None


def _ip(*args):
    done = subprocess.run(["ip", *args], capture_output=True, text=True)
    if done.returncode != 0:
        raise RuntimeError(f"ip {' '.join(args)}: {done.stderr.strip()}")
    return done.stdout


def _free_subnet():
    """A /24 of 10.0.0.0/8 that no interface here uses."""
    taken = [ipaddress.ip_interface(line.split()[3]).network
             for line in _ip("-4", "-o", "addr", "show").splitlines()]
    while True:
        subnet = ipaddress.ip_network(f"10.{secrets.randbelow(200) + 50}."
                                      f"{secrets.randbelow(256)}.0/24")
        if not any(subnet.overlaps(network) for network in taken):
            return subnet


class Network:
    """A bridge on this machine, at .gateway, with count hosts on it (.hosts). remove()
    takes it all away, hosts and their processes included."""

    def __init__(self, count):
        token = secrets.token_hex(3)
        subnet = _free_subnet()
        self.bridge = f"sfbr{token}"  # interface names have 15 characters at most
        self.gateway = str(subnet.network_address + 1)
        self.hosts = []
        _ip("link", "add", self.bridge, "type", "bridge")
        try:
            _ip("addr", "add", f"{self.gateway}/{subnet.prefixlen}", "dev", self.bridge)
            _ip("link", "set", self.bridge, "up")
            for n in range(1, count + 1):
                self.hosts.append(Host(f"shootflow-{token}-{n}", f"sfv{token}{n}", self.bridge,
                                       f"{subnet.network_address + 10 + n}/{subnet.prefixlen}",
                                       self.gateway))
        except BaseException:
            self.remove()
            raise

    def remove(self):
        for host in self.hosts:
            host.remove()
        subprocess.run(["ip", "link", "del", self.bridge], capture_output=True)


class Host:
    """One machine: its network namespace is .name, as is its host name; .address."""

    def __init__(self, name, link, bridge, interface, gateway):
        self.name, self.link = name, link
        self.address = str(ipaddress.ip_interface(interface).ip)
        _ip("netns", "add", name)
        try:
            _ip("link", "add", link, "type", "veth", "peer", "name", "eth0", "netns", name)
            _ip("link", "set", link, "master", bridge, "up")
            _ip("-n", name, "addr", "add", interface, "dev", "eth0")
            _ip("-n", name, "link", "set", "eth0", "up")
            _ip("-n", name, "link", "set", "lo", "up")
            _ip("-n", name, "route", "add", "default", "via", gateway)
        except BaseException:
            self.remove()
            raise

    def start(self, command, env, log, cwd):
        """Run the shell command on this host (its own network and host name)."""
        return subprocess.Popen(
            ["ip", "netns", "exec", self.name, "unshare", "--uts", "sh", "-c",
             'hostname "$0" && exec sh -c "$1"', self.name, command],
            cwd=cwd, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)

    def pids(self):
        return [int(pid) for pid in _ip("netns", "pids", self.name).split()]

    def cut(self):
        """The machine drops off the network (its processes run on, reaching nothing)."""
        _ip("link", "set", self.link, "down")

    def reconnect(self):
        _ip("link", "set", self.link, "up")

    def kill(self):
        """The machine dies at once: its link is cut, so nothing it had open is closed
        properly (the broker and the database are left with connections to nowhere), and
        every process on it is killed."""
        subprocess.run(["ip", "link", "set", self.link, "down"], capture_output=True)
        deadline = time.monotonic() + 10
        while pids := self.pids():
            for pid in pids:
                try:
                    os.kill(pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"processes of {self.name} would not die: {pids}")
            time.sleep(0.05)

    def remove(self):
        if subprocess.run(["ip", "netns", "pids", self.name], capture_output=True).returncode:
            return  # never made, or already gone
        self.kill()
        subprocess.run(["ip", "link", "del", self.link], capture_output=True)
        subprocess.run(["ip", "netns", "del", self.name], capture_output=True)
