#!/usr/bin/env bash
# `make postman`: run the Postman collection with newman against a real gunicorn.
# Migrates and seeds DATABASE_URL (the embedded SQLite file when unset), serves on a spare
# port, runs newman, stops the server. Exits non-zero when any assertion fails.
set -euo pipefail
cd "$(dirname "$0")/../.."

BIN=${BIN:-.venv/bin}
NEWMAN=clients/node_modules/.bin/newman
export FLASK_APP=wsgi.py APP_ENV=${APP_ENV:-development}

if [ ! -x "$NEWMAN" ]; then
  echo "make postman: newman is missing; run 'make clients-deps' (needs node and npm)" >&2
  exit 1
fi
if [ -z "${DATABASE_URL:-}" ]; then
  echo "make postman: DATABASE_URL not set, using embedded SQLite (instance/bookstore.db)"
fi

"$BIN/flask" db upgrade
"$BIN/flask" seed

port=$("$BIN/python" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
base="http://127.0.0.1:$port"
mkdir -p instance
log="instance/postman-gunicorn.log"
PORT=$port WEB_CONCURRENCY=${WEB_CONCURRENCY:-2} "$BIN/gunicorn" -c gunicorn.conf.py wsgi:app >"$log" 2>&1 &
server=$!
stop_server() {
  kill "$server" 2>/dev/null || true
  wait "$server" 2>/dev/null || true
}
trap stop_server EXIT

ready=0
for _ in $(seq 1 100); do
  if ! kill -0 "$server" 2>/dev/null; then
    echo "make postman: gunicorn exited; its log ($log):" >&2
    tail -n 30 "$log" >&2
    exit 1
  fi
  if "$BIN/python" -c 'import sys, urllib.request; urllib.request.urlopen(sys.argv[1], timeout=1)' \
      "$base/health/live" 2>/dev/null; then
    ready=1
    break
  fi
  sleep 0.2
done
if [ "$ready" != 1 ]; then
  echo "make postman: gunicorn did not become ready on $base; see $log" >&2
  exit 1
fi

echo "make postman: API on $base (log: $log)"
"$NEWMAN" run clients/postman/bookstore.postman_collection.json \
  --environment clients/postman/bookstore.postman_environment.json \
  --env-var "baseUrl=$base" "$@"
