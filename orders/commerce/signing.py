"""HMAC-SHA256 signatures for requests to and callbacks from the shop.

The signed message is `<unix timestamp>.<raw body>`; headers `X-Dash-Timestamp` and
`X-Dash-Signature: sha256=<hex>`. A timestamp more than five minutes off is refused."""

import hashlib
import hmac
import time

TIMESTAMP_HEADER = "X-Dash-Timestamp"
SIGNATURE_HEADER = "X-Dash-Signature"
MAX_SKEW_SECONDS = 300


def sign(secret: str, body: bytes, timestamp: int | None = None) -> dict[str, str]:
    ts = str(int(time.time()) if timestamp is None else timestamp)
    digest = hmac.new(secret.encode(), ts.encode() + b"." + body, hashlib.sha256).hexdigest()
    return {TIMESTAMP_HEADER: ts, SIGNATURE_HEADER: f"sha256={digest}"}


def verify(secret: str, body: bytes, timestamp: str | None, signature: str | None, now: float | None = None) -> bool:
    if not timestamp or not signature or not timestamp.isdigit():
        return False
    if abs((now or time.time()) - int(timestamp)) > MAX_SKEW_SECONDS:
        return False
    expected = sign(secret, body, int(timestamp))[SIGNATURE_HEADER]
    return hmac.compare_digest(expected, signature)
