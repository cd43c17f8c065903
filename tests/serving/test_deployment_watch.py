"""DeploymentWatch: a running service reads its deployment record only when it changed,
and a record it cannot read is reported, never served."""

from __future__ import annotations

import json
import os

import pytest

from serving.deployment_watch import DeploymentRecordError, DeploymentWatch, ServingTarget


def _write(path, **state) -> None:
    path.write_text(json.dumps(state))


def test_given_no_record_when_polled_then_nothing_changes(tmp_path):
    watch = DeploymentWatch(tmp_path / "credit.json")

    assert watch.poll() is None
    assert watch.read() is None


def test_given_a_record_when_polled_twice_then_the_target_comes_once(tmp_path):
    record = tmp_path / "credit.json"
    _write(record, current="credit-rating:mlflow-v2", history=[], shadow="credit-rating:mlflow-v3")
    watch = DeploymentWatch(record)

    first = watch.poll()
    second = watch.poll()

    assert first == ServingTarget("credit-rating:mlflow-v2", "credit-rating:mlflow-v3")
    assert second is None


def test_given_the_record_rewritten_when_polled_then_the_new_target_comes(tmp_path):
    record = tmp_path / "credit.json"
    _write(record, current="credit-rating:mlflow-v2")
    watch = DeploymentWatch(record)
    watch.poll()

    _write(record, current="credit-rating:mlflow-v10")
    stat = record.stat()
    os.utime(record, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000))

    assert watch.poll() == ServingTarget("credit-rating:mlflow-v10")


@pytest.mark.parametrize(
    ("text", "match"),
    [
        ("{not json", "not valid JSON"),
        ("[1, 2]", "expected a JSON object"),
        (json.dumps({"current": 3}), "current must be a model tag"),
        (json.dumps({"current": "a:b", "shadow": "nocolon"}), "shadow must be a model tag"),
    ],
)
def test_given_a_broken_record_when_polled_then_an_error_names_the_file_and_field(
    tmp_path, text, match
):
    record = tmp_path / "credit.json"
    record.write_text(text)

    with pytest.raises(DeploymentRecordError, match=match) as raised:
        DeploymentWatch(record).poll()

    assert str(record) in str(raised.value)


def test_given_a_target_then_it_describes_live_and_shadow():
    assert ServingTarget("a:1", "a:2").describe() == "a:1, shadow a:2"
    assert ServingTarget(None).describe() == "nothing"
