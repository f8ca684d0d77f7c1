"""The leased task queue and the result inbox that the master serves to its workers.

TaskBoard (board.py) is the served face, composed of HostQueues (pending.py: tasks waiting,
one queue per host), Leases (leases.py: tasks out with a worker) and WorkerRoster (roster.py:
the workers heard from); ResultInbox (inbox.py) is where results arrive; Task (task.py) is a
task as the master keeps it.
"""

from .board import MAX_WAIT, TaskBoard
from .inbox import ResultInbox
from .task import Task, default_wire

__all__ = ["MAX_WAIT", "ResultInbox", "Task", "TaskBoard", "default_wire"]
