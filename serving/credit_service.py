"""The credit scoring service (BentoML, new-style service API).

Routes:

- ``POST /v1/credit/score``: one application -> band, probabilities, 0-100 score,
  confidence, approve/review/reject, reason codes and lineage. Concurrent requests are
  scored together (``serving.micro_batcher``).
- ``POST /v1/credit/score_batch``: ``{"applications": [...]}``, adaptive batching on.
- ``GET /v1/models``: the model being served.
- ``POST /v1/credit/outcomes``: realised ratings for logged predictions (monitoring);
  ``GET /v1/monitoring/credit/report``: the latest monitoring report
  (``serving.monitoring_routes``).
- ``/web/*``: the browser pages for credit officers, reviewers and admins
  (``serving.web``), behind the same sign-in;
- ``/auth/*``: the auth API; ``/livez``, ``/readyz``, ``/docs`` (OpenAPI) from BentoML.

Every ``/v1/*`` request passes, outermost first: ``GuardMiddleware`` (body limit, pickle
refused, request id), ``AuthMiddleware`` (API key or JWT, the route's permission, per-key
rate limit) and ``ScoringLedger`` (JSON only, batch limit, request id in the lineage,
prediction log). The model and the auth runtime load in the background: ``/readyz`` is
503 until both are up (see ``serving.credit_serving_state``).

Serve a deployed Bento with ``senim serve credit``; from source,
``bentoml serve serving.credit_service:CreditService``.
"""

from __future__ import annotations

from typing import Annotated

import bentoml
from bentoml.exceptions import ServiceUnavailable
from pydantic import Field

from auth.asgi import GuardMiddleware
from senim.environment import serving_workers
from serving.credit_outcomes import extend_credit_app
from serving.credit_schemas import MAX_BATCH, CreditApplication, CreditScore
from serving.credit_scoring import CreditScorer
from serving.credit_serving_state import CreditServingState
from serving.error_shape import UniformErrors
from serving.micro_batcher import MicroBatcher
from serving.platform_app import LazyPlatformApp, ServingAuth
from serving.route_metrics import install_route_labels
from serving.scoring_ledger import ScoringLedger
from serving.service_logging import configure_service_logging
from serving.web.app import LazyWebApp

# /metrics labels requests by route template, never by raw path (bounded series).
install_route_labels()

# One per worker process; empty until the service instance starts loading it.
STATE = CreditServingState()
# The auth API and GET /v1/models; mounted at both prefixes, so BentoML's own routes
# (/docs, /docs.json, /livez, ...) stay reachable.
PLATFORM_APP = LazyPlatformApp(
    STATE,
    extend=extend_credit_app,
    service_spec=lambda: CreditService.openapi_spec.asdict(),
    title="Senim credit scoring",
)
# The browser pages (sign-in, officer, reviewer, admin): serving.web, README "On the web".
WEB_APP = LazyWebApp(STATE)

# Room for a full batch (MAX_BATCH applications of about 1 KB); the mounted auth API
# applies its own, smaller auth.max_body_bytes.
MAX_BODY_BYTES = 2 * 1_048_576
# Adaptive batching: BentoML's CorkDispatcher answers 503 to a request it cannot serve
# within this budget, so it is set well above a full batch's scoring time.
BATCH_MAX_LATENCY_MS = 10_000

# Single-row batches up to this size score on the event loop (a thread hop costs more).
INLINE_MAX = 16

ApplicationList = Annotated[list[CreditApplication], Field(min_length=1, max_length=MAX_BATCH)]


@bentoml.service(
    name="credit-service",
    # `senim serve --workers N`: N processes; rate limits then live in the platform database
    workers=serving_workers(),
    traffic={"timeout": 30},
    # Every scoring request is already a row of the prediction log (caller, route,
    # status, latency) and every auth event is audited; a per-request access log line
    # on top cost ~5% of a single-row request.
    logging={"access": {"enabled": False}},
)
@bentoml.asgi_app(PLATFORM_APP, path="/auth")
@bentoml.asgi_app(PLATFORM_APP, path="/v1")
@bentoml.asgi_app(PLATFORM_APP, path="/docs")
@bentoml.asgi_app(WEB_APP, path="/web")
class CreditService:
    def __init__(self) -> None:
        self._batcher: MicroBatcher[CreditApplication, CreditScore] | None = None
        configure_service_logging()
        STATE.start()

    def __is_ready__(self) -> bool:
        return STATE.ready

    @bentoml.on_shutdown
    def _close(self) -> None:
        STATE.close()

    @bentoml.api(route="/v1/credit/score")
    async def score(self, application: CreditApplication, /) -> CreditScore:
        """Score one application."""
        if self._batcher is None:  # made on the worker's event loop, on first use
            self._batcher = MicroBatcher(
                lambda apps: _scorer().score(apps), MAX_BATCH, inline_max=INLINE_MAX
            )
        return await self._batcher.submit(application)

    @bentoml.api(
        route="/v1/credit/score_batch",
        batchable=True,
        max_batch_size=MAX_BATCH,
        max_latency_ms=BATCH_MAX_LATENCY_MS,
    )
    def score_batch(self, applications: ApplicationList) -> list[CreditScore]:
        """Score many applications; answers come back in the order sent."""
        return _scorer().score(applications)


def _scorer() -> CreditScorer:
    if STATE.loaded is None:
        raise ServiceUnavailable("the model is still loading")
    return STATE.loaded.scorer


CreditService.add_asgi_middleware(GuardMiddleware, max_body_bytes=MAX_BODY_BYTES)
CreditService.add_asgi_middleware(UniformErrors)
CreditService.add_asgi_middleware(ServingAuth, state=STATE)
CreditService.add_asgi_middleware(ScoringLedger, context=STATE.ledger)
