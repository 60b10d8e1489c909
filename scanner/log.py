"""camscan's logging: the `camscan` logger hierarchy, text or JSON-lines output on stderr, secrets redacted.

Modules log through `logging.getLogger("camscan.<part>")`; `setup()` (called by the command line) decides the
level and the format. Structured fields go in `extra={"fields": {...}}` (LogRecord reserves names such as
`module`): the JSON format writes them as keys of the line,
the text format leaves them out. Every registered secret (credentials the operator gave) is replaced by
`***` in every line, message and fields alike, whatever logger wrote it.
"""

from __future__ import annotations

import json
import logging
import sys
import time
from datetime import UTC, datetime
from typing import IO, Any, Final

ROOT: Final = "camscan"
FORMATS: Final = ("text", "json")
REDACTED: Final = "***"
# attributes every LogRecord has; anything else on a record came from `extra=` and is a structured field
_STANDARD: Final = frozenset(vars(logging.LogRecord("", 0, "", 0, "", (), None))) | {"message", "asctime",
                                                                                    "taskName"}

_secrets: set[str] = set()
_context: dict[str, Any] = {}
_start_wall = time.time()


def get(name: str) -> logging.Logger:
    """The logger camscan.<name>."""
    return logging.getLogger(f"{ROOT}.{name}")


def level_for(verbose: int, quiet: bool) -> int:
    """-q: warnings and errors; default: progress (INFO); -v: DEBUG; -vv: DEBUG from other libraries too."""
    if quiet:
        return logging.WARNING
    return logging.INFO if verbose <= 0 else logging.DEBUG


def add_secret(value: str | None) -> None:
    """Never let value appear in a log line (values under 4 characters are too common to redact safely)."""
    if value and len(value) >= 4:
        _secrets.add(value)


def set_context(**fields: Any) -> None:
    """Fields every JSON line carries from now on (e.g. scan_id); a None value removes the field."""
    for k, v in fields.items():
        if v is None:
            _context.pop(k, None)
        else:
            _context[k] = v


def redact(text: str) -> str:
    """text with every registered secret replaced by ***."""
    for s in sorted(_secrets, key=len, reverse=True):
        if s in text:
            text = text.replace(s, REDACTED)
    return text


def _redact_value(v: Any) -> Any:
    if isinstance(v, str):
        return redact(v)
    if isinstance(v, dict):
        return {str(k): _redact_value(x) for k, x in v.items()}
    if isinstance(v, list | tuple | set | frozenset):
        return [_redact_value(x) for x in v]
    if v is None or isinstance(v, bool | int | float):
        return v
    return redact(str(v))


def fields_of(record: logging.LogRecord) -> dict[str, Any]:
    """The structured fields a record carries, redacted: `extra={"fields": {...}}` (any names, `module` too)
    and any other `extra=` key."""
    out: dict[str, Any] = {}
    for k, v in vars(record).items():
        if k == "fields" and isinstance(v, dict):
            out.update({str(fk): _redact_value(fv) for fk, fv in v.items()})
        elif k not in _STANDARD and not k.startswith("_"):
            out[k] = _redact_value(v)
    return out


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time (ISO 8601 UTC), level, logger, message, then context and fields."""

    def format(self, record: logging.LogRecord) -> str:
        doc: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(), "logger": record.name, "message": redact(record.getMessage()),
        }
        doc.update({k: _redact_value(v) for k, v in _context.items()})
        for k, v in fields_of(record).items():
            doc.setdefault(k, v)
        if record.exc_info:
            doc["exception"] = redact(self.formatException(record.exc_info))
        return json.dumps(doc, ensure_ascii=False, default=str)


class TextFormatter(logging.Formatter):
    """`camscan: 12.3s message` (seconds since start); warnings and errors say so."""

    def format(self, record: logging.LogRecord) -> str:
        tag = "" if record.levelno < logging.WARNING else f"{record.levelname.lower()}: "
        text = f"camscan: {record.created - _start_wall:.1f}s {tag}{record.getMessage()}"
        if record.exc_info:
            text += "\n" + self.formatException(record.exc_info)
        return redact(text)


class _Handler(logging.StreamHandler):   # type: ignore[type-arg]
    """Writes to the stream current at emit time (sys.stderr may be replaced, e.g. by a progress display)."""

    def __init__(self, stream: IO[str] | None) -> None:
        super().__init__(stream or sys.stderr)
        self._fixed = stream

    def emit(self, record: logging.LogRecord) -> None:
        if self._fixed is None and self.stream is not sys.stderr:
            # not setStream(): it flushes the stream it replaces, which may be closed by now (a finished capture)
            self.stream = sys.stderr
        super().emit(record)


_handler: _Handler | None = None


def setup(verbose: int = 0, quiet: bool = False, fmt: str = "text", stream: IO[str] | None = None) -> None:
    """Configure the camscan loggers (idempotent: a later call replaces the earlier settings)."""
    global _handler
    if fmt not in FORMATS:
        raise ValueError(f"log format must be one of {', '.join(FORMATS)}, not {fmt!r}")
    root = logging.getLogger(ROOT)
    if _handler is not None:
        root.removeHandler(_handler)
    _handler = _Handler(stream)
    _handler.setFormatter(JsonFormatter() if fmt == "json" else TextFormatter())
    root.addHandler(_handler)
    root.setLevel(level_for(verbose, quiet))
    root.propagate = False
    # -vv: other libraries' debug lines too, through the same handler and format
    other = logging.getLogger()
    for h in list(other.handlers):
        if isinstance(h, _Handler):
            other.removeHandler(h)
    if verbose >= 2 and not quiet:
        other.addHandler(_handler)
        other.setLevel(logging.DEBUG)


def handler() -> logging.Handler | None:
    """The handler setup() installed (None before)."""
    return _handler
