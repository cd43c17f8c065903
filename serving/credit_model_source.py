"""Which credit model a service serves, and loading it from the BentoML model store.

The tag comes, first match wins, from:

1. the Bento's build argument ``model_tag`` (``senim deploy credit`` builds each Bento
   pinned to one imported model, so a Bento always serves the model it was built with,
   and with the ``params.yaml`` it was built with);
2. ``SENIM_CREDIT_MODEL_TAG``;
3. the current deployment in ``SENIM_HOME/deployments/credit.json`` (serving from source,
   as the tests and ``bentoml serve serving.credit_service:CreditService`` do).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import replace

from pipelines.credit.predict import LoadedModel
from senim.config import ScoringParams
from senim.environment import Stores
from senim.errors import RegistryError
from serving.credit_schemas import CreditApplication
from serving.credit_scoring import CreditScorer
from serving.served_model import ServedModelCard

MODEL_TAG_ENV = "SENIM_CREDIT_MODEL_TAG"
logger = logging.getLogger(__name__)


def resolve_model_tag(stores: Stores, env: Mapping[str, str] | None = None) -> str:
    from pipelines.credit.deploy import CREDIT
    from pipelines.release.deploy import resolve_served_tag

    return resolve_served_tag(CREDIT, stores, MODEL_TAG_ENV, env)


def load_scorer(tag: str, scoring: ScoringParams) -> CreditScorer:
    """The model behind ``tag``, loaded whole and checked on one application before use."""
    import bentoml
    import mlflow
    from bentoml.exceptions import NotFound

    from pipelines.credit.model_serialization import import_model_types

    import_model_types()
    try:
        stored = bentoml.models.get(tag)
    except NotFound:
        raise RegistryError(f"model {tag} is not in the BentoML model store") from None
    try:
        model = mlflow.sklearn.load_model(stored.path_of("mlflow_model"))
    except Exception as exc:  # noqa: BLE001 - any load failure means "not servable", said why
        raise RegistryError(f"cannot load {tag}: {str(exc).splitlines()[0][:300]}") from None
    card = ServedModelCard.from_stored(stored)
    loaded = LoadedModel.of(model, str(stored.tag), card.model_version)
    logger.info("credit model %s inference: %s", stored.tag, loaded.inference.describe())
    card = replace(card, runtime=f"{loaded.inference.kind} inference")
    scorer = CreditScorer.build(loaded, card, scoring)
    _smoke_test(scorer)
    return scorer


def smoke_application() -> CreditApplication:
    """A plausible application (every ratio 1, the first sector) for a start-up check."""
    from pipelines.credit.schema import RATIO_COLUMNS, SECTOR, SECTORS

    return CreditApplication.model_validate(
        {**{column: 1.0 for column in RATIO_COLUMNS}, SECTOR: SECTORS[0]}
    )


def _smoke_test(scorer: CreditScorer) -> None:
    try:
        (result,) = scorer.score([smoke_application()])
    except Exception as exc:  # noqa: BLE001 - a model that cannot score is not servable
        raise RegistryError(
            f"model {scorer.card.bento_tag} failed its start-up check: {exc}"
        ) from None
    if result.lineage.model_version != scorer.card.model_version:
        raise RegistryError(f"model {scorer.card.bento_tag} reports the wrong version")
