"""Every deployment ``prefect.yaml`` declares points at a Prefect flow that exists, and the
scheduled ones (retraining, following the registry, the daily monitors) are there."""

from __future__ import annotations

import importlib
from pathlib import Path

import yaml

PREFECT_YAML = Path(__file__).resolve().parents[2] / "prefect.yaml"


def test_given_prefect_yaml_then_every_entrypoint_is_a_flow_and_the_monitors_run_daily():
    from prefect import Flow

    deployments = {d["name"]: d for d in yaml.safe_load(PREFECT_YAML.read_text())["deployments"]}
    for name, deployment in deployments.items():
        path, attribute = deployment["entrypoint"].split(":")
        module = importlib.import_module(path.removesuffix(".py").replace("/", "."))
        assert isinstance(getattr(module, attribute), Flow), name
    for monitor in ("monitor-credit-daily", "monitor-emotion-daily"):
        (schedule,) = deployments[monitor]["schedules"]
        minute, hour, *every_day = schedule["cron"].split()
        assert every_day == ["*", "*", "*"] and schedule["active"], monitor
