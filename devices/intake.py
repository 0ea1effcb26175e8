"""Parsing and validating a device event, and shaping the answers, per the v1 contract."""

import hashlib
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime

import orjson
from stdnum import ean

MAX_JSON_BYTES = 4096
EVENT_TYPES = ("press", "scan", "slot_status", "voice")
GTIN_LENGTHS = (8, 12, 13, 14)
_EVENT_ID = re.compile(r"[A-Za-z0-9._:-]{1,64}")


class IntakeError(Exception):
    """A request that is refused before anything is recorded: `{"error": {...}}`."""

    def __init__(self, status: int, code: str, detail: str, fields: dict | None = None, headers: dict | None = None):
        super().__init__(detail)
        self.status = status
        self.code = code
        self.detail = detail
        self.fields = fields or {}
        self.headers = headers or {}

    def body(self) -> bytes:
        return orjson.dumps({"error": {"code": self.code, "detail": self.detail, "fields": self.fields}})


@dataclass(frozen=True)
class DeviceEventInput:
    event_id: str
    type: str
    occurred_at: datetime | None
    payload: dict = field(default_factory=dict)
    body_hash: str = ""


def payload_too_large() -> IntakeError:
    return IntakeError(413, "payload_too_large", f"A JSON event is at most {MAX_JSON_BYTES} bytes.")


def parse_event(raw: bytes, content_type: str) -> DeviceEventInput:
    if len(raw) > MAX_JSON_BYTES:
        raise payload_too_large()
    media_type = content_type.split(";", 1)[0].strip().lower()
    if media_type != "application/json":
        raise IntakeError(415, "unsupported_media_type", "Send the event as application/json.")
    try:
        data = orjson.loads(raw)
    except orjson.JSONDecodeError:
        raise IntakeError(400, "malformed", "The body is not valid JSON.") from None
    if not isinstance(data, dict):
        raise IntakeError(400, "malformed", "The body must be a JSON object.")
    return event_of(data)


def event_of(data: dict, *, extra_errors: dict | None = None, content_hash: str = "") -> DeviceEventInput:
    """Validate an event's fields (a JSON body, or a multipart form's fields plus the hash of
    its file in `content_hash`). Raises a 400 with every field error."""
    errors: dict[str, list[str]] = dict(extra_errors or {})
    event_id = data.get("event_id")
    if not isinstance(event_id, str) or not _EVENT_ID.fullmatch(event_id):
        errors["event_id"] = ["Required: 1-64 characters of A-Z a-z 0-9 . _ : -"]
    event_type = data.get("type")
    if event_type not in EVENT_TYPES:
        errors["type"] = [f"Required: one of {', '.join(EVENT_TYPES)}."]
    occurred_at = None
    if data.get("occurred_at") is not None:
        occurred_at = _parse_time(data["occurred_at"])
        if occurred_at is None:
            errors["occurred_at"] = ["An ISO 8601 date and time, e.g. 2026-11-26T09:30:00Z."]
    if event_type == "scan":
        gtin_error = gtin_problem(data.get("gtin"))
        if gtin_error:
            errors["gtin"] = [gtin_error]
    if errors:
        raise IntakeError(400, "malformed", "The event has invalid fields.", fields=errors)
    # The same event sent again may differ in key order or spacing, not in content.
    body_hash = hashlib.sha256(orjson.dumps(data, option=orjson.OPT_SORT_KEYS) + content_hash.encode()).hexdigest()
    return DeviceEventInput(event_id=event_id, type=event_type, occurred_at=occurred_at, payload=data, body_hash=body_hash)


def gtin_problem(value) -> str | None:
    """Why `value` is not a GTIN-8/12/13/14 with a valid check digit (python-stdnum), or None."""
    if not isinstance(value, str) or len(value) not in GTIN_LENGTHS or not value.isdigit():
        return "Required for a scan: a GTIN of 8, 12, 13 or 14 digits, as a string."
    if not ean.is_valid(value):
        return "The GTIN's check digit is wrong: scan it again."
    return None


def _parse_time(value) -> datetime | None:
    if not isinstance(value, str) or len(value) > 40:
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def answer_body(*, event_id: str, outcome: str, detail: str, order: dict | None, extra: dict | None = None) -> bytes:
    """The contract's answer; `extra` adds fields after them (slot_status adds `prediction`)."""
    body = {"event_id": event_id, "outcome": outcome, "detail": detail, "order": order}
    if extra:
        body.update(extra)
    return orjson.dumps(body)
