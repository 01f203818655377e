"""Structured logs for the capture service: one ``logfmt`` line per event on stderr.

Events are logged with :func:`event` (a message plus ``key=value`` fields); :class:`LogfmtFormatter`
renders any record as ``ts=... level=... logger=... msg="..." key=value ...``, so lines can be
grepped by eye and parsed by log shippers alike.
"""

from __future__ import annotations

import logging
import sys
import time
from typing import Any

_FIELDS = "logfmt_fields"


def event(logger: logging.Logger, level: int, msg: str, **fields: Any) -> None:
    """Log ``msg`` with structured ``fields`` (rendered as ``key=value`` by the formatter)."""
    if logger.isEnabledFor(level):
        logger.log(level, msg, extra={_FIELDS: fields})


def _value(value: Any) -> str:
    text = value if isinstance(value, str) else str(value)
    if text == "" or any(c in text for c in ' "=\n\t'):
        escaped = text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
        return f'"{escaped}"'
    return text


class LogfmtFormatter(logging.Formatter):
    """``ts=2025-01-01T12:00:00.123Z level=info logger=recorder.capture msg="..." k=v``."""

    def format(self, record: logging.LogRecord) -> str:
        """Render one record as a logfmt line (an exception's traceback follows it)."""
        ts = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
        parts = [
            f"ts={ts}.{int(record.msecs):03d}Z",
            f"level={record.levelname.lower()}",
            f"logger={record.name}",
            f"msg={_value(record.getMessage())}",
        ]
        fields: dict[str, Any] = getattr(record, _FIELDS, None) or {}
        parts += [f"{key}={_value(value)}" for key, value in fields.items()]
        line = " ".join(parts)
        if record.exc_info:
            line += "\n" + self.formatException(record.exc_info)
        return line


def configure(level: int = logging.INFO) -> logging.Handler:
    """Send every ``recorder`` log record to stderr as logfmt; returns the handler installed."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(LogfmtFormatter())
    root = logging.getLogger("recorder")
    root.handlers = [h for h in root.handlers if not getattr(h, "_recorder_logfmt", False)]
    handler._recorder_logfmt = True  # type: ignore[attr-defined]
    root.addHandler(handler)
    root.setLevel(level)
    root.propagate = False
    return handler
