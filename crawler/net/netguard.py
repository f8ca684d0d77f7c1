"""The SSRF guard: which addresses the crawl may connect to, checked at connect time.

A page written by a stranger can point the crawler (and its redirects can bounce it) at
loopback, the private network, or a cloud metadata address. So every connection, for every
request and every redirect hop, resolves the host itself and refuses addresses that are not
globally routable, unless the host is one of the seeds' own hosts or `--allow-private` is
given. The socket is then opened to the address that was checked, so a DNS answer that
changes between check and connect (rebinding) cannot get around it.

Through a proxy the socket goes to the proxy, which resolves the target itself: the crawler
never sees the target's address, and the proxy is the boundary. An address written in the
URL itself (`http://169.254.169.254/`) is still refused then (`check_literal`).
"""

from __future__ import annotations

import ipaddress
import socket
from dataclasses import dataclass

from ..errors import FetchError


class BlockedAddressError(FetchError):
    """The host resolves only to addresses the crawl must not reach."""

    reason = "blocked-address"


@dataclass(frozen=True)
class NetPolicy:
    trusted_hosts: frozenset[str] = frozenset()
    allow_private: bool = False

    def addresses(self, host: str, port: int) -> list[str]:
        """The addresses to connect to for host, or BlockedAddressError; socket.gaierror if unknown."""
        host = host.strip("[]").lower()
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
        ips = list(dict.fromkeys(str(info[4][0]) for info in infos))
        if self.allow_private or host in self.trusted_hosts:
            return ips
        allowed = [ip for ip in ips if is_public(ip)]
        if not allowed:
            raise BlockedAddressError(
                f"{host} resolves to {ips[0]}, a {describe(ips[0])} address; not fetched "
                f"(only the seeds' own hosts may be private; --allow-private lifts this)")
        return allowed


    def check_literal(self, host: str) -> None:
        """Refuse a host that is itself an address the crawl must not reach (BlockedAddressError);
        a name passes. For requests through a proxy, where no resolving happens here."""
        host = host.strip("[]").lower()
        if self.allow_private or host in self.trusted_hosts:
            return
        try:
            ipaddress.ip_address(host.split("%")[0])
        except ValueError:
            return  # a name: the proxy resolves it
        if not is_public(host):
            raise BlockedAddressError(f"{host} is a {describe(host)} address; not fetched, not even through "
                                      f"the proxy (--allow-private lifts this)")


DEFAULT_POLICY = NetPolicy()
"""Public addresses only, no host trusted: the default of every client (a frozen value, shared)."""


def is_public(ip: str) -> bool:
    addr = ipaddress.ip_address(ip.split("%")[0])
    if isinstance(addr, ipaddress.IPv6Address) and addr.ipv4_mapped:
        addr = addr.ipv4_mapped
    return addr.is_global and not addr.is_multicast


def describe(ip: str) -> str:
    addr = ipaddress.ip_address(ip.split("%")[0])
    for name in ("loopback", "link_local", "private", "multicast", "reserved", "unspecified"):
        if getattr(addr, f"is_{name}"):
            return name.replace("_", "-")
    return "non-public"


def connect(policy: NetPolicy, host: str, port: int, timeout: float | None) -> socket.socket:
    """A TCP connection to host:port through the guard: resolved here, checked, and opened to
    an address that was checked (each allowed address in turn until one answers).

    Raises BlockedAddressError, socket.gaierror, or the last address's OSError.
    """
    last: OSError | None = None
    for ip in policy.addresses(host, port):
        family = socket.AF_INET6 if ":" in ip else socket.AF_INET
        sock = socket.socket(family, socket.SOCK_STREAM)
        try:
            sock.settimeout(timeout)
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            sock.connect((ip, port))
            return sock
        except OSError as exc:
            sock.close()
            last = exc
    raise last if last is not None else OSError(f"{host} has no address")
