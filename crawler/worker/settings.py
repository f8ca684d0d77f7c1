"""CrawlSettings: what the master says about every request of the crawl (which private
addresses may be reached; headers, cookies and CA bundle), combined with this worker's own
proxy and trust store. Read again after each reconnect; the download threads pick up a change
by identity (`policy`, `http` are replaced, never changed in place)."""

from __future__ import annotations

import logging
from typing import Any

from ..config import WorkerConfig
from ..net import httpopts, transport
from ..net.netguard import NetPolicy
from .control import why

log = logging.getLogger(__name__)


class CrawlSettings:
    def __init__(self, cfg: WorkerConfig):
        self.cfg = cfg
        # until the master says otherwise, no private address is reachable
        self.policy = NetPolicy()
        # this worker's proxy and trust store; the crawl's headers, cookies and CA bundle
        # come from the master (apply)
        self.http = self._request_options((), [], None)
        self._http_settings: tuple | None = None

    def apply(self, tasks: Any) -> None:
        """Read the crawl's settings from the master's task queue proxy and apply them."""
        try:
            settings = tasks.settings()
        except (OSError, EOFError):
            raise
        except Exception as exc:  # a master that does not know the call, or sent garbage
            log.warning("could not read the crawl's settings (%s); private addresses stay blocked", why(exc))
            return
        if isinstance(settings, dict):
            self._apply_request_settings(settings)
        hosts = settings.get("trusted_hosts") if isinstance(settings, dict) else None
        if not isinstance(hosts, list) or len(hosts) > 10_000 or not all(isinstance(h, str) for h in hosts):
            log.warning("the master sent unusable settings; private addresses stay blocked")
            return
        policy = NetPolicy(frozenset(h.lower() for h in hosts), settings.get("allow_private") is True)
        if policy != self.policy:
            self.policy = policy

    def _apply_request_settings(self, settings: dict) -> None:
        """The crawl's headers, cookies and CA bundle, for every request of this worker. The
        same settings again (after a reconnect) keep the cookie jar, and what sites set in it."""
        try:
            wanted = httpopts.from_wire(settings)
        except ValueError as exc:
            log.warning("the master sent unusable request settings (%s); requests go without its headers, "
                        "cookies and CA bundle", exc)
            wanted = ((), [], None)
        if wanted != self._http_settings:
            self._http_settings = wanted
            self.http = self._request_options(*wanted)
            headers, cookies, _ = wanted
            if headers or cookies:
                log.info("the crawl's requests carry %d header(s) and %d cookie(s)", len(headers), len(cookies))

    def _request_options(self, headers: tuple, cookies: list[dict], ca_pem: str | None) -> transport.Options:
        # Trust: this worker's --ca-bundle, else the crawl's (the master's --ca-bundle, an
        # explicit choice), else REQUESTS_CA_BUNDLE here (often a machine-wide default), else certifi's
        ca_file = self.cfg.ca_bundle or (None if ca_pem else transport.env_ca_bundle())
        return transport.Options(headers=headers, jar=httpopts.fill_jar(transport.new_jar(), cookies),
                                 proxies=transport.Proxies(self.cfg.proxy), ca_file=ca_file, ca_pem=ca_pem)

