"""Filters that keep client-controlled text out of the service's logs, whatever the library that logs it.

uvicorn writes the request target with its query string (a token or a patient id put in a WebSocket URL
would land in the access line and in uvicorn's "WebSocket ... [accepted]" line); OpenTelemetry's W3C
propagator logs a malformed `tracestate` member with its value. The JSON handler's redaction knows field
names and nucleotide runs, not these, so the values are removed here, before any handler formats them.
"""

from __future__ import annotations

import logging
import re

QUERY_REDACTED = "?[query redacted]"
_QUERY = re.compile(r"\?[^\s\"]*")


class DropQueryStrings(logging.Filter):
    """The query string of every request target a uvicorn line carries (paths stay: they are route templates
    plus ids, and the audit log has them anyway)."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.args, tuple) and record.args:
            record.args = tuple(_QUERY.sub(QUERY_REDACTED, a) if isinstance(a, str) else a for a in record.args)
        elif isinstance(record.msg, str) and not record.args:
            record.msg = _QUERY.sub(QUERY_REDACTED, record.msg)
        return True


class DropArguments(logging.Filter):
    """Keep the message template, drop its arguments (the client's text)."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.args:
            args = record.args if isinstance(record.args, tuple) else (record.args,)
            record.args = tuple("[client value redacted]" for _ in args)
        return True


GUARDED_LOGGERS = {
    "uvicorn.access": DropQueryStrings,
    "uvicorn.error": DropQueryStrings,
    "opentelemetry.trace.span": DropArguments,  # TraceState.from_header: "... format %s", member
}


def install() -> None:
    """Attach each filter once (idempotent: the app may be created more than once in a process)."""
    for name, kind in GUARDED_LOGGERS.items():
        logger = logging.getLogger(name)
        if not any(isinstance(f, kind) for f in logger.filters):
            logger.addFilter(kind())
