"""Log output for Senim's own loggers inside a server worker.

BentoML configures logging for its own loggers only, so without this a worker's
"not ready: <why>" and the prediction log's drop warnings would go nowhere (or to
Python's last-resort handler, WARNING and up only). Called once per worker at start-up,
never at import; it leaves any handler an operator configured alone.

BentoML logs every refused request (a 4xx: bad input) as an ERROR with a traceback that
quotes the rejected values; ``RefusedRequestFilter`` turns those into one WARNING line
naming the route, the fields and the problems, never the values.
"""

from __future__ import annotations

import logging
import sys

PACKAGES = ("senim", "serving", "auth", "pipelines")
FORMAT = "%(asctime)s [%(levelname)s] [%(name)s] %(message)s"
# Where BentoML's ``log_exception`` writes "Exception on <path> [<method>]".
BENTOML_HTTP_LOGGER = "bentoml._internal.server.http_app"


class RefusedRequestFilter(logging.Filter):
    """A client error is no server error: one WARNING line without the payload."""

    def filter(self, record: logging.LogRecord) -> bool:
        error = record.exc_info[1] if record.exc_info else None
        summary = refusal_summary(error) if error is not None else None
        if summary is not None:
            route = record.args[0] if isinstance(record.args, tuple) and record.args else "?"
            record.msg, record.args = "refused %s: %s", (route, summary)
            record.levelno, record.levelname = logging.WARNING, "WARNING"
            record.exc_info, record.exc_text = None, None
        return True


def refusal_summary(error: BaseException) -> str | None:
    """``2 invalid field(s): currentRatio (float_parsing), Sector (literal_error)`` for a
    pydantic ValidationError, the class name and status for a BentoML 4xx; None for any
    other error (a real fault keeps its traceback)."""
    from bentoml.exceptions import BentoMLException
    from pydantic import ValidationError

    if isinstance(error, ValidationError):
        fields = ", ".join(
            f"{'.'.join(str(part) for part in item['loc']) or 'body'} ({item['type']})"
            for item in error.errors(include_input=False, include_context=False)[:10]
        )
        return f"{error.error_count()} invalid field(s): {fields}"
    if isinstance(error, BentoMLException) and 400 <= error.error_code.value < 500:
        return f"{type(error).__name__} ({error.error_code.value})"
    return None


def configure_service_logging(level: int = logging.INFO) -> None:
    bentoml_http = logging.getLogger(BENTOML_HTTP_LOGGER)
    if not any(isinstance(f, RefusedRequestFilter) for f in bentoml_http.filters):
        bentoml_http.addFilter(RefusedRequestFilter())
    for name in PACKAGES:
        logger = logging.getLogger(name)
        if logger.handlers:
            continue
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter(FORMAT))
        logger.addHandler(handler)
        logger.setLevel(level)
        logger.propagate = False
