"""RobotsDesk: robots.txt per origin, as the master acts on it.

It keeps each origin's robots.txt (robots.py), sets a host's Crawl-delay on the board when one
is asked for, decides each image task (handed out, parked until its origin's robots.txt is
known, or kept out with the reason) and records the pages robots.txt keeps the crawl from.
"""

from __future__ import annotations

import logging
from collections import defaultdict

from ..config import MAX_CRAWL_DELAY, CrawlConfig
from ..rules.robots import Robots, origin_of
from .board import Task, TaskBoard
from .pagejobs import RobotsOutcome
from .record import CrawlRecord
from .stats import Summary

log = logging.getLogger("crawler.master")


class RobotsDesk:
    def __init__(self, cfg: CrawlConfig, board: TaskBoard, record: CrawlRecord, summary: Summary):
        self.robots = Robots(cfg.user_agent, ignore=cfg.ignore_robots)
        self.board = board
        self.record = record
        self.summary = summary
        self._parked: defaultdict[str, list[Task]] = defaultdict(list)  # origin -> tasks awaiting robots.txt

    def parked(self) -> int:
        """Image tasks waiting for their origin's robots.txt."""
        return sum(len(t) for t in self._parked.values())

    def fetched(self, outcome: RobotsOutcome) -> list[Task] | None:
        """Take a robots.txt fetch's outcome. Returns the tasks its origin held back, now to be
        admitted, or None while the origin still waits (robots.txt to be tried again later)."""
        delay = self.robots.fetched(outcome.origin, outcome.status, outcome.body, error=outcome.error or "",
                                    unreachable=outcome.unreachable, retry_after=outcome.retry_after)
        if delay:
            delay = min(delay, MAX_CRAWL_DELAY)
            self.board.set_host_delay(outcome.host, delay)
            log.info("%s/robots.txt asks for a Crawl-delay of %g s; honouring it", outcome.origin, delay)
        if outcome.status is None or outcome.status >= 500:
            if outcome.unreachable:
                log.warning("%s is unreachable (%s); its pages and images are recorded as such",
                            outcome.origin, outcome.error)
            elif self.robots.given_up(outcome.origin + "/"):
                log.warning("%s/robots.txt could not be read (%s); giving up on that site",
                            outcome.origin, outcome.error)
            else:
                log.warning("%s/robots.txt could not be read (%s); its pages and images wait and it is "
                            "tried again later", outcome.origin, outcome.error)
                return None
        return self._parked.pop(outcome.origin, [])

    def admit(self, task: Task) -> tuple[str, str] | None:
        """Hand a task out if robots.txt allows it, park it until we know; if robots.txt keeps
        it out, return (error, reason) to record it with."""
        verdict = self.robots.verdict(task.url)
        if verdict is None:
            self._parked[origin_of(task.url)].append(task)
        elif verdict:
            self.board.add(task)
        else:
            failure = self.robots.failure(task.url)
            if failure is None:
                return "robots.txt disallows it", "robots"
            if failure[0] == "unreachable":
                return f"{failure[1]} (at its site's robots.txt)", "unreachable"
            return "robots.txt of its site could not be read", failure[0]
        return None

    def skip_page(self, url: str, depth: int) -> None:
        """A page robots.txt keeps us from: disallowed, or its origin given up."""
        self.record.journal.page_finished(url, depth, ok=False)
        failure = self.robots.failure(url)
        if failure is None:
            self.summary.pages_skipped["robots"] += 1
            log.info("not fetching page %s: robots.txt disallows it", url)
        elif failure[0] == "unreachable":  # fetched, it would have failed the same way
            self.summary.pages_failed["unreachable"] += 1
            log.warning("page %s failed: %s", url, failure[1])
        else:
            self.summary.pages_skipped[failure[0]] += 1
            log.info("not fetching page %s: its robots.txt could not be read", url)
