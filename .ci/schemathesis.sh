#!/usr/bin/env bash
# CI: property-based tests of the running API against its own OpenAPI document. Starts
# `zencall up` on a fresh database, reads the admin key it prints, and runs schemathesis against
# /openapi.json: no 5xx, and every status, content type, header and body as documented. Any
# finding fails. The database is SQLite in a temporary folder, or, with ST_POSTGRES_URL (a
# server URL whose role may create databases), a fresh PostgreSQL database dropped afterwards.
# `schemathesis.sh install` only installs schemathesis (so a caller can keep that out of the
# time it gives a run).
# Environment: ST_PORT (a free port by default), ST_MAX_EXAMPLES (100), ST_SEED (random), ZENCALL_BIN
# (target/debug/zencall, built here when not given).
set -euo pipefail
cd "$(dirname "$0")/.."

ST_VERSION=4.32.5
# A port nobody listens on: two runs side by side must never fuzz each other's server.
PORT=${ST_PORT:-$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')}
MAX_EXAMPLES=${ST_MAX_EXAMPLES:-100}
BASE="http://127.0.0.1:$PORT"

if [ "$(python3 -m pip show schemathesis 2>/dev/null | sed -n 's/^Version: //p')" != "$ST_VERSION" ]; then
  echo "CI: installing schemathesis $ST_VERSION"
  python3 -m pip install --quiet --disable-pip-version-check "schemathesis==$ST_VERSION"
fi
if [ "${1:-}" = "install" ]; then exit 0; fi

if [ -z "${ZENCALL_BIN:-}" ]; then
  cargo build --quiet --bin zencall
  ZENCALL_BIN=target/debug/zencall
fi

WORK=$(mktemp -d)
# Created before the server starts, so reading it never races the server's own redirection.
: >"$WORK/stdout"
SERVER=""
FUZZER=""
PG_DB=""
cleanup() {
  for pid in $FUZZER $SERVER; do
    kill "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
  done
  if [ -n "$PG_DB" ]; then psql "$ST_POSTGRES_URL" -qc "DROP DATABASE IF EXISTS $PG_DB" >/dev/null 2>&1 || true; fi
  rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 143' INT TERM

DB_ARGS=()
BACKEND=SQLite
if [ -n "${ST_POSTGRES_URL:-}" ]; then
  PG_DB="zencall_schemathesis_$$"
  psql "$ST_POSTGRES_URL" -qc "CREATE DATABASE $PG_DB" >/dev/null
  DB_ARGS=(--database-url "${ST_POSTGRES_URL%/*}/$PG_DB")
  BACKEND=PostgreSQL
fi

# Deliberately generous quotas (schemathesis sends hundreds of requests a minute with the one
# key), and a short outbound timeout so endpoint URLs on hosts that do not resolve fail fast.
ZENCALL__RATE_LIMITS__ADMIN_PER_MINUTE=1000000 \
  ZENCALL__WEBHOOKS__OUTBOUND__TIMEOUT_MS=1000 \
  ZENCALL__LOG__LEVEL="${ZENCALL__LOG__LEVEL:-warn}" \
  "$ZENCALL_BIN" up --port "$PORT" --data-dir "$WORK/data" "${DB_ARGS[@]}" >"$WORK/stdout" 2>"$WORK/stderr" &
SERVER=$!

KEY=""
for _ in $(seq 1 60); do
  KEY=$(awk '/admin API key/ { found = 1; next } found && $1 ~ /^zc_/ { print $1; exit }' "$WORK/stdout")
  if ! kill -0 "$SERVER" 2>/dev/null; then break; fi
  if [ -n "$KEY" ] && curl -fsS "$BASE/readyz" >/dev/null 2>&1; then break; fi
  sleep 1
done
# Our own server must be the one answering (a port taken by another one fails the bind).
if [ -z "$KEY" ] || ! kill -0 "$SERVER" 2>/dev/null || ! curl -fsS "$BASE/readyz" >/dev/null 2>&1; then
  echo "CI: zencall up did not start (or printed no admin key):" >&2
  cat "$WORK/stdout" "$WORK/stderr" >&2
  exit 1
fi

echo "CI: schemathesis $ST_VERSION against $BASE/openapi.json on $BACKEND ($MAX_EXAMPLES examples per operation)"
SEED_ARGS=()
if [ -n "${ST_SEED:-}" ]; then SEED_ARGS=(--seed "$ST_SEED"); fi
status=0
# From the scratch folder, where schemathesis leaves its cache.
(cd "$WORK" && exec python3 -m schemathesis.cli --no-color run "$BASE/openapi.json" \
  --header "Authorization: Bearer $KEY" \
  --checks "${ST_CHECKS:-not_a_server_error,status_code_conformance,content_type_conformance,response_headers_conformance,response_schema_conformance}" \
  --max-examples "$MAX_EXAMPLES" \
  --request-timeout 10 \
  --suppress-health-check too_slow \
  "${SEED_ARGS[@]}") &
FUZZER=$!
wait "$FUZZER" || status=$?
FUZZER=""

if grep -q "panicked" "$WORK/stderr"; then
  echo "CI: the server panicked during the run:" >&2
  grep -A5 "panicked" "$WORK/stderr" >&2
  status=1
fi
exit "$status"
