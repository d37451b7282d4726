#!/usr/bin/env bash
# Benchmark OUR server: fresh PostgreSQL database, `manage.py migrate`, gunicorn
# with W sync workers on 127.0.0.1:PORT, then bench/load.py against it; stops
# everything it started on exit (also on error or Ctrl-C).
#
#   bench/run_ours.sh                       # W=2, concurrency 4
#   W=4 bench/run_ours.sh --concurrency 1,4  # extra arguments go to load.py
#
# Knobs (environment): W (2), PORT (15870), BENCH_DB (masakari_bench_ours),
# PGHOST_URL (postgres://postgres@127.0.0.1:5432), REDIS_DB (14),
# PY (repo .venv python; `make test` or `make run` creates it), WORK
# (/tmp/masakari-bench-ours: logs, results), RESULT (JSON results file).
set -euo pipefail

# --serve: only start the server and keep it up until TERM (run_both.sh uses it).
SERVE=0
if [ "${1:-}" = --serve ]; then SERVE=1; shift; fi

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(cd "$HERE/.." && pwd)
W=${W:-2}
PORT=${PORT:-15870}
BENCH_DB=${BENCH_DB:-masakari_bench_ours}
PGHOST_URL=${PGHOST_URL:-postgres://postgres@127.0.0.1:5432}
REDIS_DB=${REDIS_DB:-14}
PY=${PY:-$REPO/.venv/bin/python}
WORK=${WORK:-/tmp/masakari-bench-ours}
RESULT=${RESULT:-$WORK/ours-w$W.json}

[ -x "$PY" ] || { echo "no python at $PY (run 'make test' or set PY)" >&2; exit 1; }
mkdir -p "$WORK"

export DATABASE_URL="$PGHOST_URL/$BENCH_DB"
export MASAKARI_AUTH=noauth
export CELERY_BROKER_URL="redis://127.0.0.1:6379/$REDIS_DB"
export MASAKARI_API_MAX_LIMIT=5000
export MASAKARI_VAR_DIR="$WORK/var"
export DJANGO_DEBUG=false
export LOG_LEVEL=${LOG_LEVEL:-WARNING}

GUNICORN_PID=""
cleanup() {
    local rc=$?
    if [ -n "$GUNICORN_PID" ] && kill -0 "$GUNICORN_PID" 2>/dev/null; then
        kill -TERM "$GUNICORN_PID" 2>/dev/null || true
        for _ in $(seq 1 40); do kill -0 "$GUNICORN_PID" 2>/dev/null || break; sleep 0.5; done
        kill -KILL "$GUNICORN_PID" 2>/dev/null || true
    fi
    # The notifications the benchmark created were queued for a worker that
    # never ran: drop them with the rest of this database number.
    redis-cli -n "$REDIS_DB" flushdb >/dev/null 2>&1 || true
    exit $rc
}
trap cleanup EXIT INT TERM

psql_admin() { psql -q -v ON_ERROR_STOP=1 "$PGHOST_URL/postgres" "$@"; }

if ss -ltn | grep -q "127.0.0.1:$PORT "; then
    echo "port $PORT is busy; set PORT" >&2; exit 1
fi

echo "== ours: fresh database $BENCH_DB"
psql_admin -c "DROP DATABASE IF EXISTS $BENCH_DB WITH (FORCE)" -c "CREATE DATABASE $BENCH_DB"
redis-cli -n "$REDIS_DB" flushdb >/dev/null
(cd "$REPO" && "$PY" manage.py migrate -v0)

echo "== ours: gunicorn, $W workers, 127.0.0.1:$PORT"
"$PY" -m gunicorn masakari_site.wsgi --chdir "$REPO" --workers "$W" \
    --bind "127.0.0.1:$PORT" --no-control-socket >"$WORK/gunicorn.log" 2>&1 &
GUNICORN_PID=$!
for _ in $(seq 1 60); do
    curl -sf -m 2 -o /dev/null "http://127.0.0.1:$PORT/" && break
    kill -0 "$GUNICORN_PID" 2>/dev/null || { cat "$WORK/gunicorn.log" >&2; exit 1; }
    sleep 0.5
done
curl -sf -m 2 -o /dev/null "http://127.0.0.1:$PORT/" || { echo "server did not come up" >&2; exit 1; }

if [ "$SERVE" = 1 ]; then
    echo "== ours: serving on http://127.0.0.1:$PORT until stopped"
    wait "$GUNICORN_PID"
    exit 0
fi
python3 "$HERE/load.py" --base-url "http://127.0.0.1:$PORT" --label "ours" \
    --json "$RESULT" --note "ours at $(git -C "$REPO" describe --always --dirty 2>/dev/null || echo unknown)" "$@"
echo "results: $RESULT"
