#!/usr/bin/env bash
# `make demo`: the API under gunicorn on :8000 and the web frontend on :5173, both on
# 127.0.0.1, the frontend's origin allowed by CORS. Ctrl-C stops both.
set -euo pipefail
cd "$(dirname "$0")/../.."

BIN=${BIN:-.venv/bin}
API_PORT=${API_PORT:-8000}
WEB_PORT=${WEB_PORT:-5173}
export FLASK_APP=wsgi.py APP_ENV=${APP_ENV:-development}
export CORS_ORIGINS=${CORS_ORIGINS:-http://127.0.0.1:$WEB_PORT,http://localhost:$WEB_PORT}

if [ -z "${DATABASE_URL:-}" ]; then
  echo "make demo: DATABASE_URL not set, using embedded SQLite (instance/bookstore.db)"
fi
"$BIN/flask" db upgrade
"$BIN/flask" seed

pids=()
stop() {
  trap - EXIT INT TERM
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
}
trap stop EXIT INT TERM

PORT=$API_PORT "$BIN/gunicorn" -c gunicorn.conf.py wsgi:app &
pids+=($!)
"$BIN/python" -m http.server "$WEB_PORT" --bind 127.0.0.1 --directory clients/web &
pids+=($!)

api="http://127.0.0.1:$API_PORT"
web="http://127.0.0.1:$WEB_PORT/"
[ "$API_PORT" = 8000 ] || web="${web}?api=$api"
sleep 1
cat <<MSG

  API        $api   (docs: $api/docs)
  Frontend   $web
  CORS_ORIGINS=$CORS_ORIGINS

  Register in the page (any email, a password of 12+ characters), then order and pay.
  Ctrl-C stops both servers.

MSG
wait -n "${pids[@]}"
