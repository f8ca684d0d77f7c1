from crawler.store.journal import Journal


def journal(tmp_path, **kw):
    return Journal(tmp_path / ".crawler" / "state.sqlite", **kw)


def test_state_survives_a_reopen(tmp_path):
    j = journal(tmp_path)
    j.page_queued("http://h/", 0)
    j.page_queued("http://h/a", 1)
    j.page_finished("http://h/", 0, ok=True)
    j.task_added(1, "http://h/1.jpg", "http://h/")
    j.task_added(2, "http://h/2.jpg", "http://h/", source="picture")
    j.task_added(3, "http://h/3.jpg", "http://h/")
    j.task_attempt(2, 2)
    j.task_done(1)
    j.close()
    snap = journal(tmp_path).snapshot(done_urls=set())
    assert snap.pages_seen == {"http://h/", "http://h/a"}
    assert snap.pages_queued == [("http://h/a", 1)] and snap.pages_done == 1
    assert snap.image_urls == {"http://h/1.jpg", "http://h/2.jpg", "http://h/3.jpg"}
    assert snap.done_ids == {1} and snap.next_id == 4
    assert snap.open_tasks == [(2, "http://h/2.jpg", "http://h/", 2, "picture"),
                               (3, "http://h/3.jpg", "http://h/", 1, None)]


def test_manifest_lines_count_as_done_even_when_the_journal_missed_them(tmp_path):
    j = journal(tmp_path)
    j.task_added(1, "http://h/1.jpg", None)
    j.commit()
    j._db.close()  # as if killed before task_done was committed
    snap = journal(tmp_path).snapshot(done_urls={"http://h/1.jpg"})
    assert snap.done_ids == {1} and snap.open_tasks == []


def test_nothing_reaches_the_database_before_a_commit_and_the_manifest_is_flushed_first(tmp_path):
    calls = []
    j = journal(tmp_path, commit_seconds=3600, before_commit=lambda: calls.append("flush"))
    j.task_added(1, "http://h/1.jpg", None)
    j.maybe_commit()
    assert calls == [] and journal(tmp_path).snapshot(set()).open_tasks == []
    j.commit()
    assert calls == ["flush"] and len(journal(tmp_path).snapshot(set()).open_tasks) == 1


def test_meta_records_a_finished_crawl(tmp_path):
    j = journal(tmp_path)
    assert j.get_meta("finished") is None
    j.set_meta("finished", "1")
    j.close()
    assert journal(tmp_path).get_meta("finished") == "1"


def test_a_journal_from_before_sources_were_recorded_opens_and_resumes(tmp_path):
    import sqlite3
    path = tmp_path / ".crawler" / "state.sqlite"
    path.parent.mkdir()
    db = sqlite3.connect(path)
    db.executescript("CREATE TABLE tasks (id INTEGER PRIMARY KEY, url TEXT NOT NULL UNIQUE, page TEXT, "
                     "attempt INTEGER NOT NULL, done INTEGER NOT NULL DEFAULT 0);"
                     "INSERT INTO tasks (id, url, page, attempt) VALUES (1, 'http://h/1.jpg', 'http://h/', 1);")
    db.commit()
    db.close()
    j = journal(tmp_path)
    j.task_added(2, "http://h/2.jpg", "http://h/", source="srcset")
    j.close()
    assert journal(tmp_path).snapshot(set()).open_tasks == [(1, "http://h/1.jpg", "http://h/", 1, None),
                                                             (2, "http://h/2.jpg", "http://h/", 1, "srcset")]
