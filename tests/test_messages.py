import pytest

from crawler.rules.messages import (
    InvalidMessage,
    is_stop,
    make_result,
    make_task,
    stop_message,
    validate_result,
    validate_task,
)

TASK = make_task(7, "http://h/a.jpg", "http://h/", max_bytes=1000, timeout=5.0)


def ok_result(**over):
    r = make_result(TASK, ok=True, worker="w:1", elapsed=0.1, final_url="http://h/a.jpg",
                    path="h/a.jpg", nbytes=10, sha256="0" * 64, content_type="image/jpeg", status=200)
    r.update(over)
    return r


def test_task_round_trips_through_validation():
    assert validate_task(dict(TASK)) == TASK


@pytest.mark.parametrize("bad", [
    None, 42, "task", [], {"kind": "task"},
    dict(TASK, v=0), dict(TASK, v="1"), dict(TASK, id="7"), dict(TASK, id=True),
    dict(TASK, url="file:///etc/passwd"), dict(TASK, url=b"http://h/"), dict(TASK, url="http://" + "a" * 9000),
    dict(TASK, page="javascript:x"), dict(TASK, max_bytes=0), dict(TASK, timeout=float("nan")),
    dict(TASK, kind="result"),
])
def test_invalid_tasks_are_refused(bad):
    with pytest.raises(InvalidMessage):
        validate_task(bad)


def test_result_round_trips_and_unknown_fields_are_ignored():
    r = ok_result(extra_field_from_a_newer_worker=1)
    assert validate_result(r) is r


@pytest.mark.parametrize("over", [
    {"ok": 1}, {"bytes": -1}, {"bytes": "10"}, {"bytes": True}, {"path": None}, {"sha256": "abc"},
    {"elapsed": float("inf")}, {"status": "200"}, {"error": "x" * 5000}, {"worker": None},
    {"v": None}, {"id": None}, {"path": 5},
])
def test_malformed_results_are_refused(over):
    with pytest.raises(InvalidMessage):
        validate_result(ok_result(**over))


def test_failed_result_needs_no_path():
    r = make_result(TASK, ok=False, worker="w:1", elapsed=0.0, error="HTTP 404", reason="http-status", status=404)
    assert validate_result(r)["reason"] == "http-status"


def test_missing_field_is_refused():
    r = ok_result()
    del r["sha256"]
    with pytest.raises(InvalidMessage, match="sha256"):
        validate_result(r)


def test_stop_message_is_recognised():
    assert is_stop(stop_message()) and not is_stop(TASK) and not is_stop(None)
