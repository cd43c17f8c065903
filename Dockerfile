# Senim image: the same locked install as `make run` / `make test` (uv sync --frozen).
#   docker build -t senim .
#   docker run --rm -e MLFLOW_TRACKING_URI=http://mlflow:5000 senim run
# Build args: PYTHON_VERSION (default 3.11), UV_VERSION (the uv that reads uv.lock).
ARG PYTHON_VERSION=3.11
FROM python:${PYTHON_VERSION}-slim-bookworm

ARG UV_VERSION=0.13.9
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    UV_LINK_MODE=copy \
    UV_COMPILE_BYTECODE=1 \
    SENIM_HOME=/var/lib/senim \
    SENIM_WORKSPACE=/app

RUN apt-get update \
    && apt-get install -y --no-install-recommends git libgomp1 \
    && rm -rf /var/lib/apt/lists/* \
    && pip install --no-cache-dir "uv==${UV_VERSION}" \
    && useradd --create-home --uid 10001 senim \
    && mkdir -p /var/lib/senim && chown senim /var/lib/senim

WORKDIR /app
# Dependencies first (cached layer), from the lock file only.
COPY pyproject.toml uv.lock README.md ./
RUN uv sync --frozen --no-dev --no-install-project
COPY . .
RUN uv sync --frozen --no-dev && chown -R senim /app/data /app/.dvc

USER senim
ENV PATH="/app/.venv/bin:${PATH}"
ENTRYPOINT ["senim"]
CMD ["run"]
