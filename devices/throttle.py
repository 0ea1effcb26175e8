"""Per-device token bucket in Redis: a burst of presses is answered, a stuck device is not.

Redis holds only counters here; losing them lets a few extra events through, nothing more.
When Redis does not answer, events are let through (and logged): intake never depends on it."""

import logging
import math
from dataclasses import dataclass

import redis
from django.conf import settings

log = logging.getLogger(__name__)

_SCRIPT = """
local now_parts = redis.call('TIME')
local now = tonumber(now_parts[1]) + tonumber(now_parts[2]) / 1000000
local rate = tonumber(ARGV[1])
local burst = tonumber(ARGV[2])
local state = redis.call('HMGET', KEYS[1], 't', 's')
local tokens = tonumber(state[1]) or burst
local stamp = tonumber(state[2]) or now
tokens = math.min(burst, tokens + math.max(0, now - stamp) * rate)
local wait = 0
if tokens >= 1 then tokens = tokens - 1 else wait = (1 - tokens) / rate end
redis.call('HSET', KEYS[1], 't', tostring(tokens), 's', tostring(now))
redis.call('EXPIRE', KEYS[1], math.ceil(burst / rate) + 1)
return tostring(wait)
"""

_client = None
_script = None


@dataclass(frozen=True)
class ThrottleDecision:
    allowed: bool
    retry_after: int = 0


def _get_script():
    global _client, _script
    if _script is None:
        _client = redis.Redis.from_url(settings.REDIS_URL, socket_timeout=0.25, socket_connect_timeout=0.25)
        _script = _client.register_script(_SCRIPT)
    return _script


def device_throttle_check(key: str) -> ThrottleDecision:
    rate = settings.DASH_DEVICE_RATE_PER_MINUTE / 60.0
    burst = settings.DASH_DEVICE_BURST
    if rate <= 0:
        return ThrottleDecision(allowed=True)
    try:
        wait = float(_get_script()(keys=[f"dash:thr:{key}"], args=[rate, burst]))
    except redis.RedisError:
        log.warning("throttle_unavailable key=%s", key[:12])
        return ThrottleDecision(allowed=True)
    if wait <= 0:
        return ThrottleDecision(allowed=True)
    return ThrottleDecision(allowed=False, retry_after=max(1, math.ceil(wait)))
