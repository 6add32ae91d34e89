"""API keys with scopes and per-key rate limits (Typesense / Meilisearch style).

Scopes:

* ``search`` - the read routes (search, suggest, items, similar, recommendations,
  experiments) and the API docs;
* ``events`` - ``POST /v1/events``;
* ``admin``  - ``/v1/admin/*`` (reload, versions), ``/metrics`` and the ``?variant=`` QA
  override on any route.

Keys come from the file named by ``RECSYS_API_KEYS_FILE`` (TOML; only the sha256 of each key
is stored, ``recsys keys new`` writes an entry) and/or ``RECSYS_ADMIN_API_KEY`` (one key with
every scope, for quick setups). A client sends ``Authorization: Bearer <key>`` or
``X-API-Key: <key>``. With no key configured the service runs in **dev mode**: every route is
open (``recsys serve`` says so at startup). With keys, every route but ``/healthz``,
``/readyz`` and the docs' static assets needs one: 401 ``unauthorized`` without a valid key,
403 ``forbidden`` for a key without the route's scope, 429 ``rate_limited`` (with
``Retry-After``) past the key's token bucket.

```toml
[[keys]]
name = "web-app"                # shown in logs, never the key itself
sha256 = "9f86d08...c15d"       # sha256 hex of the key
scopes = ["search", "events"]
rate_per_s = 50.0               # token bucket refill (0: unlimited)
burst = 100                     # bucket size
```
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import threading
import time
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

from starlette.types import ASGIApp, Receive, Scope, Send

from api.admission import send_error
from recsys.core.errors import RecsysError

SCOPES = ("search", "events", "admin")
OPEN_PATHS = ("/healthz", "/readyz", "/static/")
ADMIN_PATHS = ("/v1/admin", "/metrics")
KEY_BYTES = 24


class ApiKeyConfigError(RecsysError):
    """The keys file is missing, unreadable or invalid (the message says where)."""


@dataclass
class TokenBucket:
    rate_per_s: float
    burst: float
    tokens: float = -1.0
    updated: float = field(default_factory=time.monotonic)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def take(self) -> float:
        """0.0 when a token was taken, else the seconds until one is available."""
        if self.rate_per_s <= 0:
            return 0.0
        with self.lock:
            now = time.monotonic()
            if self.tokens < 0:
                self.tokens = self.burst
            self.tokens = min(self.burst, self.tokens + (now - self.updated) * self.rate_per_s)
            self.updated = now
            if self.tokens >= 1.0:
                self.tokens -= 1.0
                return 0.0
            return (1.0 - self.tokens) / self.rate_per_s


@dataclass
class ApiKey:
    name: str
    digest: str  # sha256 hex
    scopes: frozenset[str]
    bucket: TokenBucket


def hash_key(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def new_key() -> str:
    return "rk_" + secrets.token_urlsafe(KEY_BYTES)


def load_keys(path: Path | None, admin_key: str | None) -> list[ApiKey]:
    """Every configured key; ApiKeyConfigError naming the problem."""
    keys: list[ApiKey] = []
    if admin_key:
        keys.append(
            ApiKey(
                "admin (RECSYS_ADMIN_API_KEY)",
                hash_key(admin_key),
                frozenset(SCOPES),
                TokenBucket(0.0, 0.0),
            )
        )
    if path is None:
        return keys
    try:
        data = tomllib.loads(Path(path).read_text())
    except (OSError, tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ApiKeyConfigError(f"{path}: cannot read the API keys file: {exc}") from exc
    entries = data.get("keys", [])
    if not isinstance(entries, list):
        raise ApiKeyConfigError(f"{path}: `keys` must be an array of tables ([[keys]])")
    for number, entry in enumerate(entries):
        keys.append(_parse_entry(entry, f"{path}: keys[{number}]"))
    names = [k.name for k in keys]
    if len(set(names)) != len(names):
        raise ApiKeyConfigError(f"{path}: key names must be unique")
    return keys


def _parse_entry(entry: Any, where: str) -> ApiKey:
    if not isinstance(entry, dict):
        raise ApiKeyConfigError(f"{where}: must be a table")
    unknown = sorted(set(entry) - {"name", "sha256", "scopes", "rate_per_s", "burst"})
    if unknown:
        raise ApiKeyConfigError(f"{where}: unknown field {unknown[0]!r}")
    name, digest, scopes = entry.get("name"), entry.get("sha256"), entry.get("scopes")
    if not isinstance(name, str) or not name:
        raise ApiKeyConfigError(f"{where}: `name` must be a non-empty string")
    if not isinstance(digest, str) or len(digest) != 64 or not _is_hex(digest):
        raise ApiKeyConfigError(f"{where}: `sha256` must be 64 hex digits (the key's hash)")
    if not isinstance(scopes, list) or not scopes or not set(scopes) <= set(SCOPES):
        raise ApiKeyConfigError(f"{where}: `scopes` must list some of {', '.join(SCOPES)}")
    rate, burst = entry.get("rate_per_s", 0.0), entry.get("burst", None)
    if not isinstance(rate, int | float) or rate < 0:
        raise ApiKeyConfigError(f"{where}: `rate_per_s` must be a number >= 0")
    burst = max(1.0, float(rate)) if burst is None else burst
    if not isinstance(burst, int | float) or burst < 1:
        raise ApiKeyConfigError(f"{where}: `burst` must be a number >= 1")
    return ApiKey(name, digest.lower(), frozenset(scopes), TokenBucket(float(rate), float(burst)))


def _is_hex(text: str) -> bool:
    return all(c in "0123456789abcdefABCDEF" for c in text)


def required_scope(method: str, path: str, query: bytes) -> str | None:
    """The scope a request needs (None: open to anyone)."""
    if path in OPEN_PATHS or path.startswith(OPEN_PATHS[-1]):
        return None
    if path.startswith(ADMIN_PATHS) or "variant" in parse_qs(query.decode("latin-1")):
        return "admin"
    if path.startswith("/v1/events"):
        return "events"
    return "search"


def presented_key(headers: list[tuple[bytes, bytes]]) -> str | None:
    for name, value in headers:
        lower = name.lower()
        if lower == b"x-api-key":
            return value.decode("latin-1").strip() or None
        if lower == b"authorization":
            scheme, _, token = value.decode("latin-1").partition(" ")
            if scheme.lower() == "bearer" and token.strip():
                return token.strip()
    return None


class ApiKeyMiddleware:
    """Pure ASGI: authenticates, authorizes by scope, rate-limits per key. Inactive (dev
    mode) when no key is configured."""

    def __init__(self, app: ASGIApp, keys: list[ApiKey], on_limited: Any = None) -> None:
        self.app = app
        self.keys = {k.digest: k for k in keys}
        self.on_limited = on_limited

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not self.keys:
            await self.app(scope, receive, send)
            return
        needed = required_scope(scope["method"], scope["path"], scope.get("query_string", b""))
        if needed is None:
            await self.app(scope, receive, send)
            return
        key = self._find(presented_key(scope.get("headers") or []))
        if key is None:
            await send_error(
                send,
                401,
                "unauthorized",
                "a valid API key is required (Authorization: Bearer <key> or X-API-Key)",
                {"WWW-Authenticate": 'Bearer realm="recsys"'},
            )
            return
        if needed not in key.scopes:
            await send_error(send, 403, "forbidden", f"this API key lacks the {needed!r} scope", {})
            return
        wait = key.bucket.take()
        if wait > 0:
            if self.on_limited is not None:
                self.on_limited(key.name)
            await send_error(
                send,
                429,
                "rate_limited",
                f"rate limit of key {key.name!r} reached; retry later",
                {"Retry-After": str(max(1, round(wait)))},
            )
            return
        scope.setdefault("state", {})["api_key"] = key.name
        await self.app(scope, receive, send)

    def _find(self, presented: str | None) -> ApiKey | None:
        if presented is None:
            return None
        digest = hash_key(presented)
        for known, key in self.keys.items():  # constant-time comparison of the digests
            if hmac.compare_digest(known, digest):
                return key
        return None
