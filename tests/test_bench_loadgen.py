"""The load generator's summary: what `make bench` reports is computed from these records."""

from bench.loadgen import LoadResult, Record, summarize


def _result(records):
    return LoadResult(
        rate=10, warmup=0, duration=2, records=records, late_sends=0, max_send_slip_ms=0.0,
        max_connections=1, connections_opened=1, cpu_seconds=0.0, wall_seconds=2.0, t0_unix=1000.0,
    )  # fmt: skip


def test_accepted_events_are_counted_by_when_they_were_sent_not_when_their_answer_came():
    # A window of [1 s, 2 s): the event sent at 0.5 s doesn't count although its answer arrived
    # inside the window; the two sent at 1.5 and 1.6 s count although theirs came after it.
    records = [
        Record(scheduled=0.5, done=1.2, status=200, outcome="order_in_progress"),
        Record(scheduled=1.5, done=2.3, status=200, outcome="order_in_progress"),
        Record(scheduled=1.6, done=2.4, status=201, outcome="order_placed"),
    ]
    load = summarize(_result(records), warmup=1.0, duration=1.0)
    assert load["accepted_in_window"] == 2
    assert load["accepted_per_s"] == 2.0
    assert load["completed_in_window"] == 1
    assert load["window_started_unix"] == 1001.0


def test_an_error_or_a_refusal_sent_in_the_window_is_not_accepted():
    records = [
        Record(scheduled=1.1, done=1.2, status=429, outcome="throttled"),
        Record(scheduled=1.2, done=1.3, status=200, outcome="order_in_progress", error="replay_mismatch"),
        Record(scheduled=1.3, done=-1.0, error="timeout"),
        Record(scheduled=1.4, done=1.5, status=201, outcome="order_placed"),
    ]
    load = summarize(_result(records), warmup=1.0, duration=1.0)
    assert load["accepted_in_window"] == 1
    assert load["errors"] == 3
