"""What a flow run shows in the Prefect UI: the comparison and the gate's decision as
artifacts, so a run says more than "Completed()". Best effort: publishing never fails a
run that trained and registered a model."""

from __future__ import annotations

import logging
import math
from typing import Any

log = logging.getLogger(__name__)


def publish_comparison(key: str, rows: list[dict[str, Any]], description: str) -> None:
    """One table artifact: a row per candidate (numbers rounded for reading)."""
    from prefect.artifacts import create_table_artifact

    readable = [{name: _readable(value) for name, value in row.items()} for row in rows]
    _publish(create_table_artifact, key=key, table=readable, description=description)


def publish_decision(key: str, model: str, version: str, label: str, reasons: list[str]) -> None:
    """One markdown artifact: the gate's decision on the registered version and why."""
    from prefect.artifacts import create_markdown_artifact

    lines = [f"# {model} version {version}: {label}", "", *(f"- {reason}" for reason in reasons)]
    _publish(
        create_markdown_artifact,
        key=key,
        markdown="\n".join(lines),
        description=f"gate decision on {model} v{version}",
    )


def _readable(value: Any) -> Any:
    if isinstance(value, float):
        return None if math.isnan(value) else round(value, 4)
    return value


def _publish(create, **artifact) -> None:
    try:
        create(**artifact)
    except Exception as exc:  # noqa: BLE001 - an artifact is a view; the run's work stands
        log.warning("could not publish the %s artifact: %s", artifact.get("key"), exc)
