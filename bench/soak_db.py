"""The soak's database side (run in a subprocess with DATABASE_URL set, like bench.db_figures).

    python -m bench.soak_db customers --count 40 --password ... --out customers.json
    python -m bench.soak_db check --run run.json --max-wait 60 --out checks.json

`customers` gives the first N benchmark customers a password (one hash, copied: hashing is
deliberately slow), so that they can sign in through allauth's app API and cancel orders.
`check` waits until no order is held past its hold or stuck in `releasing`, then compares what
the load generator was told with what the database recorded, walks every order's timeline and
measures release lateness inside and outside the fault windows.
"""

import argparse
import itertools
import os
import sys
import time
from collections import Counter, defaultdict
from datetime import UTC, datetime, timedelta
from pathlib import Path

import orjson

RELEASE_BUDGET = timedelta(seconds=2)  # release lateness p99's target

# What a timeline may do: (from, to). The first entry is ("", held).
EDGES = {
    ("", "held"),
    ("held", "releasing"),
    ("held", "cancelled"),
    ("releasing", "submitted"),
    ("releasing", "failed"),
    ("submitted", "shipped"),
    ("submitted", "delivered"),
    ("shipped", "delivered"),
    ("submitted", "cancelled"),
    ("shipped", "cancelled"),
}
TERMINAL = {"delivered", "cancelled", "failed"}
# An order's created_at is the time the intake read the clock, before its insert waited on a
# conflicting order that was just finishing: overlaps below this are that, not two orders.
OVERLAP_TOLERANCE_S = 1.0
WINDOW_GRACE_S = 5.0
WINDOW_LEAD_S = 2.0


def customers(*, count: int, password: str) -> list[dict]:
    from django.contrib.auth import get_user_model
    from django.contrib.auth.hashers import make_password

    user_model = get_user_model()
    users = list(user_model.objects.filter(username__startswith="bench").order_by("pk")[:count])
    hashed = make_password(password)
    user_model.objects.filter(pk__in=[u.pk for u in users]).update(password=hashed)
    return [{"id": u.pk, "email": u.email} for u in users]


def held_overdue(*, now: datetime):
    """Orders still held past the release budget: an order whose hold ended just before `now`
    waits for the next beat tick (every second) like any other."""
    from orders.models import Order, OrderStatus

    return Order.objects.filter(status=OrderStatus.HELD, hold_until__lt=now - RELEASE_BUDGET)


def wait_settled(*, max_wait: float) -> float:
    """Until nothing is held past its hold and nothing is in `releasing` (or max_wait)."""
    from django.utils import timezone

    from orders.models import Order, OrderStatus

    started = time.monotonic()
    while time.monotonic() - started < max_wait:
        if not held_overdue(now=timezone.now()).exists() and not Order.objects.filter(status=OrderStatus.RELEASING).exists():
            break
        time.sleep(0.5)
    return time.monotonic() - started


def _ts(dt: datetime | None) -> float | None:
    return None if dt is None else dt.timestamp()


def _pct(values: list[float]) -> dict:
    from bench.loadgen import percentile

    v = sorted(values)
    r = lambda x: None if x is None else round(x, 3)
    return {"n": len(v), "p50": r(percentile(v, 0.5)), "p99": r(percentile(v, 0.99)), "max": r(v[-1] if v else None)}


def check(run: dict) -> dict:
    """Every figure from one snapshot of the database (REPEATABLE READ): the simulated shop goes
    on shipping and delivering while the check reads, and an order read before its delivery with
    a timeline read after it looked like a broken lifecycle."""
    from django.db import connection, transaction

    with transaction.atomic():
        with connection.cursor() as cursor:
            cursor.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
            cursor.execute("SELECT now()")  # the snapshot is taken here: `now` is its time
            (now,) = cursor.fetchone()
        return _check(run, now=now)


def _check(run: dict, *, now: datetime) -> dict:
    from devices.models import DeviceEvent
    from orders.models import Order, OrderEvent

    # --- 1. every acknowledged event is in the event log, with the answer the device got --------
    logged = {
        (serial, event_id): (status, outcome, str(order) if order else None)
        for serial, event_id, status, outcome, order in DeviceEvent.objects.values_list(
            "device__serial", "event_id", "status_code", "outcome", "order__public_id"
        ).iterator(chunk_size=20000)
    }
    missing, differs = [], []
    for serial, event_id, status, outcome, order_id in run["acked"]:
        got = logged.get((serial, event_id))
        if got is None:
            missing.append(f"{serial}/{event_id}")
        elif got != (status, outcome, order_id):
            differs.append(f"{serial}/{event_id}: told {status} {outcome} {order_id}, logged {got}")
    acked_keys = {(s, e) for s, e, *_ in run["acked"]}
    # Events in the log the generator never saw acknowledged: committed, then the answer was
    # lost and the device had not retried by the end (it would get them replayed).
    logged_unacked = sum(1 for key in logged if key not in acked_keys)

    # --- 2. orders and their timelines ---------------------------------------------------------
    orders = {
        o["pk"]: o for o in Order.objects.values("pk", "public_id", "customer_id", "product_id", "status", "hold_until", "created_at")
    }
    timeline: dict[int, list[tuple]] = defaultdict(list)
    for order_id, at, actor, from_status, to_status in (
        OrderEvent.objects.order_by("at", "pk")
        .values_list("order_id", "at", "actor", "from_status", "to_status")
        .iterator(chunk_size=20000)
    ):
        timeline[order_id].append((at, actor, from_status, to_status))
    bad_edges, broken_chain, released_twice, submitted_twice, not_released, submitted_not_once = [], [], [], [], [], []
    release_count = Counter()
    terminal_at: dict[int, datetime | None] = {}
    system_releases = []  # (hold_until, lateness)
    submit_lags = []  # (released at, seconds until submitted)
    for pk, order in orders.items():
        events = timeline.get(pk, [])
        prev = ""
        for at, actor, from_status, to_status in events:
            if (from_status, to_status) not in EDGES:
                bad_edges.append(f"{order['public_id']}: {from_status or '-'} -> {to_status}")
            if from_status != prev:
                broken_chain.append(f"{order['public_id']}: {prev or '-'} then {from_status} -> {to_status}")
            prev = to_status
        if prev != order["status"]:
            broken_chain.append(f"{order['public_id']}: timeline ends in {prev}, order is {order['status']}")
        releases = [e for e in events if e[3] == "releasing"]
        submits = [e for e in events if e[3] == "submitted"]
        release_count[len(releases)] += 1
        if len(releases) > 1:
            released_twice.append(str(order["public_id"]))
        if len(submits) > 1:
            submitted_twice.append(str(order["public_id"]))
        cancelled_in_hold = any(e[2] == "held" and e[3] == "cancelled" for e in events)
        if not cancelled_in_hold and order["status"] != "held" and len(releases) != 1:
            not_released.append(str(order["public_id"]))
        if releases and order["status"] not in ("releasing", "failed") and len(submits) != 1:
            submitted_not_once.append(str(order["public_id"]))
        for at, actor, _, to_status in releases:
            if actor == "system" and order["hold_until"] is not None:
                system_releases.append((order["hold_until"].timestamp(), (at - order["hold_until"]).total_seconds()))
        if releases and submits:
            submit_lags.append((releases[0][0].timestamp(), (submits[0][0] - releases[0][0]).total_seconds()))
        ends = [e[0] for e in events if e[3] in TERMINAL]
        terminal_at[pk] = ends[0] if ends else None

    # never two in progress at once: each customer+product's orders, in creation order
    by_pair: dict[tuple, list[int]] = defaultdict(list)
    for pk, order in orders.items():
        by_pair[(order["customer_id"], order["product_id"])].append(pk)
    overlaps, max_overlap = [], 0.0
    for pks in by_pair.values():
        pks.sort(key=lambda p: (orders[p]["created_at"], p))
        for a, b in itertools.pairwise(pks):
            end = terminal_at[a]
            overlap = float("inf") if end is None else (end - orders[b]["created_at"]).total_seconds()
            if overlap > 0:
                max_overlap = max(max_overlap, overlap)
            if overlap > OVERLAP_TOLERANCE_S:
                overlaps.append(f"{orders[a]['public_id']} and {orders[b]['public_id']} (overlap {overlap:.3f} s)")

    # one order per cycle: order_placed answers name every order, once
    placed_answers = Counter(o for _, _, _, outcome, o in run["acked"] if outcome == "order_placed" and o)
    db_public = {str(o["public_id"]) for o in orders.values()}
    placed_twice = [o for o, n in placed_answers.items() if n > 1]
    never_answered = sorted(db_public - set(placed_answers))
    answered_missing = sorted(set(placed_answers) - db_public)
    # an order_in_progress answer names an order that was in progress when the event came in
    by_public = {str(o["public_id"]): pk for pk, o in orders.items()}
    received = {
        (serial, event_id): at
        for serial, event_id, at in DeviceEvent.objects.filter(outcome="order_in_progress").values_list(
            "device__serial", "event_id", "received_at"
        )
    }
    stale_in_progress = []
    max_skew = 0.0
    for serial, event_id, _, outcome, order_id in run["acked"]:
        if outcome != "order_in_progress":
            continue
        pk = by_public.get(order_id)
        at = received.get((serial, event_id))
        if pk is None or at is None:
            stale_in_progress.append(f"{serial}/{event_id}: order {order_id} unknown")
            continue
        # received_at is the clock read before the intake's query; a concurrent press may have
        # placed the order (its own clock read later) and committed in between
        end = terminal_at[pk]
        early = (orders[pk]["created_at"] - at).total_seconds()
        late = None if end is None else (at - end).total_seconds()
        max_skew = max(max_skew, early, late or 0.0)
        if early > OVERLAP_TOLERANCE_S or (late is not None and late > OVERLAP_TOLERANCE_S):
            stale_in_progress.append(
                f"{serial}/{event_id} at {at.isoformat()}: order {order_id} created {early:+.3f} s later, ended {late} s before"
            )

    # --- 3. customers' cancellations ----------------------------------------------------------
    cancel_wrong = []
    for public_id, result in run["cancels"]:
        pk = by_public.get(public_id)
        if pk is None:
            cancel_wrong.append(f"{public_id}: no such order")
            continue
        events = timeline[pk]
        was_cancelled = any(e[3] == "cancelled" and e[1] == "customer" for e in events)
        if result == 200 and (not was_cancelled or any(e[3] == "releasing" for e in events)):
            cancel_wrong.append(f"{public_id}: cancel answered 200 but timeline is {[e[3] for e in events]}")
        if result == 409 and was_cancelled:
            cancel_wrong.append(f"{public_id}: cancel answered 409 but the customer cancelled it")

    # --- 4. nothing stuck; release lateness by fault window ------------------------------------
    by_status = Counter(o["status"] for o in orders.values())
    overdue = held_overdue(now=now).count()
    faults = []
    releases_at = sorted(at.timestamp() for evs in timeline.values() for at, actor, _, to in evs if to == "releasing" and actor == "system")
    submits_at = sorted(at.timestamp() for evs in timeline.values() for at, _, _, to in evs if to == "submitted")
    import bisect

    def first_after(values, t):
        i = bisect.bisect_right(values, t)
        return values[i] if i < len(values) else None

    for fault in run["faults"]:
        t = fault["killed_at"]
        rel, sub = first_after(releases_at, t), first_after(submits_at, t)
        fault = dict(fault)
        fault["releases_resumed_s"] = None if rel is None else round(rel - t, 2)
        fault["submissions_resumed_s"] = None if sub is None else round(sub - t, 2)
        recovered = max(x for x in (fault.get("ready_at"), fault.get("intake_ok_at"), rel, sub, t) if x is not None)
        # from one beat tick before the kill (a release due then was not done yet) to a little
        # after everything works again
        fault["window"] = [t - WINDOW_LEAD_S, recovered + WINDOW_GRACE_S]
        faults.append(fault)
    in_window, outside = _split_by_fault_window(system_releases, faults)
    lag_in, lag_outside = _split_by_fault_window(submit_lags, faults)
    for fault in faults:
        fault["lateness"] = _pct(in_window[fault["name"]])
        fault["submit_lag"] = _pct(lag_in[fault["name"]])

    return {
        "events": {
            "acked": len(run["acked"]),
            "missing_in_log": len(missing),
            "missing_examples": missing[:5],
            "answer_differs": len(differs),
            "differs_examples": differs[:5],
            "logged_never_acked": logged_unacked,
            "logged_total": len(logged),
        },
        "orders": {
            "total": len(orders),
            "by_status": dict(by_status.most_common()),
            "placed_answers": sum(placed_answers.values()),
            "placed_answer_names_two_events": len(placed_twice),
            "in_db_never_answered_placed": len(never_answered),
            "answered_placed_missing_in_db": len(answered_missing),
            "two_in_progress": len(overlaps),
            "two_in_progress_examples": overlaps[:5],
            "max_clock_overlap_s": round(max_overlap, 3) if max_overlap != float("inf") else None,
            "in_progress_answers_stale": len(stale_in_progress),
            "stale_examples": stale_in_progress[:5],
            "in_progress_answer_max_clock_skew_s": round(max_skew, 3),
            "bad_transitions": len(bad_edges) + len(broken_chain),
            "bad_transition_examples": (bad_edges + broken_chain)[:5],
            "releases_per_order": {str(k): v for k, v in sorted(release_count.items())},
            "released_twice": len(released_twice),
            "not_released_once": len(not_released),
            "not_released_examples": not_released[:5],
            "submitted_twice": len(submitted_twice),
            "submitted_not_once": len(submitted_not_once),
            "releasing_now": by_status.get("releasing", 0),
            "held_overdue": overdue,
        },
        "cancels": {"checked": len(run["cancels"]), "wrong": len(cancel_wrong), "examples": cancel_wrong[:5]},
        "lateness_outside_faults": _pct(outside),
        "lateness_all": _pct([lat for _, lat in system_releases]),
        "submit_lag_outside_faults": _pct(lag_outside),
        "faults": faults,
        "checked_at": datetime.now(UTC).isoformat(timespec="seconds"),
    }


def _split_by_fault_window(samples, faults) -> tuple[dict[str, list[float]], list[float]]:
    """(at, value) samples -> values per fault whose window holds `at`, and the rest."""
    inside: dict[str, list[float]] = defaultdict(list)
    outside: list[float] = []
    for at, value in samples:
        fault = next((f for f in faults if f["window"][0] <= at <= f["window"][1]), None)
        if fault is None:
            outside.append(value)
        else:
            inside[fault["name"]].append(value)
    return inside, outside


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.soak_db")
    sub = parser.add_subparsers(dest="cmd", required=True)
    c = sub.add_parser("customers")
    c.add_argument("--count", type=int, required=True)
    c.add_argument("--password", required=True)
    c.add_argument("--out", type=Path, required=True)
    k = sub.add_parser("check")
    k.add_argument("--run", type=Path, required=True)
    k.add_argument("--max-wait", type=float, default=60)
    k.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "dash.settings")
    import django

    django.setup()
    if args.cmd == "customers":
        args.out.write_bytes(orjson.dumps(customers(count=args.count, password=args.password)))
        return 0
    waited = wait_settled(max_wait=args.max_wait)
    result = check(orjson.loads(args.run.read_bytes()))
    result["settle_wait_s"] = round(waited, 1)
    args.out.write_bytes(orjson.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
