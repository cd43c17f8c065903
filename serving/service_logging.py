"""Log output for Senim's own loggers inside a server worker.

BentoML configures logging for its own loggers only, so without this a worker's
"not ready: <why>" and the prediction log's drop warnings would go nowhere (or to
Python's last-resort handler, WARNING and up only). Called once per worker at start-up,
never at import; it leaves any handler an operator configured alone.
"""

from __future__ import annotations

import logging
import sys

PACKAGES = ("senim", "serving", "auth", "pipelines")
FORMAT = "%(asctime)s [%(levelname)s] [%(name)s] %(message)s"


def configure_service_logging(level: int = logging.INFO) -> None:
    for name in PACKAGES:
        logger = logging.getLogger(name)
        if logger.handlers:
            continue
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter(FORMAT))
        logger.addHandler(handler)
        logger.setLevel(level)
        logger.propagate = False
