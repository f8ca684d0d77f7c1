"""What one exchange round with the master does: how many results go out, how many tasks are
asked for, how long the master may wait for them and how long the worker waits after. Pure:
the numbers in, a Round out; the Session makes the call."""

from __future__ import annotations

from typing import NamedTuple

RESULT_BATCH = 200  # the most results one call delivers
RESULT_HOLD = 0.05  # the longest a result waits here to go out with others
IDLE_WAIT = 0.25
POLL_WAIT = 0.02


class Round(NamedTuple):
    batch: int  # results to deliver now, from the front of the outbox
    want: int  # tasks to lease
    wait: float  # how long the master may hold the call for tasks
    idle: int  # download slots free now: tasks of hosts with a delay go to these only
    backlog: int  # results left for the next round
    pause: float  # with nothing to send: how long to wait for a download to finish

    @property
    def call(self) -> bool:
        """Whether the round calls the master at all."""
        return bool(self.want or self.batch)

    def pause_after(self, leased: int) -> float:
        """How long to wait after the call, which leased `leased` tasks: none while results
        are left or the call waited already or the lease was full; else the master has none
        that a host's limit lets go now, and asking again at once would come back empty: our
        next result (which frees a slot) or a short look later (other workers' results free
        slots too) will do."""
        if self.backlog or self.wait or (self.want and leased >= self.want):
            return 0.0
        return POLL_WAIT


def plan_round(outbox: int, held: float, inflight: int, queued: int, limit: int) -> Round:
    """`outbox` results wait here, the oldest for `held` seconds; `inflight` downloads run and
    `queued` leased tasks wait for a thread; `limit` downloads may run at once (at most
    --threads). The worker leases for two rounds of downloads."""
    batch = min(outbox, RESULT_BATCH)
    backlog = outbox - batch
    held = held if batch else 0.0
    busy = inflight + queued
    want = max(0, 2 * limit - busy)
    pause = IDLE_WAIT
    if backlog == 0 and held < RESULT_HOLD and queued >= max(1, limit // 2):
        # Enough leased tasks wait here to keep the downloads going: let results gather
        # (for RESULT_HOLD at most, as each one frees a slot of its host at the master) and
        # deliver them together, in one call instead of one call each.
        want, pause = 0, (RESULT_HOLD - held if batch else IDLE_WAIT)
        batch = 0
    idle = max(0, limit - busy)
    # Wait on the master only when nothing is running here: a download about to finish
    # must not sit in the outbox while we wait for tasks (its result may be what frees
    # the host's limit for the next task).
    wait = IDLE_WAIT if busy == 0 and want and not backlog else 0.0
    return Round(batch, want, wait, idle, backlog, pause)
