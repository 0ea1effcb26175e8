"""Device credentials: serials, claim codes and tokens. Tokens are stored only as SHA-256."""

import hashlib
import secrets
from dataclasses import dataclass

# Crockford's base32 without I, L, O, U: easy to read off a label and type.
_ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
_KIND_PREFIX = {"button": "BTN", "wand": "WND", "appliance": "APL"}


def _random_chars(n: int) -> str:
    return "".join(secrets.choice(_ALPHABET) for _ in range(n))


def new_serial(kind: str) -> str:
    return f"{_KIND_PREFIX[kind]}-{_random_chars(10)}"


def new_claim_code() -> str:
    """16 symbols of base32 (80 bits): guessing one is hopeless even without rate limits."""
    raw = _random_chars(16)
    return "-".join(raw[i : i + 4] for i in range(0, 16, 4))


def normalize_claim_code(value: str) -> str:
    raw = "".join(ch for ch in value.upper() if ch.isalnum())
    raw = raw.replace("O", "0").replace("I", "1").replace("L", "1")
    return "-".join(raw[i : i + 4] for i in range(0, len(raw), 4))


def new_token() -> str:
    return "dt_" + secrets.token_urlsafe(30)


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


@dataclass(frozen=True)
class Credentials:
    serial: str
    claim_code: str
    token: str

    @property
    def token_hash(self) -> str:
        return hash_token(self.token)


def new_credentials(kind: str) -> Credentials:
    return Credentials(serial=new_serial(kind), claim_code=new_claim_code(), token=new_token())
