import queue
import threading
import time

from crawler.master.board import ResultInbox, Task, TaskBoard
from crawler.rules.messages import is_stop


class Clock:
    def __init__(self):
        self.now = 1000.0

    def __call__(self):
        return self.now


def task(i):
    return Task(i, f"http://h/{i}.jpg", "http://h/")


def test_get_many_leases_in_order_and_respects_n():
    board = TaskBoard(10)
    board.add_many([task(i) for i in range(1, 6)])
    got = board.get_many("w1", 3)
    assert [t["id"] for t in got] == [1, 2, 3]
    assert board.counts() == (2, 3)


def test_worker_requeues_task_after_lease_expiry():
    clock = Clock()
    board = TaskBoard(10, clock=clock)
    board.add(task(1))
    board.get_many("w1", 1)
    assert board.take_expired() == []
    clock.now += 11
    expired = board.take_expired()
    assert [(t.id, w) for t, w in expired] == [(1, "w1")]
    assert board.counts() == (0, 0)


def test_ack_removes_a_lease_and_a_second_ack_finds_nothing():
    board = TaskBoard(10)
    board.add(task(1))
    board.get_many("w1", 1)
    assert board.ack(task(1)) is True
    assert board.ack(task(1)) is False
    assert board.counts() == (0, 0)


def test_ack_also_removes_a_requeued_task_still_pending():
    board = TaskBoard(10)
    board.add_many([task(1), task(2)])
    assert board.ack(task(1)) is False and board.counts() == (1, 0)
    assert [t["id"] for t in board.get_many("w1", 5)] == [2]


def test_tasks_go_out_as_plain_dicts_with_the_crawls_limits():
    board = TaskBoard(10, to_wire=lambda t: {"id": t.id, "url": t.url, "limit": 7})
    board.add(task(3))
    assert board.get_many("w", 1) == [{"id": 3, "url": "http://h/3.jpg", "limit": 7}]


def test_release_puts_tasks_back_at_the_front_only_for_their_holder():
    board = TaskBoard(10)
    board.add_many([task(1), task(2), task(3)])
    board.get_many("w1", 2)
    assert board.release("w2", [1, 2]) == 0
    assert board.release("w1", [1, 2, "x", None]) == 2
    assert [t["id"] for t in board.get_many("w2", 3)] == [1, 2, 3]


def test_finished_board_answers_stop_and_remembers_who_was_told():
    board = TaskBoard(10)
    board.finish_crawl()
    items = board.get_many("w1", 4, 0.5)
    assert len(items) == 1 and is_stop(items[0])
    assert board.workers_told_to_stop() == {"w1"}


def test_classic_get_raises_empty_when_nothing_is_queued():
    board = TaskBoard(10)
    try:
        board.get(timeout=0.01)
    except queue.Empty:
        pass
    else:
        raise AssertionError("expected queue.Empty")
    board.add(task(9))
    assert board.get()["id"] == 9


def test_put_from_a_client_is_dropped():
    board = TaskBoard(10)
    board.put(task(1))
    board.put("garbage")
    assert board.qsize() == 0 and board.dropped == 2


def test_get_many_clamps_hostile_arguments():
    board = TaskBoard(10)
    board.add_many([task(i) for i in range(1, 1001)])
    assert len(board.get_many("w", 10**9, 10**9)) == 500
    assert board.get_many("w", -5, -1) == []


def test_inbox_drains_everything_and_wraps_a_non_list():
    inbox = ResultInbox()
    inbox.put_many([1, 2])
    inbox.put_many("not a list")
    assert inbox.drain() == [1, 2, "not a list"]
    assert inbox.drain(timeout=0.01) == []


def test_a_wake_before_the_master_drains_is_not_lost():
    # a page job that finishes while the master's loop is busy: its next drain must not wait
    inbox = ResultInbox()
    inbox.wake()
    started = time.monotonic()
    assert inbox.drain(timeout=30) == []
    assert time.monotonic() - started < 5
    woken = threading.Timer(0.1, inbox.wake)  # and one while it waits still ends the wait
    woken.start()
    started = time.monotonic()
    assert inbox.drain(timeout=30) == []
    assert time.monotonic() - started < 5
    woken.join()


def test_a_retried_task_goes_to_the_front():
    board = TaskBoard(10)
    board.add_many([task(1), task(2)])
    board.add(task(3), front=True)
    assert [t["id"] for t in board.get_many("w", 3)] == [3, 1, 2]


def test_a_result_frees_its_hosts_slot_on_arrival_and_only_the_leaseholders():
    from crawler.rules.politeness import HostGate
    board = TaskBoard(10, gate=HostGate(per_host=1, delay=0.0))
    inbox = ResultInbox(on_arrival=board.arrived)
    board.add_many([task(1), task(2)])
    first = board.get_many("w1", 2)
    assert [t["id"] for t in first] == [1] and board.get_many("w2", 2) == []
    inbox.put_many([{"id": 1, "worker": "w2"}])  # not the leaseholder: the slot stays taken
    assert board.get_many("w2", 2) == []
    inbox.put_many([{"id": 1, "worker": "w1"}])
    assert [t["id"] for t in board.get_many("w2", 2)] == [2]  # before the master has recorded 1
    assert board.ack(task(1)) is True and board.counts() == (0, 1)


def test_a_refused_result_puts_its_task_back():
    board = TaskBoard(10)
    board.add(task(1))
    board.get_many("w1", 1)
    board.arrived([{"id": 1, "worker": "w1", "path": "../../etc/passwd"}])
    board.reopen(1)
    assert [t["id"] for t in board.get_many("w2", 1)] == [1]


def test_nothing_is_handed_out_once_the_crawl_is_stopping():
    board = TaskBoard(10)
    board.add_many([task(1), task(2)])
    board.finish_crawl()
    items = board.get_many("w1", 5)
    assert len(items) == 1 and is_stop(items[0]) and board.counts() == (2, 0)


def test_exchange_delivers_first_so_the_freed_slot_goes_to_the_same_call():
    from crawler.rules.politeness import HostGate
    board = TaskBoard(10, gate=HostGate(per_host=1, delay=0.0))
    board.results = inbox = ResultInbox(on_arrival=board.arrived)
    board.add_many([task(1), task(2)])
    assert [t["id"] for t in board.exchange("w1", [], 2)["tasks"]] == [1]
    assert board.exchange("w1", [], 2)["tasks"] == []  # the host's one slot is taken
    reply = board.exchange("w1", [{"id": 1, "worker": "w1"}], 2)
    assert reply["accepted"] is True and [t["id"] for t in reply["tasks"]] == [2]
    assert inbox.drain() == [{"id": 1, "worker": "w1"}]


def test_exchange_says_when_the_inbox_refused_the_results(monkeypatch):
    import crawler.master.board.inbox as board_module
    board = TaskBoard(10)
    board.results = inbox = ResultInbox(on_arrival=board.arrived)
    board.add(task(1))
    leased = board.exchange("w1", [], 1)["tasks"]
    monkeypatch.setattr(board_module, "MAX_INBOX", 0)
    reply = board.exchange("w1", [{"id": 1, "worker": "w1"}], 1)
    assert reply == {"accepted": False, "tasks": []}  # refused: the slot stays taken, the worker keeps it
    assert inbox.drain() == [] and board.counts() == (0, 1) and len(leased) == 1


def two_worker_board(tasks):
    from crawler.rules.politeness import HostGate
    clock = Clock()
    board = TaskBoard(60, clock=clock, gate=HostGate(per_host=8, delay=0.0, clock=clock))
    board.results = ResultInbox(on_arrival=board.arrived)
    board.add_many(tasks)
    return board, clock


def ids(reply):
    return [t["id"] for t in reply["tasks"]]


def test_tasks_leased_ahead_of_a_workers_threads_leave_the_slots_to_another_workers_free_threads():
    board, clock = two_worker_board([task(i) for i in range(1, 41)])
    # w1 (4 threads) asks first: two rounds, 8 tasks, every slot of the host (nobody waits: prefetch kept)
    assert ids(board.exchange("w1", [], 8, 0, idle=4)) == list(range(1, 9))
    assert ids(board.exchange("w2", [], 8, 0, idle=4)) == []  # w2's 4 free threads wait
    # w1's download of 1 ends, a queued task takes its thread: the slot it frees is not taken back
    assert ids(board.exchange("w1", [{"id": 1, "worker": "w1"}], 1, 0, idle=0)) == []
    assert ids(board.exchange("w2", [], 8, 0, idle=4)) == [9]
    # a free thread of w1's own still takes a slot (its result freed it), and no prefetch beyond it
    assert ids(board.exchange("w1", [{"id": 2, "worker": "w1"}], 5, 0, idle=1)) == [10]
    # once w2's threads all have a task it waits no more: prefetch again for whoever asks
    for done in (3, 4, 5):
        board.exchange("w1", [{"id": done, "worker": "w1"}], 0, 0, idle=0)
    assert ids(board.exchange("w2", [], 7, 0, idle=3)) == [11, 12, 13]
    board.exchange("w1", [{"id": 6, "worker": "w1"}], 0, 0, idle=0)
    assert ids(board.exchange("w1", [], 2, 0, idle=0)) == [14]


def test_a_waiting_worker_holds_back_prefetch_only_for_its_hosts_and_only_while_it_asks():
    from crawler.master.board.waiting import HOLD
    board, clock = two_worker_board([task(i) for i in range(1, 21)])
    board.add_many([Task(i, f"http://other/{i}.jpg", None) for i in range(21, 41)])
    board.exchange("w1", [], 16, 0, idle=4)  # 8 of each host
    assert ids(board.exchange("w2", [], 8, 0, idle=4)) == []
    board.arrived([{"id": 1, "worker": "w1"}, {"id": 21, "worker": "w1"}])
    # w2 waits for both hosts' slots
    assert ids(board.exchange("w1", [], 4, 0, idle=0)) == []
    board.add_many([Task(i, f"http://third/{i}.jpg", None) for i in range(41, 45)])
    assert ids(board.exchange("w1", [], 4, 0, idle=0)) == [41, 42, 43, 44]  # nobody waits for this host
    clock.now += HOLD  # w2 asked no more (gone, or busy): its wait is over
    assert len(ids(board.exchange("w1", [], 4, 0, idle=0))) == 2
