"""The board's parts alone: pending tasks per host, leases, the roster of workers."""

import pytest

from crawler.master.board.leases import Lease, Leases
from crawler.master.board.pending import HostQueues
from crawler.master.board.roster import WorkerRoster
from crawler.master.board.task import Task


def task(i, host="a"):
    return Task(i, f"http://{host}/{i}.jpg", None)


def test_host_queues_take_each_hosts_tasks_in_order_and_forget_an_emptied_host():
    q = HostQueues()
    for t in (task(1, "a"), task(2, "b"), task(3, "a")):
        q.add(t, False)
    q.add(task(4, "a"), True)  # a retry goes first for its host
    assert q.hosts() == ["a", "b"] and q.pending == 4 and q.waiting("a") == 3
    assert [q.take("a").id, q.take("a").id] == [4, 1]
    assert q.take("b").id == 2 and q.hosts() == ["a"] and q.waiting("a") == 1
    assert q.take("a").id == 3 and q.hosts() == [] and not q and q.pending == 0


def test_a_cancelled_task_is_skipped_when_its_turn_comes_and_counted_out_at_once():
    q = HostQueues()
    for i in (1, 2):
        q.add(task(i), False)
    assert q.cancel(task(1)) is True and q.pending == 1
    assert q.cancel(task(1)) is False and q.cancel(task(9)) is False and q.cancel(task(3, "z")) is False
    assert q.pending == 1 and q.take("a").id == 2 and q.pending == 0 and not q


def test_host_queue_sizes_list_the_longest_first_up_to_top():
    q = HostQueues()
    for i, host in enumerate("abbccc"):
        q.add(task(i, host), False)
    assert q.sizes(2) == {"c": 3, "b": 2} and list(q.sizes(10)) == ["c", "b", "a"]


def test_a_lease_is_granted_and_answered_by_its_holder_only():
    leases = Leases()
    leases.grant(task(1), 10.0, "w1", "a")
    assert leases.answer(1, "w2") is None and len(leases) == 1
    assert leases.answer(1, "w1") == Lease(task(1), 10.0, "w1", "a") and len(leases) == 0
    assert leases.answer(1, "w1") is None  # a duplicate ends nothing more
    assert leases.forget_answered(1) is True and leases.forget_answered(1) is False


@pytest.mark.parametrize("task_id", [True, "1", None, 1.0, [1]])
def test_an_answer_whose_id_is_no_int_ends_no_lease(task_id):
    leases = Leases()
    leases.grant(task(1), 10.0, "w1", "a")
    assert leases.answer(task_id, "w1") is None and leases.release("w1", [task_id]) == [] and len(leases) == 1


def test_a_refused_answer_reopens_its_task_once():
    leases = Leases()
    leases.grant(task(1), 10.0, "w1", "a")
    leases.answer(1, "w1")
    assert leases.reopen(1) == task(1) and leases.reopen(1) is None and leases.forget_answered(1) is False


def test_leases_expire_in_deadline_order_up_to_now():
    leases = Leases()
    for i, deadline in ((1, 10.0), (2, 11.0), (3, 12.0)):
        leases.grant(task(i), deadline, f"w{i}", "a")
    assert leases.expired(9.0) == []
    assert [(lease.task.id, lease.worker) for lease in leases.expired(11.0)] == [(1, "w1"), (2, "w2")]
    assert len(leases) == 1 and leases.end(3).host == "a" and leases.end(3) is None


def test_a_worker_releases_only_its_own_leases():
    leases = Leases()
    leases.grant(task(1), 10.0, "w1", "a")
    leases.grant(task(2), 10.0, "w2", "b")
    assert leases.release("w1", "not a list") == []
    assert [lease.task.id for lease in leases.release("w1", (1, 2, 7))] == [1] and len(leases) == 1


def test_the_roster_keeps_faults_until_the_worker_asks_again():
    roster = WorkerRoster()
    roster.asking("w1", 5.0)
    roster.stopped("w2", "disk full", 6.0)
    roster.told_to_stop("w3")
    assert roster.faults() == {"w2": "disk full"} and roster.done() == {"w2", "w3"}
    assert roster.take_faults() == [("w2", "disk full")] and roster.take_faults() == []
    roster.asking("w2", 7.0)  # restarted under its name
    assert roster.faults() == {} and roster.done() == {"w3"} and roster.workers == {"w1": 5.0, "w2": 7.0}


def test_the_roster_keeps_the_last_hundred_new_faults_and_no_anonymous_age():
    roster = WorkerRoster()
    for i in range(150):
        roster.stopped(f"w{i}", "x", 1.0)
    assert [w for w, _ in roster.take_faults()] == [f"w{i}" for i in range(50, 150)]
    roster.seen("anonymous", 1.0)
    roster.seen("w1", 2.0)
    assert roster.ages(4.25)["w1"] == 2.2 and "anonymous" not in roster.ages(4.25)


@pytest.mark.parametrize("notes, host, asker, now, reserved", [
    ([], "a", "w1", 0.0, 0),                                      # nobody waits
    ([("w2", 3, ["a"], 0.0)], "a", "w1", 0.5, 3),                 # w2's 3 free threads wait for a
    ([("w2", 3, ["a"], 0.0)], "a", "w2", 0.5, 0),                 # a worker's own wait holds nothing back
    ([("w2", 3, ["a"], 0.0)], "b", "w1", 0.5, 0),                 # nor another host's prefetch
    ([("w2", 3, ["a"], 0.0)], "a", "w1", 1.0, 0),                 # a wait not renewed for HOLD s is over
    ([("w2", 3, ["a", "b"], 0.0), ("w3", 2, ["a"], 0.1)], "a", "w1", 0.5, 5),
    ([("w2", 3, ["a"], 0.0), ("w2", 0, ["a"], 0.2)], "a", "w1", 0.5, 0),   # w2's next ask got all it had room for
    ([("w2", 3, ["a"], 0.0), ("w2", 2, [], 0.2)], "a", "w1", 0.5, 0),      # short only of tasks: no host to wait for
    ([("w2", 3, ["a"], 0.0), ("w2", 1, ["a"], 0.9)], "a", "w1", 1.5, 1),   # renewed: counts from its last ask
])
def test_waiting_workers_reserve_a_hosts_slots_from_other_workers_prefetch(notes, host, asker, now, reserved):
    from crawler.master.board.waiting import HOLD, WaitingWorkers
    assert HOLD == 1.0  # the times above
    w = WaitingWorkers()
    for worker, short, hosts, at in notes:
        w.note(worker, short, hosts, at)
    assert w.others(host, asker, now) == reserved


def test_a_worker_that_asks_no_more_stops_waiting_and_an_expired_wait_is_dropped():
    from crawler.master.board.waiting import WaitingWorkers
    w = WaitingWorkers()
    w.note("w2", 3, ["a"], 0.0)
    w.forget("w2")
    assert not w and w.others("a", "w1", 0.0) == 0
    w.note("w2", 3, ["a"], 0.0)
    w.note("w3", 0, [], 5.0)  # any note drops the waits past their time
    assert not w


@pytest.mark.parametrize("in_flight, reserved, per_host, room", [
    (0, 0, 8, True), (7, 0, 8, True), (8, 0, 8, False), (4, 3, 8, True), (4, 4, 8, False), (0, 9, 8, False),
])
def test_a_hosts_room_beyond_the_slots_others_wait_for_and_whether_it_is_full(in_flight, reserved, per_host, room):
    from crawler.rules.politeness import HostGate
    gate = HostGate(per_host=per_host, delay=0.0, clock=lambda: 0.0)
    for _ in range(in_flight):
        gate.start("a")
    assert gate.room_beyond("a", reserved) is room
    assert gate.full("a") is (in_flight >= per_host) and not gate.full("b")


@pytest.mark.parametrize("waits, idle, n, got", [
    ({}, 2, 6, ["a", "b", "a", "b", "a", "b"]),                 # one worker: prefetch on every host, in turn
    ({"a": 3}, 2, 6, ["a", "b", "b", "b", "b"]),               # a's slots wait for w2: its free thread only
    ({"a": 1}, 2, 6, ["a", "b", "a", "b", "b", "b"]),          # one slot of a is left beyond w2's wait
    ({"a": 3}, 0, 6, ["b", "b", "b", "b"]),                    # no thread free: no task of a at all
])
def test_take_tasks_holds_back_prefetch_only_on_the_hosts_other_workers_wait_for(waits, idle, n, got):
    from crawler.master.board.handout import take_tasks
    from crawler.master.board.waiting import WaitingWorkers
    from crawler.rules.politeness import HostGate
    q = HostQueues()
    for i in range(1, 5):
        q.add(task(i, "a"), False)
        q.add(task(10 + i, "b"), False)
    gate = HostGate(per_host=4, delay=0.0, clock=lambda: 0.0)
    gate.start("a")  # a has 1 of its 4 slots taken already
    waiting = WaitingWorkers()
    for host, slots in waits.items():
        waiting.note("w2", slots, [host], 0.0)
    hosts = [h for h, _ in take_tasks(q, gate, waiting, "w1", n, idle, 0.0)]
    assert hosts == got
