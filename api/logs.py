"""Structured logs: one JSON object per line (``RECSYS_LOG_FORMAT=json``) or plain text.

Every request gets an access line from ``api.access`` with the request id, route template,
method, status, latency, and - for engine routes - the model version and experiment variant
that served it, and the API key's name when keys are on. In JSON each of these is a field,
so a log pipeline can filter on them without parsing messages.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import Any

import orjson

ACCESS_LOGGER = "api.access"
FIELDS = (
    "request_id",
    "route",
    "method",
    "status",
    "latency_ms",
    "model_version",
    "variant",
    "api_key",
)


class JsonFormatter(logging.Formatter):
    """``{"ts", "level", "logger", "message", <FIELDS present>, "exc"}`` per record."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        for name in FIELDS:
            value = getattr(record, name, None)
            if value is not None:
                entry[name] = value
        if record.exc_info:
            entry["exc"] = self.formatException(record.exc_info)
        return orjson.dumps(entry, default=str).decode()


def configure_logging(level: str, fmt: str) -> None:
    """Root logging for the service process: ``fmt`` is "json" or "text"."""
    handler = logging.StreamHandler()
    if fmt == "json":
        handler.setFormatter(JsonFormatter())
    else:
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access"):
        logging.getLogger(name).handlers[:] = []
        logging.getLogger(name).propagate = True


def access_line(scope_state: dict[str, Any], fields: dict[str, Any]) -> None:
    """Log one request (INFO on ``api.access``)."""
    extra = {
        **fields,
        "model_version": scope_state.get("model_version"),
        "variant": scope_state.get("variant"),
        "api_key": scope_state.get("api_key"),
    }
    logging.getLogger(ACCESS_LOGGER).info(
        "%s %s %s %.1f ms",
        fields["method"],
        fields["route"],
        fields["status"],
        fields["latency_ms"],
        extra=extra,
    )
