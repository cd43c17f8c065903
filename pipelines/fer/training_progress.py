"""Watching a long emotion-model training: a bar per epoch on the console and the curve
in MLflow while it runs (an hour on a CPU is too long to wait blind).

Both are ``pipelines.fer.training`` epoch listeners; the flow wires them to its reporter
and to the MLflow run it opens before training.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from typing import Any

from pipelines.fer.training import EpochReport
from senim.progress import Reporter

# MLflow metric names of the live curve, one point per epoch (step = epoch).
CURVE_METRICS: dict[str, str] = {
    "loss": "curve_train_loss",
    "accuracy": "curve_train_accuracy",
    "val_loss": "curve_publictest_loss",
    "val_accuracy": "curve_publictest_accuracy",
    "lr": "curve_learning_rate",
}


@dataclass
class ConsoleProgress:
    """A bar over the epochs, one over the current epoch's batches, a line per epoch."""

    reporter: Reporter
    label: str  # e.g. "senim_cnn (cpu)"
    epochs: int

    def __post_init__(self) -> None:
        self.reporter.start("fer-epochs", f"training {self.label}", self.epochs)
        self._epoch_shown = 0

    def on_batch(self, epoch: int, batch: int, batches: int) -> None:
        if epoch != self._epoch_shown:
            self._epoch_shown = epoch
            self.reporter.start("fer-batches", f"epoch {epoch}/{self.epochs}", batches)
        self.reporter.advance("fer-batches")

    def on_epoch(self, report: EpochReport) -> None:
        self.reporter.advance("fer-epochs")
        self.reporter.stage(epoch_line(report))


def epoch_line(report: EpochReport) -> str:
    """``epoch 3/30 · loss 1.234 · train acc 0.456 · PublicTest acc 0.512 · 190 s``."""
    parts = [f"epoch {report.epoch}/{report.epochs}", f"loss {report.loss:.3f}",
             f"train acc {report.accuracy:.3f}"]  # fmt: skip
    if not math.isnan(report.val_accuracy):
        parts.append(f"PublicTest acc {report.val_accuracy:.3f}")
    parts.append(f"{report.seconds:.0f} s")
    return " · ".join(parts)


@dataclass
class MlflowCurve:
    """Logs each epoch's metrics to an open MLflow run as it ends."""

    client: Any  # mlflow.MlflowClient
    run_id: str

    def on_batch(self, epoch: int, batch: int, batches: int) -> None:
        """The curve has a point per epoch, none per batch."""

    def on_epoch(self, report: EpochReport) -> None:
        from mlflow.entities import Metric

        now = int(time.time() * 1000)
        metrics = [
            Metric(name, float(getattr(report, field)), now, report.epoch)
            for field, name in CURVE_METRICS.items()
            if not math.isnan(float(getattr(report, field)))
        ]
        self.client.log_batch(self.run_id, metrics=metrics)
