"""Cost per BaseManager call of our connection layer (restricted unpickler, TCP_NODELAY,
socket timeouts), and of it over TLS, against the stock one, on loopback.

    python bench/connection_cost.py [--calls 3000] [--rounds 5]

The server runs in this process and the client in another (as master and worker do: in one
process the two threads would share the GIL and measure its hand-offs instead). Prints the
median microseconds per call of a small call (qsize), of a batch call (get_many of 100
tasks, about 20 kB) and of a call carrying 100 results to the master, and the milliseconds
to open a connection and send 18 kB on it, for each layer, and the ratios. The TLS
certificate is made with trustme (the test extra); the client pins it by fingerprint.
"""

import argparse
import multiprocessing
import statistics
import sys
import threading
import time
from multiprocessing.managers import BaseManager
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from crawler.link import (
    manager,  # noqa: E402  (registers the "crawler" serializer)
    tls,
)
from crawler.master.board import ResultInbox, TaskBoard  # noqa: E402
from crawler.rules.messages import make_task  # noqa: E402

KEY = b"bench-key-0123456789abcdef"
TASKS = [make_task(i, f"http://images.example/some/folder/photo-{i:06d}.jpg", "http://images.example/page.html",
                   max_bytes=1 << 20, timeout=20.0) for i in range(100)]


class Board(TaskBoard):
    def get_many(self, worker="?", n=1, timeout=0.0):
        return TASKS[:n]  # no state change, so every round sends the same 100 tasks

    def put(self, item):
        return None  # a sink: measures only the call carrying about 30 kB to the master


class StockManager(BaseManager):
    pass


StockManager.register("get_task_queue", callable=manager._get_task_queue, exposed=manager.TASK_QUEUE_METHODS)


def tls_settings(folder: Path) -> tuple[tls.ServerTLS, tls.ClientTLS]:
    import trustme
    issued = trustme.CA().issue_cert("127.0.0.1")
    cert, key = folder / "cert.pem", folder / "key.pem"
    issued.cert_chain_pems[0].write_to_path(str(cert))
    issued.private_key_pem.write_to_path(str(key))
    key.chmod(0o600)
    server = tls.server_tls(cert, key)
    return server, tls.client_tls(fingerprint=server.fingerprint)


def measure(manager_cls, serializer, address, calls):
    m = manager_cls(address=address, authkey=KEY, serializer=serializer)
    m.connect()
    tasks = m.get_task_queue()
    out = {}
    results = [dict(t, kind="result", ok=True, path="images.example/some/folder/photo.jpg", sha256="0" * 64)
               for t in TASKS]
    for name, call in (("qsize", lambda: tasks.qsize()), ("get_many(100)", lambda: tasks.get_many("b", 100, 0)),
                       ("put(100 results)", lambda: tasks.put(results))):
        call()
        start = time.perf_counter()
        for _ in range(calls):
            call()
        out[name] = (time.perf_counter() - start) / calls * 1e6
    return out


def fresh_connection_ms(manager_cls, serializer, address, calls):
    """connect() + get_task_queue() + one 18 kB put on a new connection, in ms."""
    payload = [dict(t) for t in TASKS[:60]]
    times = []
    for _ in range(max(5, calls // 100)):
        start = time.perf_counter()
        m = manager_cls(address=address, authkey=KEY, serializer=serializer)
        m.connect()
        m.get_task_queue().put(payload)
        times.append((time.perf_counter() - start) * 1000)
    return {"fresh connection ms": statistics.median(times)}


def measure_elsewhere(manager_cls, serializer, address, calls):
    """Run measure() in a child process and return its numbers."""
    parent, child = multiprocessing.Pipe()

    def run():
        child.send({**measure(manager_cls, serializer, address, calls),
                    **fresh_connection_ms(manager_cls, serializer, address, calls)})

    p = multiprocessing.get_context("fork").Process(target=run)
    p.start()
    out = parent.recv()
    p.join()
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--calls", type=int, default=3000)
    ap.add_argument("--rounds", type=int, default=5)
    args = ap.parse_args()
    import tempfile
    board, inbox = Board(60), ResultInbox()
    ours = manager.serve(board, inbox, ("127.0.0.1", 0), KEY)
    with tempfile.TemporaryDirectory() as folder:
        server_tls, client_tls = tls_settings(Path(folder))
    ours_tls = manager.serve(board, inbox, ("127.0.0.1", 0), KEY, tls=server_tls)
    tls_serializer = manager.serializer_for(client=client_tls)  # registered before the clients fork
    stock_mgr = StockManager(address=("127.0.0.1", 0), authkey=KEY)
    stock_server = stock_mgr.get_server()
    threading.Thread(target=stock_server.serve_forever, daemon=True).start()
    results = {"stock pickle": [], "crawler (restricted)": [], "crawler over TLS": []}
    for _ in range(args.rounds):  # interleaved, so all see the same machine
        results["stock pickle"].append(measure_elsewhere(StockManager, "pickle", stock_server.address, args.calls))
        results["crawler (restricted)"].append(
            measure_elsewhere(manager.CrawlManager, manager.SERIALIZER, ours.address, args.calls))
        results["crawler over TLS"].append(
            measure_elsewhere(manager.CrawlManager, tls_serializer, ours_tls.address, args.calls))
    print(f"median µs per call of {args.rounds} rounds, {args.calls} calls each")
    print(f"{'serializer':<22} {'qsize':>10} {'get_many(100)':>18} {'put(100 results)':>18} {'fresh conn (ms)':>16}")
    med = {}
    for name, rounds in results.items():
        med[name] = {k: statistics.median(r[k] for r in rounds) for k in rounds[0]}
        print(f"{name:<22} {med[name]['qsize']:>10.1f} {med[name]['get_many(100)']:>18.1f} "
              f"{med[name]['put(100 results)']:>18.1f} {med[name]['fresh connection ms']:>16.2f}")
    for label, a, b in (("ratio ours/stock", med["crawler (restricted)"], med["stock pickle"]),
                        ("ratio TLS/ours", med["crawler over TLS"], med["crawler (restricted)"])):
        print(f"{label:<22} {a['qsize'] / b['qsize']:>10.2f} {a['get_many(100)'] / b['get_many(100)']:>18.2f} "
              f"{a['put(100 results)'] / b['put(100 results)']:>18.2f} "
              f"{a['fresh connection ms'] / b['fresh connection ms']:>16.3f}")


if __name__ == "__main__":
    main()
