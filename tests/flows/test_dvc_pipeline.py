"""`dvc repro` on a clean copy of the repository reproduces the model; `dvc exp run -S` works."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from models.credit_candidates import FAMILIES
from tests.integration_workspace import TINY_FER, write_params

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[2]


def _clean_copy(target: Path) -> Path:
    """The tracked files as they are in the working tree, in a fresh git repository."""
    listed = (
        subprocess.run(["git", "ls-files", "-z"], cwd=REPO, capture_output=True, check=True)
        .stdout.decode()
        .split("\0")
    )
    for name in filter(None, listed):
        source = REPO / name
        if source.is_file():
            (target / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, target / name)
    subprocess.run(["git", "init", "-q"], cwd=target, check=True)
    # The repository's own identity: `dvc exp run` commits, and the tests run with a
    # throwaway HOME (no global git config).
    for key, value in (("user.name", "senim-test"), ("user.email", "test@senim.invalid")):
        subprocess.run(["git", "config", key, value], cwd=target, check=True)
    subprocess.run(["git", "add", "-A"], cwd=target, check=True)
    subprocess.run(["git", "commit", "-qm", "clean copy"], cwd=target, check=True)
    return target


def _run(args: list[str], cwd: Path, env: dict) -> subprocess.CompletedProcess:
    result = subprocess.run(
        args, cwd=cwd, env=env, capture_output=True, text=True, timeout=600, check=False
    )
    assert result.returncode == 0, (
        f"{args} failed:\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}"
    )
    return result


@pytest.fixture(scope="module")
def reproduced(tmp_path_factory):
    clone = _clean_copy(tmp_path_factory.mktemp("clone"))
    write_params(clone, fer=TINY_FER)
    git = ["git", "-c", "user.name=senim-test", "-c", "user.email=test@senim.invalid"]
    subprocess.run([*git, "commit", "-qam", "fast params for the test"], cwd=clone, check=True)
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("SENIM_", "MLFLOW_TRACKING", "PREFECT_API"))
    }
    env["SENIM_HOME"] = str(tmp_path_factory.mktemp("home"))
    user_home = tmp_path_factory.mktemp("user-home")
    env["HOME"] = str(user_home)
    for name in (
        "XDG_CONFIG_HOME",
        "XDG_CACHE_HOME",
        "XDG_DATA_HOME",
        "MPLCONFIGDIR",
        "PREFECT_HOME",
        "KERAS_HOME",
    ):
        env.pop(name, None)
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    dvc = str(Path(sys.executable).with_name("dvc"))
    _run([dvc, "repro"], clone, env)
    return {"clone": clone, "env": env, "dvc": dvc, "user_home": user_home}


def test_given_clean_clone_when_dvc_repro_then_model_and_metrics_reproduced(reproduced):
    clone = reproduced["clone"]
    lock = yaml.safe_load((clone / "dvc.lock").read_text())
    assert set(lock["stages"]) == {
        "ingest", "validate", "train", "fer-ingest", "fer-validate", "fer-train"
    }  # fmt: skip
    assert (clone / "data/credit/train/model/MLmodel").is_file()
    metrics = json.loads((clone / "data/credit/train/metrics.json").read_text())
    assert metrics["best"] in FAMILIES
    assert 0 < metrics["macro_f1"] <= 1 and metrics["best"] in metrics["candidates_macro_f1"]
    validation = json.loads((clone / "data/credit/validation/result.json").read_text())
    assert validation["success"] is True
    # the model's data version is the md5 DVC recorded for the ingest output
    ingest_md5 = lock["stages"]["ingest"]["outs"][0]["md5"]
    from mlflow.tracking import MlflowClient

    store = f"sqlite:///{reproduced['env']['SENIM_HOME']}/mlflow.db"
    client = MlflowClient(tracking_uri=store, registry_uri=store)  # not the process-wide URI
    champion = client.get_model_version_by_alias("credit-rating", "champion")
    assert champion.tags["data_version"] == ingest_md5
    assert champion.tags["git_commit"].startswith(
        subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=clone, capture_output=True, text=True, check=True
        ).stdout.strip()
    )
    # The pipeline's stages; `senim run` may also leave a .dvc file for its own snapshot.
    status = _run([reproduced["dvc"], "status"], clone, reproduced["env"])
    assert "up to date" in status.stdout.lower()
    # `dvc metrics show` stays readable: a couple of dozen columns, not hundreds
    shown = _run([reproduced["dvc"], "metrics", "show", "--json"], clone, reproduced["env"])

    def leaves(value) -> int:
        return sum(map(leaves, value.values())) if isinstance(value, dict) else 1

    files = json.loads(shown.stdout)[""]["data"]
    assert leaves({name: found["data"] for name, found in files.items()}) <= 25
    # `dvc plots show` builds a page of images only: nothing to fetch from the internet
    _run([reproduced["dvc"], "plots", "show"], clone, reproduced["env"])
    page = (clone / "dvc_plots" / "index.html").read_text()
    assert "<img" in page and "<script" not in page and "https://" not in page


def test_given_clean_clone_when_dvc_repro_then_fer_model_exported_and_registered(reproduced):
    clone = reproduced["clone"]
    lock = yaml.safe_load((clone / "dvc.lock").read_text())
    validation = json.loads((clone / "data/fer/validation/result.json").read_text())
    assert validation["success"] is True and validation["images"] == 7 * (24 + 8)
    metrics = json.loads((clone / "data/fer/train/artifacts/metrics.json").read_text())
    assert 0 <= metrics["accuracy"] <= 1 and len(metrics["confusion"]) == 7
    headline = json.loads((clone / "data/fer/train/metrics.json").read_text())
    assert headline["accuracy"] == metrics["accuracy"]
    exports = sorted(p.name for p in (clone / "data/fer/train/artifacts/exports").iterdir())
    assert exports == ["fer-emotion-float16.tflite", "fer-emotion-int8.tflite"]
    from mlflow.tracking import MlflowClient

    store = f"sqlite:///{reproduced['env']['SENIM_HOME']}/mlflow.db"
    client = MlflowClient(tracking_uri=store, registry_uri=store)  # not the process-wide URI
    champion = client.get_model_version_by_alias("fer-emotion", "champion")
    # the emotion model's data version is the md5 DVC recorded for fer-ingest's output
    assert champion.tags["data_version"] == lock["stages"]["fer-ingest"]["outs"][0]["md5"]
    # fer-train versions nothing itself: no .dvc file beside the stage's snapshot
    assert not (clone / "data/fer/images.npz.dvc").exists()


def test_given_pipeline_run_then_nothing_written_to_the_user_home(reproduced):
    """Stores stay under SENIM_HOME and the workspace: no ~/.prefect, ~/.mlflow, ~/.cache."""
    written = sorted(
        str(p.relative_to(reproduced["user_home"])) for p in reproduced["user_home"].rglob("*")
    )
    assert written == []


def test_given_reproduced_pipeline_when_a_credit_module_changes_then_only_credit_stages_rerun(
    reproduced,
):
    """Stage deps name the folders each stage runs: a credit edit never reruns FER."""
    clone, env, dvc = reproduced["clone"], reproduced["env"], reproduced["dvc"]
    module = clone / "pipelines" / "credit" / "rating_bands.py"
    original = module.read_text()
    module.write_text(original + "\n# an edit\n")
    try:
        status = _run([dvc, "status", "--json"], clone, env)
    finally:
        module.write_text(original)
    stale = {name.rpartition(":")[2] for name in json.loads(status.stdout)}
    assert stale == {"ingest", "validate", "train"}
    assert "up to date" in _run([dvc, "status"], clone, env).stdout.lower()


def test_given_reproduced_pipeline_when_exp_run_sets_param_then_only_train_reruns(reproduced):
    result = _run(
        [reproduced["dvc"], "exp", "run", "-S", "tuning.trials.decision_tree=1"],
        reproduced["clone"],
        reproduced["env"],
    )
    output = result.stdout + result.stderr
    assert "Running stage 'train'" in output
    assert "Running stage 'ingest'" not in output
    assert "Running stage 'fer-train'" not in output
    shown = _run(
        [reproduced["dvc"], "exp", "show", "--json"], reproduced["clone"], reproduced["env"]
    )
    experiments = [
        exp["revs"][0]["data"]["params"]["params.yaml"]["data"]
        for row in json.loads(shown.stdout)
        for exp in (row.get("experiments") or [])
    ]
    assert any(p["tuning"]["trials"]["decision_tree"] == 1 for p in experiments)
