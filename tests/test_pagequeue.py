from crawler.pagequeue import PageQueue


def test_pages_wait_per_host_in_order_and_hosts_take_turns():
    q = PageQueue()
    q.extend([("http://a/1", 0), ("http://a/2", 1), ("http://b/1", 1)])
    q.append("http://a/3", 2, "a")
    assert len(q) == 4 and q.hosts(10) == ["a", "b"]
    assert q.peek("a") == ("http://a/1", 0) and len(q) == 4  # peeking takes nothing
    assert q.pop("a") == ("http://a/1", 0)
    assert q.hosts(10) == ["b", "a"]  # a host that gave a page goes last
    assert q.pop("b") == ("http://b/1", 1) and "b" not in q and q.hosts(10) == ["a"]
    assert [q.pop("a"), q.pop("a")] == [("http://a/2", 1), ("http://a/3", 2)]
    assert len(q) == 0 and "a" not in q and q.hosts(10) == []


def test_hosts_are_keyed_like_the_host_gate():
    q = PageQueue()
    q.extend([("http://Example.com:8080/x", 0), ("https://example.com/y", 0)])
    assert q.hosts(1) == ["example.com"] and len(q) == 2
