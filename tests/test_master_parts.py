"""The master's parts alone (crawler/master/): what each decides, with a real journal and
manifest on disk and a real TaskBoard, no server and no network."""

import json
from collections import Counter

import pytest

from crawler.config import CrawlConfig
from crawler.master.board import Task, TaskBoard
from crawler.master.frontier import Frontier
from crawler.master.ledger import Ledger
from crawler.master.pagejobs import RobotsOutcome
from crawler.master.record import CrawlRecord
from crawler.master.robotsdesk import RobotsDesk
from crawler.master.stats import Summary
from crawler.rules.messages import make_result, make_task
from crawler.rules.urls import Scope
from crawler.store import manifest

SITE = "http://site.example"

# (manifest lines of an earlier run, refreshing) -> (images_ok, bytes, images_failed, changes)
COUNTED = [
    ([], False, (0, 0, {}, {})),
    ([{"ok": True, "bytes": 10}, {"ok": True, "bytes": None}], False, (2, 10, {}, {})),
    ([{"ok": False, "reason": "http-status"}, {"ok": False, "reason": None}], False,
     (0, 0, {"http-status": 1, "error": 1}, {})),
    # a refresh counts each line's change; a plain resume has none to count
    ([{"ok": True, "bytes": 5, "change": "unchanged"}, {"ok": False, "reason": "http-status", "change": "gone"},
      {"ok": True, "bytes": 1, "change": "no such change"}], True,
     (2, 6, {"http-status": 1}, {"unchanged": 1, "gone": 1})),
    ([{"ok": True, "bytes": 5, "change": "unchanged"}], False, (1, 5, {}, {})),
]


@pytest.mark.parametrize("lines, refreshing, expected", COUNTED)
def test_summary_counts_an_earlier_runs_manifest_lines(lines, refreshing, expected):
    s = Summary()
    for rec in lines:
        s.count_line(rec, refreshing=refreshing)
    assert (s.images_ok, s.bytes, dict(s.images_failed), dict(s.changes)) == expected


def test_summary_lines_name_the_reasons_most_common_first():
    s = Summary(pages_ok=3, pages_failed=Counter({"http-status": 1}), pages_skipped=Counter({"robots": 2}),
                images_ok=4, images_failed=Counter({"timeout": 1, "too-big": 2}), bytes=2_000_000, seconds=2.0)
    assert s.lines() == ["pages: 3 fetched, 1 failed (http-status 1), 2 skipped (robots 2)",
                         "images: 4 ok, 3 failed (too-big 2, timeout 1)",
                         "bytes: 2,000,000 (2.0 MB) in 2.0 s, 2.0 images/s, 1.0 MB/s"]


@pytest.fixture
def record(tmp_path):
    def make(**limits) -> CrawlRecord:
        cfg = CrawlConfig(seeds=(SITE + "/",), out=tmp_path / "out", **limits)
        rec = CrawlRecord(cfg, Summary())
        assert rec.open() == []  # a new crawl: nothing widened, not finished
        rec.start_writing()
        return rec
    return make


def test_frontier_takes_each_page_once_within_the_limits_and_keeps_the_rest(record):
    rec = record(max_pages=4, max_pages_per_host=2)
    frontier = Frontier(rec.cfg, Scope(seed_hosts=frozenset({"site.example"}), exclude=("/private/",)), rec)
    frontier.add(SITE + "/private/", 0, seed=True)  # a seed outside the scope rules is fetched anyway
    frontier.add(SITE + "/private/a", 1)  # a link outside them is not
    frontier.add(SITE + "/b", 1)
    frontier.add(SITE + "/b", 1)
    frontier.add(SITE + "/c", 1)  # past --max-pages-per-host 2
    frontier.add("http://other.example/", 1)  # out of scope
    assert len(frontier) == 2 and frontier.seen == {SITE + "/private/", SITE + "/b"}
    assert frontier.take_sitemap() and frontier.take_sitemap()  # sitemaps count against --max-pages 4
    assert not frontier.take_sitemap()
    frontier.drop(SITE + "/b", 2)  # seen: nothing to keep
    frontier.drop(SITE + "/deep", 2)
    rec.journal.commit()
    assert sorted(rec.journal.dropped_pages()) == [("http://other.example/", 1), (SITE + "/c", 1),
                                                  (SITE + "/deep", 2), (SITE + "/private/a", 1)]


def _result(task: Task, ok: bool = False, **kw) -> dict:
    return make_result(make_task(task.id, task.url, task.page, max_bytes=1000, timeout=5.0), ok=ok, worker="w1",
                       elapsed=0.1, **kw)


def test_ledger_records_a_tasks_answer_once_and_refuses_what_does_not_match(record):
    rec = record(max_attempts=2)
    board = TaskBoard(60.0)
    ledger = Ledger(rec.cfg, rec, board, rec.summary)

    def deliver(item: dict) -> None:  # as the inbox does: the board sees it arrive, then the master
        board.arrived([item])
        ledger.on_result(item)

    task = ledger.new_task(SITE + "/a.jpg", SITE + "/", "img")
    assert task == Task(1, SITE + "/a.jpg", SITE + "/", 1, "img")
    assert ledger.new_task(SITE + "/a.jpg", SITE + "/x", "srcset") is None  # one task per URL
    other = ledger.new_task(SITE + "/b.jpg", SITE + "/", "img")
    assert task is not None and other is not None
    board.add(task)
    board.add(other)
    assert len(board.get_many("w1", 2)) == 2
    deliver({**_result(task), "url": SITE + "/wrong.jpg"})  # refused: handed out again
    assert board.counts() == (1, 1)
    assert len(board.get_many("w1", 1)) == 1
    unsafe = _result(task, ok=True, path="site.example/../../etc", nbytes=3, sha256="ab" * 32)
    deliver(unsafe)  # refused too
    assert board.counts() == (1, 1) and set(ledger.outstanding) == {1, 2}
    assert len(board.get_many("w1", 1)) == 1
    stored = _result(task, ok=True, path="site.example/a.jpg", nbytes=3, status=200, sha256="ab" * 32)
    deliver(stored)
    deliver(stored)  # a late second: ignored
    assert board.counts() == (0, 1)
    ledger.on_expired([(other, "w1")])  # its first lease: out again
    assert ledger.outstanding[2].attempt == 2 and board.counts() == (1, 1)
    ledger.on_expired([(ledger.outstanding[2], "w1")])  # --max-attempts 2: failed
    assert not ledger.outstanding and rec.summary.images_ok == 1 and rec.summary.bytes == 3
    assert dict(rec.summary.images_failed) == {"lease-expired": 1}
    rec.manifest.close()
    lines = list(manifest.read(rec.manifest_path))
    assert [(r["url"], r["ok"], r["reason"]) for r in lines] == [
        (SITE + "/a.jpg", True, None), (SITE + "/b.jpg", False, "lease-expired")], json.dumps(lines)


def test_robots_desk_parks_images_until_robots_txt_is_known_then_admits_or_refuses_them(record):
    rec = record()
    board = TaskBoard(60.0)
    desk = RobotsDesk(rec.cfg, board, rec, rec.summary)
    allowed, denied = Task(1, SITE + "/a.jpg", None), Task(2, SITE + "/private/b.jpg", None)
    assert desk.admit(allowed) is None and desk.admit(denied) is None  # parked: robots.txt not known
    assert desk.parked() == 2 and board.counts() == (0, 0)
    host = "site.example"
    # a 503: the origin waits and robots.txt is tried again later; the tasks stay parked
    assert desk.fetched(RobotsOutcome(SITE, host, 503, error="HTTP 503")) is None and desk.parked() == 2
    body = b"User-agent: *\nDisallow: /private/\n"
    released = desk.fetched(RobotsOutcome(SITE, host, 200, body))
    assert released == [allowed, denied] and desk.parked() == 0
    assert desk.admit(allowed) is None and board.counts() == (1, 0)
    assert desk.admit(denied) == ("robots.txt disallows it", "robots")
    desk.skip_page(SITE + "/private/", 1)
    assert dict(rec.summary.pages_skipped) == {"robots": 1}
