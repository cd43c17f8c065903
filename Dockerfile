# Senim images, both from the same locked install as `make run` / `make test`
# (uv sync --frozen against uv.lock).
#
# The platform (retraining, CLI), target `app` (the default):
#   docker build -t senim .
#   docker run --rm -e MLFLOW_TRACKING_URI=http://mlflow:5000 senim run
#
# The credit scoring service, target `credit-service`, serving the Bento that
# `senim deploy credit --export dist/credit-service.bento` wrote (code, params.yaml and
# the pinned model version in one archive):
#   docker build --target credit-service \
#       --build-arg CREDIT_BENTO=dist/credit-service.bento -t senim-credit .
#   docker run -p 3000:3000 -e SENIM_DATABASE_URL=postgresql://... \
#       -e SENIM_JWT_SECRET=... -e SENIM_AUTH_ENCRYPTION_KEY=... senim-credit
#
# The emotion service, target `emotion-service`, likewise from
# `senim deploy emotion --export dist/emotion-service.bento` (it also serves /v1/edge/*;
# mount the edge signing key and set SENIM_EDGE_SIGNING_KEY_FILE):
#   docker build --target emotion-service \
#       --build-arg EMOTION_BENTO=dist/emotion-service.bento -t senim-emotion .
#
# Build args: PYTHON_VERSION (default 3.11), UV_VERSION (the uv that reads uv.lock),
# CREDIT_BENTO / EMOTION_BENTO (service targets: the exported Bento in the build context).
ARG PYTHON_VERSION=3.11
FROM python:${PYTHON_VERSION}-slim-bookworm AS app

ARG UV_VERSION=0.13.9
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    UV_LINK_MODE=copy \
    UV_COMPILE_BYTECODE=1 \
    SENIM_HOME=/var/lib/senim \
    SENIM_WORKSPACE=/app \
    BENTOML_HOME=/var/lib/senim/bentoml \
    BENTOML_DO_NOT_TRACK=true

RUN apt-get update \
    && apt-get install -y --no-install-recommends git libgomp1 \
    && rm -rf /var/lib/apt/lists/* \
    && pip install --no-cache-dir "uv==${UV_VERSION}" \
    && useradd --create-home --uid 10001 senim \
    && mkdir -p /var/lib/senim && chown senim /var/lib/senim

WORKDIR /app
# Dependencies first (cached layer), from the lock file only.
COPY pyproject.toml uv.lock README.md ./
RUN uv sync --frozen --no-dev --all-extras --no-install-project
COPY . .
RUN uv sync --frozen --no-dev --all-extras && chown -R senim /app/data /app/.dvc

USER senim
ENV PATH="/app/.venv/bin:${PATH}"
ENTRYPOINT ["senim"]
CMD ["run"]


FROM app AS credit-service
ARG CREDIT_BENTO=dist/credit-service.bento
# One OpenMP thread per worker (as `senim serve credit` sets): scale with workers.
# uvicorn must not believe X-Forwarded-For: the auth layer does, from SENIM_TRUSTED_PROXIES.
ENV OMP_NUM_THREADS=1 \
    FORWARDED_ALLOW_IPS=""
COPY --chown=senim ${CREDIT_BENTO} /tmp/credit-service.bento
RUN bentoml import /tmp/credit-service.bento && rm /tmp/credit-service.bento
EXPOSE 3000
HEALTHCHECK --interval=10s --timeout=3s --start-period=60s \
    CMD python -c "import urllib.request; urllib.request.urlopen('http://127.0.0.1:3000/readyz')"
ENTRYPOINT ["bentoml", "serve", "credit-service:latest", "--host", "0.0.0.0", "--port", "3000"]
CMD []


FROM app AS emotion-service
ARG EMOTION_BENTO=dist/emotion-service.bento
ENV FORWARDED_ALLOW_IPS=""
COPY --chown=senim ${EMOTION_BENTO} /tmp/emotion-service.bento
RUN bentoml import /tmp/emotion-service.bento && rm /tmp/emotion-service.bento
EXPOSE 3001
HEALTHCHECK --interval=10s --timeout=3s --start-period=60s \
    CMD python -c "import urllib.request; urllib.request.urlopen('http://127.0.0.1:3001/readyz')"
ENTRYPOINT ["bentoml", "serve", "emotion-service:latest", "--host", "0.0.0.0", "--port", "3001"]
CMD []
