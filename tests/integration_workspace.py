"""A throwaway Senim workspace for integration tests: small, fast params and its own stores."""

from __future__ import annotations

from pathlib import Path

import yaml

# Small enough to retrain in well under a minute on 2 cores, large enough for 3
# company-grouped folds with SMOTE (k=3) in every training fold.
FAST_PARAMS: dict = {
    "data": {"source": "synthetic", "snapshot_path": "data/credit/snapshot.csv"},
    "synthetic": {
        "seed": 7,
        "n_companies": 110,
        "min_ratings_per_company": 1,
        "max_ratings_per_company": 5,
        "noise": 0.3,
    },
    "validation": {
        "min_rows": 50,
        "min_rows_per_band": 4,
        "max_null_fraction": 0.05,
        "max_duplicate_rows": 0,
    },
    "features": {"knn_neighbors": 3},
    "calibration": {"enabled": True, "inner_splits": 3},
    "behaviour": {
        "enabled": True,
        "sample_rows": 80,
        "directional_tolerance": 1.0,
        "min_prototype_gap": 10.0,
    },
    "cv": {"n_splits": 3, "seed": 3},
    "smote": {"k_neighbors": 3},
    "tuning": {
        "seed": 1,
        "pruning": True,
        "timeout_seconds": None,
        "trials": {
            "logistic_regression": 2,
            "decision_tree": 2,
            "random_forest": 1,
            "xgboost": 2,
            "ordinal_xgboost": 2,
        },
    },
    "baseline": {"enabled": True, "max_depth": [3], "learning_rate": [0.1], "n_estimators": [40]},
    "selection": {"metric": "macro_f1"},
    "gate": {
        "min_macro_f1": 0.2,
        "min_balanced_accuracy": 0.2,
        "min_within_one_band_accuracy": 0.5,
        "max_mean_abs_band_error": 1.5,
        "champion_tolerance": 0.0,
    },
    "registry": {"model_name": "credit-rating", "experiment": "credit-rating"},
    "scoring": {"approve_min_score": 60, "reject_max_score": 40},
    "orchestration": {"io_retries": 1, "io_retry_delay_seconds": [0.5]},
    # Integration tests promote on the gate alone; the review tests turn approval on.
    "review": {"approval_required_for": []},
}


# A FER config that trains in seconds: tiny synthetic faces, width 4, one epoch.
TINY_FER = {
    "data": {"source": "synthetic", "path": None, "snapshot_path": "data/fer/snapshot.npz"},
    "synthetic": {"seed": 5, "train_per_class": 24, "test_per_class": 8, "noise": 0.1},
    "validation": {
        "min_images_per_class": 5,
        "blank_std_threshold": 1.0,
        "max_blank_fraction": 0.01,
        "required_usages": ["Training", "PublicTest"],
    },
    "training": {
        "profile": "quick",
        "seed": 7,
        "profiles": {
            "quick": {
                "architecture": "senim_cnn",
                "width": 4,
                "epochs": 1,
                "batch_size": 32,
                "max_train_images": None,
                "augmentation": False,
                "lr_schedule": "constant",
                "early_stopping_patience": None,
                "baseline_epochs": 1,
            },  # fmt: skip
            "full": {},
        },
    },
    "gate": {
        "min_accuracy": 0.0,
        "min_macro_f1": 0.0,
        "champion_tolerance": 1.0,
        "max_int8_accuracy_drop": 1.0,
    },  # fmt: skip
    "registry": {"model_name": "fer-emotion", "experiment": "fer-emotion"},
}


# What points a run at stores (or a cluster) outside its SENIM_HOME: a test's workspace
# never inherits them from the machine it runs on.
OUTSIDE_STORES = (
    "MLFLOW_TRACKING_URI",
    "SENIM_OPTUNA_STORAGE",
    "SENIM_SOURCE_DSN",
    "SENIM_DVC_REMOTE",
    "SENIM_ARTIFACT_ROOT",
    "SENIM_DATABASE_URL",
    "SENIM_DASK_ADDRESS",
)


def write_params(workspace: Path, **sections: dict) -> Path:
    merged = {k: dict(v) for k, v in FAST_PARAMS.items()}
    for section, values in sections.items():
        merged[section] = {**merged.get(section, {}), **values}
    path = workspace / "params.yaml"
    path.write_text(yaml.safe_dump(merged, sort_keys=False))
    return path


def make_workspace(root: Path, monkeypatch, **sections: dict) -> Path:
    """A workspace folder with params.yaml, selected through SENIM_WORKSPACE/SENIM_HOME."""
    workspace = root / "workspace"
    workspace.mkdir(parents=True, exist_ok=True)
    write_params(workspace, **sections)
    monkeypatch.setenv("SENIM_WORKSPACE", str(workspace))
    monkeypatch.setenv("SENIM_HOME", str(root / "home"))
    for name in OUTSIDE_STORES:
        monkeypatch.delenv(name, raising=False)
    return workspace


def without_outside_stores(env: dict[str, str]) -> dict[str, str]:
    """``env`` for a child process that must keep to its own SENIM_HOME's stores."""
    return {key: value for key, value in env.items() if key not in OUTSIDE_STORES}
