"""One retraining per family at a time, whoever starts it: the weekly schedule, a person
(`senim credit train`, `senim fer train`) or a monitor. Both retrain flows hold the
family's lease in the platform database while they run (``monitoring_store``), so the
rule holds across processes and Prefect workers that share that database."""

from __future__ import annotations

import functools
import inspect
import os
import time
from collections.abc import Callable
from typing import Any

from pipelines.release.monitoring_store import close_monitoring, open_monitoring, retraining_lease
from senim.config import load_params
from senim.environment import resolve_stores


def holds_retraining_lease(family: str, flow_name: str) -> Callable:
    """Wrap a retrain flow's function: take ``family``'s lease first (``reason``, when the
    caller passes one, is recorded on it), refuse with ``RetrainingInFlight`` when another
    retraining holds it, and give it back however the run ends."""

    def wrap(function: Callable) -> Callable:
        signature = inspect.signature(function)

        @functools.wraps(function)
        def run(*args: Any, **kwargs: Any) -> Any:
            # Prefect passes parameters positionally or by name: read them by name.
            given = signature.bind(*args, **kwargs).arguments
            stores = resolve_stores()
            params = load_params(given.get("params_path") or stores.params_path)
            holder = f"{flow_name} {time.strftime('%Y-%m-%d %H:%M:%S')} (pid {os.getpid()})"
            reason = given.get("reason") or "started by hand or on schedule"
            sessions = open_monitoring(stores.database_url)
            try:
                with retraining_lease(
                    sessions, family, holder, reason, params.monitoring.lease_minutes
                ):
                    return function(*args, **kwargs)
            finally:
                close_monitoring(sessions)

        return run

    return wrap
