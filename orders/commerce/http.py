"""A real shop over HTTP: the order as JSON, `Idempotency-Key: <order id>`, HMAC-signed."""

import json

import requests

from orders.commerce.base import CommerceError, Receipt
from orders.commerce.signing import sign


class HttpBackend:
    name = "http"
    batch = False  # one transaction per order: a slow shop must not hold a batch of row locks

    def __init__(self, *, url: str, secret: str, timeout: float):
        if not url:
            raise CommerceError("DASH_COMMERCE_URL is not set", permanent=True)
        self.url = url
        self.secret = secret
        self.timeout = timeout

    def payload(self, order) -> bytes:
        return json.dumps(
            {
                "order_id": str(order.public_id),
                "sku": order.product.sku,
                "gtin": order.product.gtin,
                "quantity": order.quantity,
                "unit_price": str(order.unit_price),
                "customer_ref": f"cust-{order.customer_id}",
            },
            separators=(",", ":"),
        ).encode()

    def submit(self, order) -> Receipt:
        body = self.payload(order)
        headers = {"Content-Type": "application/json", "Idempotency-Key": str(order.public_id), **sign(self.secret, body)}
        try:
            response = requests.post(self.url, data=body, headers=headers, timeout=self.timeout)
        except requests.RequestException as exc:
            raise CommerceError(f"shop unreachable: {exc.__class__.__name__}: {exc}") from exc
        if response.status_code >= 500 or response.status_code in (408, 429):
            raise CommerceError(f"shop answered {response.status_code}")
        if response.status_code >= 400:
            raise CommerceError(f"shop refused the order: {response.status_code} {response.text[:200]}", permanent=True)
        try:
            reference = str(response.json().get("reference", ""))[:100]
        except ValueError:
            reference = ""
        return Receipt(reference=reference or f"HTTP-{order.public_id.hex[:12].upper()}")
