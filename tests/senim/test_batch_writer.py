import queue

from senim.batch_writer import StopMarker, next_batch


def test_given_more_rows_than_batch_size_when_drained_then_batches_are_capped():
    rows: queue.Queue = queue.Queue()
    for i in range(5):
        rows.put(i)
    assert next_batch(rows, batch_size=3, window_s=0.01) == ([0, 1, 2], False)
    assert next_batch(rows, batch_size=3, window_s=0.01) == ([3, 4], False)


def test_given_stop_marker_after_rows_when_drained_then_rows_then_stop():
    rows: queue.Queue = queue.Queue()
    rows.put("a")
    rows.put(StopMarker())
    assert next_batch(rows, batch_size=10, window_s=0.01) == (["a"], True)


def test_given_idle_queue_with_first_timeout_when_drained_then_empty_batch():
    assert next_batch(queue.Queue(), batch_size=10, window_s=0.01, first_timeout=0.01) == (
        [],
        False,
    )
