"""The SSRF guard: which addresses the crawl may connect to, checked at connect time.

A page written by a stranger can point the crawler (and its redirects can bounce it) at
loopback, the private network, or a cloud metadata address. So every connection, for every
request and every redirect hop, resolves the host itself and refuses addresses that are not
globally routable, unless the host is one of the seeds' own hosts or `--allow-private` is
given. The socket is then opened to the address that was checked, so a DNS answer that
changes between check and connect (rebinding) cannot get around it.
"""

from __future__ import annotations

import ipaddress
import socket
from dataclasses import dataclass

from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool
from urllib3.exceptions import NameResolutionError

from .errors import FetchError


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
        ips = list(dict.fromkeys(info[4][0] for info in infos))
        if self.allow_private or host in self.trusted_hosts:
            return ips
        allowed = [ip for ip in ips if is_public(ip)]
        if not allowed:
            raise BlockedAddressError(
                f"{host} resolves to {ips[0]}, a {describe(ips[0])} address; not fetched "
                f"(only the seeds' own hosts may be private; --allow-private lifts this)")
        return allowed


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


def guarded_pool_classes(policy: NetPolicy) -> dict[str, type]:
    """Connection pool classes for a urllib3 PoolManager whose connections obey policy."""

    def new_conn(self):
        try:
            ips = policy.addresses(self.host, self.port)
        except socket.gaierror as exc:
            raise NameResolutionError(self.host, self, exc) from exc
        self._dns_host = ips[0]  # connect to the address that was checked, not a new lookup
        return self._base_new_conn()

    http_conn = type("GuardedHTTPConnection", (HTTPConnection,),
                     {"_new_conn": new_conn, "_base_new_conn": HTTPConnection._new_conn})
    https_conn = type("GuardedHTTPSConnection", (HTTPSConnection,),
                      {"_new_conn": new_conn, "_base_new_conn": HTTPSConnection._new_conn})
    return {"http": type("GuardedHTTPPool", (HTTPConnectionPool,), {"ConnectionCls": http_conn}),
            "https": type("GuardedHTTPSPool", (HTTPSConnectionPool,), {"ConnectionCls": https_conn})}
