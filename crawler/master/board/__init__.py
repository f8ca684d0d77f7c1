"""The leased task queue and the result inbox that the master serves to its workers.

TaskBoard (board.py) is the served face, composed of HostQueues (pending.py: tasks waiting,
one queue per host), Leases (leases.py: tasks out with a worker), WorkerRoster (roster.py:
the workers heard from) and WaitingWorkers (waiting.py: whose free threads wait for a full
host's slot, which other workers' prefetch leaves to them); ResultInbox (inbox.py) is where
results arrive; Task (task.py) is a task as the master keeps it; handout.py says which
pending tasks go to a worker that asks.
"""

from .board import MAX_WAIT, TaskBoard
from .inbox import ResultInbox
from .task import Task, default_wire

__all__ = ["MAX_WAIT", "ResultInbox", "Task", "TaskBoard", "default_wire"]
