"""What the master says about its workers: faults, and none left while images wait."""

import logging

from crawler.master.board import Task, TaskBoard
from crawler.master.workerwatch import GONE_SECONDS, WorkerWatch


class Clock:
    now = 1000.0

    def __call__(self):
        return self.now


def test_a_worker_stopped_on_a_fault_is_said_once_and_no_longer_counts(caplog):
    clock = Clock()
    board = TaskBoard(60, clock=clock)
    watch = WorkerWatch(board, clock)
    board.get_many("w1", 1)
    board.get_many("w2", 1)
    assert watch.connected() == 2
    board.stopped("w1", "no space left in /d: 0 bytes free")
    with caplog.at_level(logging.WARNING):
        watch.tick()
        watch.tick()
    said = [r.getMessage() for r in caplog.records]
    assert said == ["worker w1 stopped: no space left in /d: 0 bytes free (its tasks go to the other workers)"]
    assert watch.connected() == 1 and board.status()["stopped_workers"] == {"w1": "no space left in /d: 0 bytes free"}
    board.get_many("w1", 1)  # started again under its name
    assert watch.connected() == 2 and board.faults() == {}


def test_with_images_waiting_and_no_worker_left_the_master_says_so_once_it_lasts(caplog):
    clock = Clock()
    board = TaskBoard(60, clock=clock)
    watch = WorkerWatch(board, clock)
    board.add(Task(1, "http://h/1.jpg", None))
    watch.tick()  # no worker ever came: nothing to say yet (workers may still be starting)
    board.heartbeat("w1")
    board.stopped("w1", "w1's disk is read-only")
    with caplog.at_level(logging.WARNING):
        watch.tick()
        clock.now += GONE_SECONDS + 1
        watch.tick()
        clock.now += 60
        watch.tick()
    left = [r.getMessage() for r in caplog.records if "no worker is left" in r.getMessage()]
    assert left == ["no worker is left for the 1 image(s) that wait (w1: w1's disk is read-only); start a worker, "
                    "or stop with Ctrl-C (the same command resumes)"]
