"""Epoch listeners: the console line and bars, and the live MLflow curve."""

from __future__ import annotations

import math

from pipelines.fer.training import EpochReport
from pipelines.fer.training_progress import CURVE_METRICS, ConsoleProgress, MlflowCurve, epoch_line


def _report(epoch: int = 3, val_accuracy: float = 0.512) -> EpochReport:
    return EpochReport(epoch=epoch, epochs=30, loss=1.2345, accuracy=0.456, val_loss=1.1,
                       val_accuracy=val_accuracy, lr=0.001, seconds=190.2)  # fmt: skip


class _Recorder:
    def __init__(self) -> None:
        self.calls: list[tuple] = []

    def stage(self, message: str) -> None:
        self.calls.append(("stage", message))

    def start(self, key: str, description: str, total: int) -> None:
        self.calls.append(("start", key, description, total))

    def advance(self, key: str) -> None:
        self.calls.append(("advance", key))


def test_given_an_epoch_then_the_line_names_loss_and_publictest_accuracy():
    assert epoch_line(_report()) == (
        "epoch 3/30 · loss 1.234 · train acc 0.456 · PublicTest acc 0.512 · 190 s"
    )
    assert "PublicTest" not in epoch_line(_report(val_accuracy=math.nan))


def test_given_batches_and_epochs_then_one_batch_bar_restarts_each_epoch():
    reporter = _Recorder()
    progress = ConsoleProgress(reporter, "senim_cnn (cpu)", 30)
    for epoch in (1, 2):
        for batch in (1, 2):
            progress.on_batch(epoch, batch, 2)
        progress.on_epoch(_report(epoch=epoch))
    starts = [call for call in reporter.calls if call[0] == "start"]
    assert starts == [
        ("start", "fer-epochs", "training senim_cnn (cpu)", 30),
        ("start", "fer-batches", "epoch 1/30", 2),
        ("start", "fer-batches", "epoch 2/30", 2),
    ]
    assert reporter.calls.count(("advance", "fer-epochs")) == 2
    assert sum(1 for call in reporter.calls if call[0] == "stage") == 2


def test_given_an_epoch_then_the_curve_point_is_logged_at_that_step(tmp_path):
    import mlflow

    client = mlflow.MlflowClient(f"sqlite:///{tmp_path / 'mlflow.db'}")
    experiment = client.create_experiment("fer", artifact_location=str(tmp_path / "artifacts"))
    run_id = client.create_run(experiment).info.run_id
    curve = MlflowCurve(client, run_id)
    curve.on_epoch(_report(epoch=1, val_accuracy=0.3))
    curve.on_epoch(_report(epoch=2, val_accuracy=math.nan))
    points = client.get_metric_history(run_id, CURVE_METRICS["val_accuracy"])
    assert [(p.step, p.value) for p in points] == [(1, 0.3)]
    assert [p.step for p in client.get_metric_history(run_id, CURVE_METRICS["loss"])] == [1, 2]
