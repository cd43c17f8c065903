"""The crash automation and the heartbeats it relies on: the shipped prefect.yaml and
params.yaml agree, the automation is Prefect's documented zombie detector scoped to
Senim's runs, and a prefect.yaml that beats slower than expected is refused by name.
(The real thing, a worker killed mid-run, is in test_prefect_workers.py.)"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
import yaml

from flows.crash_detection import (
    HEARTBEAT_ENV,
    RUN_TAG,
    WORK_POOL,
    check_deployment_heartbeats,
    crash_automation,
    deployment_heartbeats,
)
from senim.config import load_params
from senim.errors import ConfigError

REPO = Path(__file__).resolve().parents[2]


def test_given_the_shipped_files_then_every_deployment_beats_as_params_yaml_says_and_is_tagged():
    orchestration = load_params(REPO / "params.yaml").orchestration
    document = yaml.safe_load((REPO / "prefect.yaml").read_text())

    beats = deployment_heartbeats(REPO / "prefect.yaml")
    assert beats and set(beats.values()) == {str(orchestration.heartbeat_seconds)}
    check_deployment_heartbeats(REPO / "prefect.yaml", orchestration.heartbeat_seconds)
    for deployment in document["deployments"]:
        assert RUN_TAG in deployment["tags"], deployment["name"]
        assert deployment["work_pool"]["name"] == WORK_POOL


def test_given_heartbeats_and_missed_beats_then_the_automation_waits_their_product_for_senim_runs():
    automation = crash_automation(heartbeat_seconds=45, missed_heartbeats=4)

    trigger = automation.trigger
    assert trigger.posture == "Proactive"
    assert trigger.within == timedelta(seconds=180)
    assert trigger.after == {"prefect.flow-run.heartbeat"}
    assert {"prefect.flow-run.heartbeat", "prefect.flow-run.Completed"} <= trigger.expect
    assert trigger.for_each == {"prefect.resource.id"}
    related = trigger.match_related
    assert related.get("prefect.resource.id") == [f"prefect.tag.{RUN_TAG}"]
    (action,) = automation.actions
    assert action.type == "change-flow-run-state" and action.state.value == "CRASHED"
    assert "180 s" in action.message


def test_given_a_deployment_beating_slower_than_params_when_checked_then_it_is_refused_by_name(
    tmp_path,
):
    prefect_yaml = tmp_path / "prefect.yaml"
    prefect_yaml.write_text(
        yaml.safe_dump(
            {
                "deployments": [
                    {
                        "name": "fine",
                        "work_pool": {"job_variables": {"env": {HEARTBEAT_ENV: "60"}}},
                    },
                    {
                        "name": "slow",
                        "work_pool": {"job_variables": {"env": {HEARTBEAT_ENV: "180"}}},
                    },
                    {"name": "unset", "work_pool": {"name": WORK_POOL}},
                ]
            }
        )
    )

    with pytest.raises(ConfigError) as refused:
        check_deployment_heartbeats(prefect_yaml, 60)

    assert "slow (180)" in str(refused.value) and "unset (unset)" in str(refused.value)
    assert "fine" not in str(refused.value)


def test_given_a_broken_prefect_yaml_when_checked_then_the_error_names_the_file(tmp_path):
    prefect_yaml = tmp_path / "prefect.yaml"
    prefect_yaml.write_text("deployments: [\n")

    with pytest.raises(ConfigError, match="prefect.yaml: not valid YAML"):
        check_deployment_heartbeats(prefect_yaml, 60)
    with pytest.raises(ConfigError, match="cannot be read"):
        check_deployment_heartbeats(tmp_path / "missing.yaml", 60)
