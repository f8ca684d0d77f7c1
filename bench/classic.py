"""The classic BaseManager image crawler, as the tutorials write it: the benchmark's baseline.

A master crawls pages with requests + BeautifulSoup (`<img src>` and `<a href>` only), puts
one image URL at a time on a `queue.Queue` served by a BaseManager, and N worker processes
each `get()`, `requests.get()` (with a Session), write the file and `put()` a result.
Kept small and faithful on purpose: it is what the project started from.

    python bench/classic.py START_URL OUT_DIR --workers 2
"""

import argparse
import hashlib
import os
import queue
import sys
import time
from multiprocessing import Process
from multiprocessing.managers import BaseManager
from urllib.parse import urljoin, urlparse

import requests
from bs4 import BeautifulSoup

AUTHKEY = b"classic-benchmark-key"
task_queue: queue.Queue = queue.Queue()
result_queue: queue.Queue = queue.Queue()


def get_task_queue():
    return task_queue


def get_result_queue():
    return result_queue


class QueueManager(BaseManager):
    pass


def worker(address):
    QueueManager.register("get_task_queue")
    QueueManager.register("get_result_queue")
    m = QueueManager(address=address, authkey=AUTHKEY)
    m.connect()
    tasks, results = m.get_task_queue(), m.get_result_queue()
    session = requests.Session()
    out = os.environ["CLASSIC_OUT"]
    while True:
        url = tasks.get()
        if url is None:
            break
        try:
            r = session.get(url, timeout=20)
            if r.status_code == 200 and r.headers.get("Content-Type", "").startswith("image/"):
                name = hashlib.sha1(url.encode()).hexdigest() + os.path.splitext(urlparse(url).path)[1]
                path = os.path.join(out, name)
                with open(path, "wb") as f:
                    f.write(r.content)
                results.put((url, True, path))
            else:
                results.put((url, False, r.status_code))
        except Exception as e:
            results.put((url, False, str(e)))


def crawl(start):
    host = urlparse(start).netloc
    seen, todo, images = {start}, [start], []
    session = requests.Session()
    while todo:
        page = todo.pop()
        try:
            r = session.get(page, timeout=20)
        except requests.RequestException:
            continue
        if "html" not in r.headers.get("Content-Type", ""):
            continue
        soup = BeautifulSoup(r.text, "lxml")
        for img in soup.find_all("img", src=True):
            images.append(urljoin(page, img["src"]))
        for a in soup.find_all("a", href=True):
            link = urljoin(page, a["href"]).split("#")[0]
            if urlparse(link).netloc == host and link not in seen:
                seen.add(link)
                todo.append(link)
    return images


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("start")
    ap.add_argument("out")
    ap.add_argument("--workers", type=int, default=2)
    args = ap.parse_args()
    os.makedirs(args.out, exist_ok=True)
    os.environ["CLASSIC_OUT"] = args.out
    QueueManager.register("get_task_queue", callable=get_task_queue)
    QueueManager.register("get_result_queue", callable=get_result_queue)
    m = QueueManager(address=("127.0.0.1", 0), authkey=AUTHKEY)
    m.start()
    tasks, results = m.get_task_queue(), m.get_result_queue()
    procs = [Process(target=worker, args=(m.address,)) for _ in range(args.workers)]
    for p in procs:
        p.start()
    t0 = time.time()
    sent = set()
    for url in crawl(args.start):
        if url not in sent:
            sent.add(url)
            tasks.put(url)
    ok = 0
    for _ in range(len(sent)):
        ok += results.get()[1]
    for _ in procs:
        tasks.put(None)
    for p in procs:
        p.join()
    m.shutdown()
    print(f"classic: {ok} of {len(sent)} images stored in {time.time() - t0:.2f} s", file=sys.stderr)


if __name__ == "__main__":
    main()
