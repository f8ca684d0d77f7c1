import pickle
import socket
import threading
import time

import pytest

from crawler.errors import ConnectError
from crawler.link import manager
from crawler.link.manager import ForbiddenPickle, MasterLink, SafeConnection, safe_client, safe_loads, serve
from crawler.master.board import ResultInbox, Task, TaskBoard

KEY = b"k" * 32


class Evil:
    """Loading this pickle would create a file: the canonical 'key holder runs code' attack."""

    def __init__(self, path):
        self.path = str(path)

    def __reduce__(self):
        return (open, (self.path, "w"))


@pytest.fixture
def served():
    board, inbox = TaskBoard(30), ResultInbox()
    s = serve(board, inbox, ("127.0.0.1", 0), KEY)
    yield s, board, inbox
    s.stop()


def in_thread(fn):
    """Run fn in a fresh thread (proxies are per thread) and return its result or raise its error."""
    box = {}

    def target():
        try:
            box["value"] = fn()
        except BaseException as exc:  # re-raised below
            box["error"] = exc

    t = threading.Thread(target=target)
    t.start()
    t.join(30)
    if "error" in box:
        raise box["error"]
    return box["value"]


def test_worker_leases_tasks_and_delivers_results_over_tcp(served):
    s, board, inbox = served
    board.add_many([Task(i, f"http://h/{i}.jpg", None) for i in (1, 2, 3)])

    def client():
        link = MasterLink(s.address, KEY)
        link.connect()
        got = link.tasks.get_many("w1", 2, 0.1)
        link.results.put_many([{"kind": "result", "id": t["id"]} for t in got])
        size = link.tasks.qsize()
        link.reset()
        return [t["id"] for t in got], size

    ids, size = in_thread(client)
    assert ids == [1, 2] and size == 1
    assert [r["id"] for r in inbox.drain()] == [1, 2]
    assert board.status()["workers"].keys() == {"w1"}


def test_classic_get_task_queue_interface_still_works(served):
    s, board, _ = served
    board.add(Task(5, "http://h/5.jpg", None))

    def client():
        m = manager.CrawlManager(address=s.address, authkey=KEY, serializer=manager.SERIALIZER)
        m.connect()
        q = m.get_task_queue()
        task = q.get(timeout=1)
        r = m.get_result_queue()
        r.put({"kind": "result", "id": task["id"]})
        return task["id"]

    assert in_thread(client) == 5


def test_wrong_authkey_is_a_clear_connect_error(served):
    s, _, _ = served

    def client():
        MasterLink(s.address, b"w" * 32).connect()

    with pytest.raises(ConnectError, match="refused our authkey"):
        in_thread(client)


def test_client_sockets_set_tcp_nodelay(served):
    s, _, _ = served
    conn = safe_client(s.address, authkey=KEY)
    try:
        sock = socket.socket(fileno=__import__("os").dup(conn.fileno()))
        assert sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY)
        sock.close()
    finally:
        conn.close()


def test_crafted_pickle_sent_to_the_master_runs_nothing(served, tmp_path):
    s, board, _ = served
    target = tmp_path / "pwned"
    conn = safe_client(s.address, authkey=KEY)
    try:
        conn.send_bytes(pickle.dumps((None, "dummy", (Evil(target),), {})))
        kind, text = conn.recv()
    finally:
        conn.close()
    assert kind == "#TRACEBACK" and "refused to load" in text
    assert not target.exists()
    # and the master goes on serving
    assert in_thread(lambda: _qsize(s.address)) == 0


def _qsize(address):
    link = MasterLink(address, KEY)
    link.connect()
    try:
        return link.tasks.qsize()
    finally:
        link.reset()


def test_crafted_pickle_received_by_a_worker_runs_nothing(tmp_path):
    target = tmp_path / "pwned"
    a, b = socket.socketpair()
    sender, receiver = SafeConnection(a.detach()), SafeConnection(b.detach())
    sender.send_bytes(pickle.dumps(("#RETURN", [Evil(target)])))
    with pytest.raises(ForbiddenPickle):
        receiver.recv()
    assert not target.exists()
    sender.send(("#RETURN", [{"v": 1, "ok": True}]))  # the connection stays usable
    assert receiver.recv() == ("#RETURN", [{"v": 1, "ok": True}])
    sender.close(), receiver.close()


def test_plain_data_and_manager_errors_still_load():
    import queue
    assert safe_loads(pickle.dumps({"a": [1, 2.5, None, True, "x", b"y", (1,), {3}]})) == \
        {"a": [1, 2.5, None, True, "x", b"y", (1,), {3}]}
    assert isinstance(safe_loads(pickle.dumps(("#ERROR", queue.Empty())))[1], queue.Empty)


def test_frozen_master_makes_the_client_fail_instead_of_hanging(monkeypatch):
    """A peer that accepts and then says nothing (SIGSTOP) must not block a worker forever."""
    monkeypatch.setattr(manager.ClientSettings, "recv_timeout", 0.5)
    listener = socket.create_server(("127.0.0.1", 0))
    try:
        start = time.monotonic()
        with pytest.raises(EOFError, match="socket timeout|handshake"):
            safe_client(listener.getsockname(), authkey=KEY)
        assert time.monotonic() - start < 5
    finally:
        listener.close()


def _serve_in_child(address_out, key):
    """Runs in a spawned process: serve the queues and report the address."""
    import time as _time
    s = serve(TaskBoard(30), ResultInbox(), ("127.0.0.1", 0), key)
    address_out.put(s.address)
    _time.sleep(30)


def test_the_manager_works_under_the_spawn_start_method():
    """macOS and Windows spawn: registered callables must be importable module-level functions."""
    import multiprocessing
    ctx = multiprocessing.get_context("spawn")
    q = ctx.Queue()
    p = ctx.Process(target=_serve_in_child, args=(q, KEY), daemon=True)
    p.start()
    try:
        address = tuple(q.get(timeout=30))
        assert in_thread(lambda: _qsize(address)) == 0
    finally:
        p.kill()
        p.join(10)


def test_worker_delivers_and_leases_in_one_call(tmp_path):
    from crawler.config import WorkerConfig
    from crawler.worker import Worker
    board, inbox = TaskBoard(30), ResultInbox()
    board.results = inbox
    board.add_many([Task(i, f"http://h/{i}.jpg", None) for i in (1, 2, 3)])
    s = serve(board, inbox, ("127.0.0.1", 0), KEY)
    worker = Worker(WorkerConfig(s.address, out=tmp_path, name="w1"), KEY)
    try:
        def client():
            worker.link.connect()
            first = worker.session._deliver_and_lease([], 2, 0, 2)
            worker.outbox.started()
            worker.outbox.hand_in({"kind": "result", "id": first[0]["id"]})
            second = worker.session._deliver_and_lease(list(worker.outbox.results), 5, 0, 5)
            worker.link.reset()
            return [t["id"] for t in first], [t["id"] for t in second]

        first, second = in_thread(client)
        assert first == [1, 2] and second == [3]
        assert [r["id"] for r in inbox.drain()] == [1]
        assert worker.outbox.results == []  # delivered, so no longer kept for a resend
        assert worker.stats.calls == 2
    finally:
        s.stop()


def test_a_finishing_worker_keeps_refused_results_and_does_not_hammer_the_master(tmp_path):
    from crawler.config import WorkerConfig
    from crawler.worker import POLL_WAIT, Worker

    class FullInbox:
        calls = 0

        def put_many(self, batch):
            FullInbox.calls += 1
            return False  # the master's inbox is full

    class Link:
        results = FullInbox()
        tasks = None

    worker = Worker(WorkerConfig(("127.0.0.1", 1), out=tmp_path, name="w1"), KEY, link=Link())
    worker.session.finished = True
    worker.outbox.results.append({"kind": "result", "id": 1})
    start = time.monotonic()
    assert worker.session.exchange() is False  # not done: a result is still to be delivered
    assert FullInbox.calls == 1 and time.monotonic() - start >= POLL_WAIT * 0.9
    assert worker.outbox.results == [{"kind": "result", "id": 1}]


def test_results_gather_while_leased_tasks_wait_here_then_go_out_in_one_call(tmp_path):
    from crawler.config import WorkerConfig
    from crawler.worker import RESULT_HOLD, Worker

    class Tasks:
        calls: list = []

        def exchange(self, name, batch, want, wait, idle):
            Tasks.calls.append((len(batch), want))
            return {"accepted": True, "tasks": []}

        def heartbeat(self, name):
            return False

    class Link:
        tasks = Tasks()
        results = None

    worker = Worker(WorkerConfig(("127.0.0.1", 1), out=tmp_path, threads=8, name="w1"), KEY, link=Link())
    worker.downloaders.gate.estimator.observe("h", 0.0005, 0.00045)  # a near server: 2 downloads at once
    assert worker.downloaders.gate.limit == 2

    def finished(task_id):  # what a download thread does with a result
        worker.outbox.started()
        worker.outbox.hand_in({"kind": "result", "id": task_id})

    worker.downloaders.queue.put({"id": 7})
    worker.downloaders.queue.put({"id": 8})  # leased, waiting for a thread
    finished(6)
    assert worker.session.exchange() is False
    assert Tasks.calls == [] and len(worker.outbox) == 1  # kept: the queue still feeds both threads
    worker.downloaders.queue.get_nowait()
    finished(7)
    worker.downloaders.queue.get_nowait()  # the queue ran dry: both results go, and 4 tasks are asked for
    assert worker.session.exchange() is False
    assert Tasks.calls == [(2, 4)] and worker.outbox.results == []

    # a result is not kept longer than RESULT_HOLD, however full the queue
    worker.downloaders.queue.put({"id": 9})
    worker.downloaders.queue.put({"id": 10})
    finished(8)
    # its age set rather than waited for, so that a loaded machine cannot stretch the wait
    worker.outbox._since = time.monotonic() + 5  # just in, with a margin no loaded machine can age
    assert worker.session.exchange() is False and len(Tasks.calls) == 1  # young: kept
    worker.outbox._since = time.monotonic() - RESULT_HOLD
    assert worker.session.exchange() is False and Tasks.calls[1][0] == 1  # as old as RESULT_HOLD: out


def _serve_until_killed(address_out, key, cert, keyfile):
    """Runs in a spawned process: serve the queues (over TLS with cert and keyfile) and report the address."""
    import time as _time

    from crawler.link import tls
    s = serve(TaskBoard(30), ResultInbox(), ("127.0.0.1", 0), key,
              tls=tls.server_tls(cert, keyfile) if cert else None)
    address_out.put(s.address)
    _time.sleep(60)


@pytest.mark.parametrize("path", ["kernel-timeouts", "python-timeouts", "tls"])
def test_a_master_frozen_mid_session_is_detected_by_the_socket_timeout(path, monkeypatch, request):
    """SIGSTOP on the master between two calls: the next call fails within the socket timeout,
    whichever keeps it: the kernel (Linux, macOS, Windows), Python (where the kernel cannot),
    or Python under TLS."""
    import multiprocessing
    import os
    import signal

    import psutil

    from crawler.link import tls
    from crawler.link.connection import SafeConnection, SocketConnection
    from crawler.net import sockopts

    from .procs import wait_for
    monkeypatch.setattr(manager.ClientSettings, "recv_timeout", 1.0)
    cert = keyfile = trust = None
    if path == "python-timeouts":
        monkeypatch.setattr(sockopts, "kernel_timeouts_work", lambda: False)
    elif path == "tls":
        files = request.getfixturevalue("tls_files")
        cert, keyfile, trust = str(files.cert), str(files.key), tls.client_tls(files.ca)
    ctx = multiprocessing.get_context("spawn")
    q = ctx.Queue()
    child = ctx.Process(target=_serve_until_killed, args=(q, KEY, cert, keyfile), daemon=True)
    child.start()
    try:
        address = tuple(q.get(timeout=30))

        def client():
            link = MasterLink(address, KEY, tls=trust)
            link.connect()
            try:
                assert link.tasks.qsize() == 0
                kind = type(link.tasks._tls.connection)
                os.kill(child.pid, signal.SIGSTOP)
                wait_for(lambda: psutil.Process(child.pid).status() == psutil.STATUS_STOPPED, 10, "SIGSTOP to land",
                         interval=0.005)  # kill() returns before the stop does
                start = time.monotonic()
                with pytest.raises(EOFError, match="socket timeout"):
                    link.tasks.qsize()
                return kind, time.monotonic() - start
            finally:
                link.reset()

        kind, waited = in_thread(client)
        assert kind is (SafeConnection if path == "kernel-timeouts" else SocketConnection)
        assert 0.9 <= waited < 5
    finally:
        os.kill(child.pid, signal.SIGCONT)
        child.kill()
        child.join(10)
