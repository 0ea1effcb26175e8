"""Claim-code brute force limits: failed attempts are counted per user and per client IP in
the cache (Redis in every real deployment) over a fixed window; past the limit a claim is
refused with 429 before the code is even looked up.

A claim code is 16 symbols of a 32-symbol alphabet (80 bits). With these limits an attacker
gets at most DASH_CLAIM_FAILS_PER_IP guesses per window per address: hopeless either way."""

import logging

from django.conf import settings
from django.core.cache import cache

from devices import services

log = logging.getLogger("dash.abuse")


def client_ip(request) -> str:
    # REMOTE_ADDR is the peer; a deployment behind a proxy sets it from X-Forwarded-For at the proxy.
    return request.META.get("REMOTE_ADDR") or "unknown"


def _keys(*, user_id, ip: str) -> list[tuple[str, int]]:
    return [
        (f"abuse:claim:user:{user_id}", settings.DASH_CLAIM_FAILS_PER_USER),
        (f"abuse:claim:ip:{ip}", settings.DASH_CLAIM_FAILS_PER_IP),
    ]


def device_claim_guarded(*, ip: str, customer_id: int, **kwargs):
    """`services.device_claim` behind the per-user and per-IP failed-attempt limits."""
    keys = _keys(user_id=customer_id, ip=ip)
    for key, limit in keys:
        if (cache.get(key) or 0) >= limit:
            log.warning("claim_rate_limited customer=%s ip=%s key=%s", customer_id, ip, key.split(":")[2])
            raise services.DeviceError("too_many_attempts", "Too many wrong claim codes; wait a few minutes and try again.", status=429)
    try:
        return services.device_claim(customer_id=customer_id, **kwargs)
    except services.DeviceError as exc:
        if exc.code == "bad_claim_code":
            for key, _limit in keys:
                cache.add(key, 0, timeout=settings.DASH_CLAIM_WINDOW_SECONDS)
                try:
                    cache.incr(key)
                except ValueError:  # expired between add and incr
                    cache.set(key, 1, timeout=settings.DASH_CLAIM_WINDOW_SECONDS)
        raise
