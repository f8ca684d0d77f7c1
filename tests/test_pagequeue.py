from crawler.rules.pagequeue import PageQueue


def test_pages_wait_per_origin_in_order_and_origins_take_turns():
    q = PageQueue()
    q.extend([("http://a/1", 0), ("http://a/2", 1), ("http://b/1", 1)])
    q.append("http://a/3", 2, "http://a")
    assert len(q) == 4 and q.origins(10) == ["http://a", "http://b"]
    assert q.peek("http://a") == ("http://a/1", 0) and len(q) == 4  # peeking takes nothing
    assert q.pop("http://a") == ("http://a/1", 0)
    assert q.origins(10) == ["http://b", "http://a"]  # an origin that gave a page goes last
    assert q.pop("http://b") == ("http://b/1", 1) and "http://b" not in q and q.origins(10) == ["http://a"]
    assert [q.pop("http://a"), q.pop("http://a")] == [("http://a/2", 1), ("http://a/3", 2)]
    assert len(q) == 0 and "http://a" not in q and q.origins(10) == []


def test_each_port_and_scheme_of_a_host_is_an_origin_of_its_own():
    q = PageQueue()
    q.extend([("http://example.com:8080/x", 0), ("https://example.com/y", 0), ("https://example.com/z", 0)])
    assert q.origins(5) == ["http://example.com:8080", "https://example.com"] and len(q) == 3


def test_a_parked_origin_waits_alone_and_keeps_new_pages_until_unparked():
    q = PageQueue()
    q.extend([("http://h:9/dead", 0), ("http://h/1", 0)])
    q.park("http://h:9")
    assert q.origins(10) == ["http://h"] and "http://h:9" not in q and q.parked() == 1
    assert q.waiting("http://h") == 1 and q.waiting("http://h:9") == 0  # parked: none ready
    q.append("http://h:9/dead2", 1)  # found while its robots.txt is still unknown
    assert q.origins(10) == ["http://h"] and len(q) == 3
    q.unpark("http://h:9")
    assert q.origins(10) == ["http://h", "http://h:9"] and q.parked() == 0
    assert [q.pop("http://h:9"), q.pop("http://h:9")] == [("http://h:9/dead", 0), ("http://h:9/dead2", 1)]
    q.unpark("http://nowhere")  # nothing parked there: nothing happens
    assert q.origins(10) == ["http://h"] and len(q) == 1
