"""Which types skops may load for our pipelines.

MLflow saves scikit-learn models with skops, which refuses any type it was not told to
trust. We trust exactly the types our own pipelines contain, and only from libraries we
depend on and Senim's ``models`` package, so a tampered artifact that smuggles in
another type still fails to load.
"""

from __future__ import annotations

from typing import Any

from senim.errors import SenimError

TRUSTED_MODULE_PREFIXES = (
    "models.",  # Senim's own model definitions (ordinal model, calibration, features)
    "sklearn.",
    "imblearn.",
    "xgboost.",
    "scipy.",  # SplineTransformer (the calibration) holds scipy B-splines
    "numpy.",
    "builtins.",
    "collections.",
)


def skops_trusted_types(model: Any) -> list[str]:
    import skops.io

    untrusted = skops.io.get_untrusted_types(data=skops.io.dumps(model))
    foreign = [t for t in untrusted if not t.startswith(TRUSTED_MODULE_PREFIXES)]
    if foreign:
        raise SenimError(
            f"model holds types Senim does not trust for loading: {', '.join(foreign)}"
        )
    return sorted(untrusted)


def import_model_types() -> None:
    """Import Senim's own types a saved pipeline may hold. skops resolves them by name while
    loading; importing them here also names them, so every service bundle ships them."""
    import models.band_calibration  # noqa: F401
    import models.credit_features  # noqa: F401
    import models.ordinal_bands  # noqa: F401
