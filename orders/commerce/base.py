"""The one interface to an e-commerce engine: submit an order, idempotently on its id."""

from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

from django.conf import settings

if TYPE_CHECKING:
    from orders.models import Order


class CommerceError(Exception):
    """The shop did not accept the order. `permanent` errors are not retried."""

    def __init__(self, message: str, *, permanent: bool = False):
        super().__init__(message)
        self.permanent = permanent


@dataclass(frozen=True)
class Receipt:
    reference: str


class CommerceBackend(Protocol):
    name: str
    batch: bool  # True when submit() answers in-process, so a batch may share one transaction

    def submit(self, order: "Order") -> Receipt: ...


def get_backend() -> CommerceBackend:
    name = settings.DASH_COMMERCE_BACKEND
    if name == "simulated":
        from orders.commerce.simulated import SimulatedBackend

        return SimulatedBackend()
    if name == "http":
        from orders.commerce.http import HttpBackend

        return HttpBackend(url=settings.DASH_COMMERCE_URL, secret=settings.DASH_COMMERCE_SECRET, timeout=settings.DASH_COMMERCE_TIMEOUT)
    raise ValueError(f"DASH_COMMERCE_BACKEND must be 'simulated' or 'http', not {name!r}")
