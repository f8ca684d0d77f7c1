"""A distributed image crawler built on multiprocessing.managers.BaseManager."""

__version__ = "0.1.0"
