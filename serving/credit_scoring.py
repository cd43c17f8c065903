"""Score credit applications with one loaded model: the service's whole computation.

Band, probabilities and score are ``pipelines.credit.predict``'s ``PublishedPrediction``
of the pipeline's own probabilities, exactly what ``senim credit predict`` writes for the
same model; both use the model's compiled form when it passed its check
(``pipelines.credit.inference``). Decision, confidence (the published probability of
the band) and reason codes are added on top. The preprocessing runs once per call and
feeds both the probabilities and the reason codes.

Nothing here knows about HTTP: the request id is stamped into each answer's lineage by
``serving.scoring_ledger`` (BentoML's adaptive batching merges rows of several requests
into one call, which therefore cannot know whose rows they are).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from pipelines.credit.decision import decide
from pipelines.credit.predict import (
    LoadedModel,
    PublishedPrediction,
    final_predictions,
    transformed_inputs,
)
from pipelines.credit.rating_bands import BANDS
from pipelines.credit.reason_codes import explain_rows
from pipelines.credit.scoring_inputs import ScoringDefaults
from senim.config import ScoringParams
from serving.compiled_preprocess import CompiledPreprocess
from serving.credit_schemas import (
    CreditApplication,
    CreditScore,
    Lineage,
    ReasonCode,
    scoring_rows,
)
from serving.served_model import ServedModelCard

# The request id is not known where rows are scored; the ledger replaces this.
UNSTAMPED_REQUEST_ID = "-"


@dataclass(frozen=True)
class CreditScorer:
    loaded: LoadedModel
    card: ServedModelCard
    scoring: ScoringParams
    # The preprocessing as numpy (verified against the pipeline's); None: use the pipeline.
    compiled: CompiledPreprocess | None = None

    @classmethod
    def build(
        cls, loaded: LoadedModel, card: ServedModelCard, scoring: ScoringParams
    ) -> CreditScorer:
        preprocess = loaded.model.named_steps.get("preprocess")
        return cls(loaded, card, scoring, CompiledPreprocess.compile(preprocess))

    def score(self, applications: Sequence[CreditApplication]) -> list[CreditScore]:
        """One answer per application, in order (an empty sequence gives an empty list)."""
        if not applications:
            return []
        import sklearn

        model = self.loaded.model
        # Read once per call: a request without agency or date is rated on the default
        # agency's scale as of today.
        defaults = ScoringDefaults.today(self.scoring.default_rating_agency)
        rows = scoring_rows(applications, defaults)
        # The request schema already refused NaN and infinity: skip re-checking them.
        with sklearn.config_context(assume_finite=True):
            if self.compiled is not None:
                transformed = self.compiled.transform(rows)
            else:
                transformed = transformed_inputs(model, rows.frame())
            compiled = self.loaded.inference.compiled
            scores = None
            if compiled is not None:
                # One walk down the trees gives the score and, for Saabas reasons, its parts.
                approximate = self.scoring.xgboost_contributions == "approximate"
                scores = compiled.score(transformed, contributions=approximate)
                proba, codes = scores.proba, scores.band_codes
                if not approximate:
                    compiled = scores = None  # TreeSHAP reasons come from the booster
            else:
                proba, codes = final_predictions(model, transformed)
            reasons = explain_rows(
                model,
                rows,
                top=self.scoring.top_reasons,
                transformed=transformed,
                xgboost_contributions=self.scoring.xgboost_contributions,
                compiled=compiled,
                scores=scores,
            )
        published = PublishedPrediction.of(proba, codes)
        lineage = Lineage(
            model_name=self.card.model_name,
            model_version=self.card.model_version,
            run_id=self.card.run_id,
            data_version=self.card.data_version,
            request_id=UNSTAMPED_REQUEST_ID,
        )
        results = []
        for row, why in enumerate(reasons):
            probabilities = dict(zip(BANDS, published.probabilities[row].tolist(), strict=True))
            score = float(published.scores[row])
            code = int(published.band_codes[row])
            results.append(
                CreditScore(
                    rating_band=BANDS[code],
                    band_code=code,
                    probabilities=probabilities,
                    score=score,
                    # Rounded once: the published probability of the band it names.
                    confidence=probabilities[BANDS[code]],
                    decision=decide(score, self.scoring),
                    reasons=[
                        ReasonCode(**{**r, "contribution": round(r["contribution"], 4)})
                        for r in why
                    ],
                    lineage=lineage,
                )
            )
        return results
