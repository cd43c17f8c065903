#!/usr/bin/env bash
# The team MLflow tracking server started by hand: what `senim mlflow serve` runs.
#
# Prefer `senim mlflow serve`: it writes $SENIM_HOME/mlflow/basic_auth.ini (0600), creates
# the auth database, generates the admin password and CSRF key once (0600 files) and then
# runs exactly this. Use this script where Senim is not installed next to the server; run
# `senim mlflow serve --print-command` once to write the config and see the paths.
#
# Requires: mlflow[auth] (Flask-WTF), psycopg2, and for S3 artifacts boto3.
#
# Example:
#   export SENIM_HOME=/srv/senim
#   export MLFLOW_BACKEND=postgresql://mlflow:DB_PASSWORD@db.internal:5432/mlflow
#   export MLFLOW_ARTIFACTS=s3://senim-artifacts/mlflow          # or a local folder
#   export MLFLOW_S3_ENDPOINT_URL=http://minio.internal:9000      # S3-compatible stores
#   export AWS_ACCESS_KEY_ID=... AWS_SECRET_ACCESS_KEY=...
#   mlflow/serve.sh
set -euo pipefail

: "${SENIM_HOME:?set SENIM_HOME (holds mlflow/basic_auth.ini and the generated secrets)}"
: "${MLFLOW_BACKEND:?set MLFLOW_BACKEND=postgresql://user:PASSWORD@host:5432/mlflow}"
state="$SENIM_HOME/mlflow"

# basic_auth.ini: default_permission = READ, database_uri = the <db>_auth database,
# admin_username, grant_default_workspace_access = true. No password in it.
export MLFLOW_AUTH_CONFIG_PATH="$state/basic_auth.ini"
# Never MLflow's old default "password1234": the generated one, or your own from a vault.
export MLFLOW_AUTH_ADMIN_PASSWORD="${SENIM_MLFLOW_ADMIN_PASSWORD:-$(cat "$state/admin.password")}"
export MLFLOW_FLASK_SERVER_SECRET_KEY="${MLFLOW_FLASK_SERVER_SECRET_KEY:-$(cat "$state/flask-secret.key")}"
export MLFLOW_DISABLE_TELEMETRY=true

# --enable-workspaces: only a workspace USE grant (the senim-writers role) may create
# experiments and models; everyone else reads (see senim/cli/mlflow_server.py).
exec mlflow server \
  --app-name basic-auth \
  --enable-workspaces \
  --backend-store-uri "$MLFLOW_BACKEND" \
  --serve-artifacts \
  --artifacts-destination "${MLFLOW_ARTIFACTS:-$state/artifacts}" \
  --host "${MLFLOW_HOST:-127.0.0.1}" \
  --port "${MLFLOW_PORT:-5000}" \
  --workers "${MLFLOW_WORKERS:-2}" \
  ${MLFLOW_ALLOWED_HOSTS:+--allowed-hosts "$MLFLOW_ALLOWED_HOSTS"}
