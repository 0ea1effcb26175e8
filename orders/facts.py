"""Facts about a customer's orders that a higher app knows and pushes down.

Orders never imports devices (devices -> orders). The device event log knows how many presses
were filtered because an order was already in progress; devices registers a counter here in
its AppConfig.ready, and the orders page and the customer API ask `filtered_requests`. Without
a registered counter (orders used alone) every count is zero.
"""

from collections import Counter
from collections.abc import Callable, Iterable

# (customer_id=, order_ids=) -> {order id: requests answered "order in progress" with that order}
FilteredRequestCounter = Callable[..., dict[int, int]]

_counters: list[FilteredRequestCounter] = []


def register_filtered_request_counter(counter: FilteredRequestCounter) -> None:
    """Called once per process by an app's `ready()`; registering the same function twice is a no-op."""
    if counter not in _counters:
        _counters.append(counter)


def filtered_requests(*, customer_id: int, order_ids: Iterable[int]) -> dict[int, int]:
    """How many requests (presses, scans ...) each of the customer's orders absorbed without a
    new order being placed. Orders with none are left out."""
    ids = list(order_ids)
    if not ids:
        return {}
    total: Counter[int] = Counter()
    for counter in _counters:
        total.update(counter(customer_id=customer_id, order_ids=ids))
    return {order_id: n for order_id, n in total.items() if n}
