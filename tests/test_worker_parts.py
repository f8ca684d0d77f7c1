"""The worker's parts alone: the exchange round's arithmetic (a table), the outbox's counts,
and the reconnect schedule."""

import threading
import time

import pytest

from crawler.worker.outbox import Outbox
from crawler.worker.rounds import IDLE_WAIT, POLL_WAIT, RESULT_BATCH, RESULT_HOLD, Round, plan_round
from crawler.worker.session import FIRST_BACKOFF, MAX_BACKOFF, Reconnect

# (results waiting, oldest's age, in flight, queued here, limit) -> (batch, want, wait, idle, backlog, pause)
ROUNDS = [
    # nothing here at all: lease two rounds of downloads, and let the master wait for them
    ((0, 0.0, 0, 0, 4), (0, 8, IDLE_WAIT, 4, 0, IDLE_WAIT)),
    # downloads running: deliver, lease, but the master must not hold a result back
    ((3, 0.01, 2, 0, 4), (3, 6, 0.0, 2, 0, IDLE_WAIT)),
    # leased tasks still feed the threads: a young result waits to go out with others
    ((1, 0.01, 2, 2, 2), (0, 0, 0.0, 0, 0, RESULT_HOLD - 0.01)),
    ((0, 0.0, 2, 2, 2), (0, 0, 0.0, 0, 0, IDLE_WAIT)),
    # ... but never past RESULT_HOLD
    ((1, RESULT_HOLD, 2, 2, 2), (1, 0, 0.0, 0, 0, IDLE_WAIT)),
    # more than a batch: the rest is a backlog, and the call does not wait for tasks
    ((RESULT_BATCH + 50, 1.0, 0, 0, 4), (RESULT_BATCH, 8, 0.0, 4, 50, IDLE_WAIT)),
    # a backlog is never held, however full the queue
    ((RESULT_BATCH + 1, 0.0, 2, 2, 2), (RESULT_BATCH, 0, 0.0, 0, 1, IDLE_WAIT)),
    # every slot busy and two rounds leased: no call
    ((0, 0.0, 8, 0, 4), (0, 0, 0.0, 0, 0, IDLE_WAIT)),
    # an empty outbox's age means nothing: tasks queued here hold the lease back
    ((0, 99.0, 0, 2, 4), (0, 0, 0.0, 2, 0, IDLE_WAIT)),
    # one download at a time: one queued task is enough to hold results
    ((2, 0.0, 1, 1, 1), (0, 0, 0.0, 0, 0, RESULT_HOLD)),
]


@pytest.mark.parametrize("given, expected", ROUNDS)
def test_plan_round(given, expected):
    assert tuple(plan_round(*given)) == pytest.approx(expected)


@pytest.mark.parametrize("plan, leased, pause", [
    (Round(0, 4, 0.0, 4, 0, IDLE_WAIT), 4, 0.0),  # all asked for came: ask again at once
    (Round(0, 4, 0.0, 4, 0, IDLE_WAIT), 1, POLL_WAIT),  # fewer: the hosts' limits hold the rest
    (Round(3, 0, 0.0, 0, 0, IDLE_WAIT), 0, POLL_WAIT),  # delivered only
    (Round(3, 4, 0.0, 4, 9, IDLE_WAIT), 0, 0.0),  # results left: at once
    (Round(0, 4, IDLE_WAIT, 4, 0, IDLE_WAIT), 0, 0.0),  # the master waited already
])
def test_pause_after_the_call(plan, leased, pause):
    assert plan.pause_after(leased) == pause


def test_outbox_counts_a_result_in_flight_until_handed_in_then_waiting_until_delivered():
    wake = threading.Event()
    box = Outbox(wake)
    box.started()
    box.started()
    assert box.look(10)[1:3] == (2, 0) and not wake.is_set()
    box.hand_in({"id": 1})
    assert wake.is_set()
    time.sleep(0.01)
    box.hand_in({"id": 2})
    batch, inflight, waiting, held = box.look(1)
    assert batch == [{"id": 1}] and (inflight, waiting) == (0, 2) and held >= 0.01
    box.delivered(batch)
    assert box.results == [{"id": 2}] and box.look(1)[3] < 0.01  # the age is the backlog's own


def test_outbox_hands_back_ids_once_and_keeps_those_not_given_back():
    box = Outbox(threading.Event())
    box.started()
    box.hand_back(5, started=True)  # a local fault: it was in flight
    box.hand_back(6)  # not started
    assert box.look(1)[1] == 0
    assert box.take_hand_back() == [5, 6] and box.take_hand_back() == []
    box.keep_hand_back([5, 6])  # the master was lost mid-call
    assert box.take_hand_back() == [5, 6]


def test_reconnect_warns_once_backs_off_and_gives_up_after_the_timeout(monkeypatch):
    monkeypatch.setattr("crawler.worker.session.random.uniform", lambda a, b: 1.0)
    r = Reconnect(timeout=10)
    assert not r.ever_connected and r.first_failure
    assert r.failed(100.0) and r.next_wait() == FIRST_BACKOFF and not r.first_failure
    waits = [r.next_wait() for _ in range(6)]
    assert waits == [0.4, 0.8, 1.6, 3.2, MAX_BACKOFF, MAX_BACKOFF]
    assert r.failed(110.0) and not r.failed(110.5)  # 10 s after the first failure
    r.connected()
    assert r.ever_connected and r.first_failure and r.next_wait() == FIRST_BACKOFF
    r.connected()
    r.lost(200.0)  # the timeout counts from the loss, not from the first failed try
    assert r.failed(209.0) and not r.failed(210.5)
