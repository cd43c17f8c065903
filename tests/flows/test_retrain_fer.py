"""The quick FER profile end to end: data in each form -> validate -> version -> train ->
export -> register -> gate -> `senim fer predict` (Keras and TFLite)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from pipelines.fer.predict import OUTPUT_COLUMNS
from tests.integration_workspace import TINY_FER, make_workspace

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def fer_store(tmp_path_factory):
    """One workspace with a registered quick FER model (synthetic source)."""
    from flows.retrain_fer import retrain_fer

    root = tmp_path_factory.mktemp("fer-store")
    with pytest.MonkeyPatch.context() as mp:
        make_workspace(root, mp, fer=TINY_FER)
        summary = retrain_fer()
        yield {"root": root, "summary": summary, "env": dict(__import__("os").environ)}


def test_given_synthetic_faces_when_retrained_then_registered_promoted_with_exports(fer_store):
    summary = fer_store["summary"]
    assert summary.registered_version == "1" and summary.decision == "promoted"
    assert summary.images == 7 * (24 + 8) and summary.device == "CPU"
    assert set(summary.exports) == {"float16", "int8"}
    assert 0 <= summary.accuracy <= 1 and summary.baseline_accuracy is not None
    snapshot = fer_store["root"] / "workspace" / "data/fer/snapshot.npz"
    assert snapshot.is_file() and snapshot.with_name("snapshot.npz.dvc").is_file()


def test_given_registered_version_then_lineage_and_export_tags_are_on_it(fer_store, monkeypatch):
    from pipelines.common.mlflow_store import mlflow_client
    from senim.environment import resolve_stores

    make_workspace(fer_store["root"], monkeypatch, fer=TINY_FER)
    client = mlflow_client(resolve_stores())
    version = client.get_model_version_by_alias("fer-emotion", "champion")
    tags = version.tags
    assert tags["data_version"] == fer_store["summary"].data_version
    assert tags["git_commit"] and tags["gx_result"] and tags["params_hash"]
    for kind in ("float16", "int8"):
        assert len(tags[f"export.{kind}.sha256"]) == 64
        assert int(tags[f"export.{kind}.size_bytes"]) > 0
        assert tags[f"export.{kind}.artifact"] == f"exports/fer-emotion-{kind}.tflite"


def test_given_a_retraining_then_the_registered_run_holds_the_curve_logged_per_epoch(
    fer_store, monkeypatch
):
    from pipelines.common.mlflow_store import mlflow_client
    from pipelines.fer.training_progress import CURVE_METRICS
    from senim.environment import resolve_stores

    make_workspace(fer_store["root"], monkeypatch, fer=TINY_FER)
    client = mlflow_client(resolve_stores())
    version = client.get_model_version_by_alias("fer-emotion", "champion")
    history = client.get_metric_history(version.run_id, CURVE_METRICS["val_accuracy"])
    epochs = TINY_FER["training"]["profiles"]["quick"]["epochs"]
    assert [point.step for point in history] == list(range(1, epochs + 1))
    assert all(0.0 <= point.value <= 1.0 for point in history)
    run = client.get_run(version.run_id)
    assert run.info.status == "FINISHED" and "accuracy" in run.data.metrics


@pytest.mark.parametrize("runtime", [None, "float16", "int8"])
def test_given_images_when_predicted_then_one_row_each_in_order(
    fer_store, tmp_path, monkeypatch, capsys, runtime
):
    from pipelines.fer.synthetic import generate_fer
    from senim.cli.app import main
    from senim.config import FerSyntheticParams

    make_workspace(fer_store["root"], monkeypatch, fer=TINY_FER)
    images = generate_fer(FerSyntheticParams(seed=99, train_per_class=2, test_per_class=1)).x
    source = tmp_path / "faces.npz"
    np.savez_compressed(source, x=images)
    output = tmp_path / "predicted.csv"
    args = ["fer", "predict", "--input", str(source), "--output", str(output)]
    with pytest.raises(SystemExit) as done:
        main(args + (["--tflite", runtime] if runtime else []))
    assert done.value.code in (0, None), capsys.readouterr().err
    frame = pd.read_csv(output)
    assert list(frame.columns) == list(OUTPUT_COLUMNS) and len(frame) == len(images)
    probabilities = frame[[c for c in frame.columns if c.startswith("p_")]].to_numpy()
    assert np.allclose(probabilities.sum(axis=1), 1, atol=0.02)
    assert (frame["label"] == probabilities.argmax(axis=1)).all()
    assert (frame["model_version"] == 1).all()


def test_given_bad_prediction_input_when_predicted_then_error_names_it_and_no_output(
    fer_store, tmp_path, monkeypatch, capsys
):
    from senim.cli.app import main

    make_workspace(fer_store["root"], monkeypatch, fer=TINY_FER)
    source = tmp_path / "wrong.npz"
    np.savez_compressed(source, x=np.zeros((2, 32, 32), dtype=np.uint8))
    output = tmp_path / "out.csv"
    with pytest.raises(SystemExit) as done:
        main(["fer", "predict", "--input", str(source), "--output", str(output)])
    assert done.value.code == 3
    assert "shape (N, 48, 48)" in capsys.readouterr().err
    assert not output.exists()


def test_given_a_private_test_part_when_trained_then_it_is_evaluated_and_logged(
    fer_store, tmp_path, monkeypatch
):
    """PrivateTest, when given, is reported (never used for selection or the gate)."""
    import mlflow

    from flows.retrain_fer import retrain_fer
    from pipelines.fer.schema import FerDataset
    from pipelines.fer.sources import read_fer_npz, write_fer_npz
    from pipelines.fer.synthetic import write_synthetic_fer
    from senim.config import FerSyntheticParams

    make_workspace(fer_store["root"], monkeypatch, fer=TINY_FER)
    small = FerSyntheticParams(seed=9, train_per_class=12, test_per_class=6)
    faces = read_fer_npz(write_synthetic_fer(tmp_path / "faces.npz", small, "npz"))
    usage = faces.usage.astype("<U11")  # room for "PrivateTest"
    test_rows = np.flatnonzero(usage == "PublicTest")
    usage[test_rows[::2]] = "PrivateTest"  # half of each class's test images
    data = write_fer_npz(FerDataset(faces.x, faces.y, usage), tmp_path / "with-private.npz")
    summary = retrain_fer(data_path=str(data))
    metrics = mlflow.get_run(summary.run_id).data.metrics
    assert 0 <= metrics["private_test_accuracy"] <= 1 and "private_test_macro_f1" in metrics


@pytest.mark.parametrize("form", ["csv", "folder", "npz"])
def test_given_each_data_form_when_trained_from_the_cli_then_a_new_version(
    fer_store, tmp_path, monkeypatch, capsys, form
):
    from pipelines.fer.synthetic import write_synthetic_fer
    from senim.cli.app import main
    from senim.config import FerSyntheticParams

    make_workspace(fer_store["root"], monkeypatch, fer=TINY_FER)
    small = FerSyntheticParams(seed=8, train_per_class=12, test_per_class=6)
    name = {"csv": "faces.csv", "folder": "faces", "npz": "faces.npz"}[form]
    data = write_synthetic_fer(tmp_path / name, small, form)
    with pytest.raises(SystemExit) as done:
        main(["fer", "train", "--data", str(data)])
    captured = capsys.readouterr()
    assert done.value.code in (0, None), captured.err
    assert "fer-emotion version" in captured.out and "exports: float16" in captured.out
    assert "epoch 1/1 · loss " in captured.err and "PublicTest acc " in captured.err


def test_given_a_test_file_when_trained_then_it_is_evaluated_without_training_copies(
    fer_store, tmp_path, monkeypatch, capsys
):
    """--test FILE: any form; every image but blanks and copies of training images."""
    import json

    import mlflow

    from pipelines.fer.schema import FerDataset
    from pipelines.fer.sources import read_fer_npz
    from pipelines.fer.synthetic import write_synthetic_fer
    from senim.cli.app import main
    from senim.config import FerSyntheticParams

    make_workspace(fer_store["root"], monkeypatch, fer=TINY_FER)
    small = FerSyntheticParams(seed=8, train_per_class=12, test_per_class=6)
    data = write_synthetic_fer(tmp_path / "faces.npz", small, "npz")
    training = read_fer_npz(data).part("Training")
    other = read_fer_npz(
        write_synthetic_fer(tmp_path / "other.npz", small.model_copy(update={"seed": 21}), "npz")
    ).part("PublicTest")
    copied = 3
    test = FerDataset.concatenate(
        [other, FerDataset(training.x[:copied], training.y[:copied], training.usage[:copied])],
        source="test",
    )
    test_csv = tmp_path / "test.csv"
    rows = [
        f"{label},{' '.join(map(str, image.ravel()))},{usage}"
        for image, label, usage in zip(test.x, test.y, test.usage, strict=True)
    ]
    test_csv.write_text("\n".join(["emotion,pixels,Usage", *rows]) + "\n")
    reports = tmp_path / "reports"
    with pytest.raises(SystemExit) as done:
        main(["fer", "train", "--data", str(data), "--test", str(test_csv),
              "--reports", str(reports)])  # fmt: skip
    captured = capsys.readouterr()
    assert done.value.code in (0, None), captured.err
    assert "test set accuracy" in captured.out
    saved = json.loads((reports / "artifacts" / "test_metrics.json").read_text())
    assert saved["images"] == {
        "images": len(test), "blank_dropped": 0, "training_copies_dropped": copied
    }  # fmt: skip
    assert sum(saved[f"support_{e}"] for e in ("Angry", "Happy", "Neutral")) > 0
    assert sum(v for k, v in saved.items() if k.startswith("support_")) == len(other)
    run_id = mlflow.search_runs(
        experiment_names=["fer-emotion"], order_by=["start_time DESC"], max_results=1
    ).iloc[0]["run_id"]
    metrics = mlflow.get_run(run_id).data.metrics
    assert metrics["test_accuracy"] == pytest.approx(saved["accuracy"])


def test_given_a_bad_test_file_when_trained_then_it_fails_before_training(
    fer_store, tmp_path, monkeypatch, capsys
):
    from senim.cli.app import main

    make_workspace(fer_store["root"], monkeypatch, fer=TINY_FER)
    bad = tmp_path / "test.csv"
    bad.write_text("emotion,pixels,Usage\n9,1 2 3,PublicTest\n")
    with pytest.raises(SystemExit) as done:
        main(["fer", "train", "--test", str(bad)])
    assert done.value.code == 3
    err = capsys.readouterr().err
    assert "test.csv" in err and "line 2" in err and "emotion" in err
