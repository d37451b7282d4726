#!/usr/bin/env bash
# Benchmark UPSTREAM masakari-api 22.0.0 the same way as run_ours.sh: installs
# it (once) into its own venv outside the repo, writes masakari.conf
# (noauth2, PostgreSQL, RabbitMQ), fresh database + `masakari-manage db sync`,
# inserts the bench segment and hosts with SQL (upstream checks every new host
# against Nova, which this machine does not run), serves masakari.wsgi.api
# through bench/upstream_wsgi.py under gunicorn with W sync workers, runs
# bench/load.py (which adds the notifications through the API), stops.
#
#   bench/run_upstream.sh                        # W=2, concurrency 4
#   W=4 bench/run_upstream.sh --concurrency 1,4  # extra arguments go to load.py
#
# Knobs: W (2), PORT (15871), BENCH_DB (masakari_bench_upstream), PGHOST_URL,
# UPSTREAM_VENV (/tmp/masakari-upstream-venv), UPSTREAM_VERSION (22.0.0),
# WORK (/tmp/masakari-bench-upstream: config, logs, results), RESULT, HOSTS (1000).
#
# Upstream settings that differ from its defaults, and why:
#   auth_strategy = noauth2        no Keystone here (ours runs MASAKARI_AUTH=noauth)
#   osapi_max_limit = 5000         so one request lists all 5000 notifications
#   notification_delay_max = 0     default 5: without a coordination backend upstream
#                                  sleeps uniform(0, 5) s before every notification
#                                  create; that is a workaround, not work, and would
#                                  make the create comparison meaningless.
# masakari-engine is not started (neither is our Celery worker): the RPC cast
# of a new notification goes to RabbitMQ and nobody consumes it.
set -euo pipefail

# --serve: only start the server and keep it up until TERM (run_both.sh uses it).
SERVE=0
if [ "${1:-}" = --serve ]; then SERVE=1; shift; fi

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
W=${W:-2}
PORT=${PORT:-15871}
BENCH_DB=${BENCH_DB:-masakari_bench_upstream}
PGHOST_URL=${PGHOST_URL:-postgres://postgres@127.0.0.1:5432}
UPSTREAM_VENV=${UPSTREAM_VENV:-/tmp/masakari-upstream-venv}
UPSTREAM_VERSION=${UPSTREAM_VERSION:-22.0.0}
WORK=${WORK:-/tmp/masakari-bench-upstream}
RESULT=${RESULT:-$WORK/upstream-w$W.json}
HOSTS=${HOSTS:-1000}

case "$UPSTREAM_VENV" in "$(cd "$HERE/.." && pwd)"*) echo "keep the venv outside the repo" >&2; exit 1;; esac
mkdir -p "$WORK"

# --- install (once) -----------------------------------------------------------
if ! "$UPSTREAM_VENV/bin/python" -c "import masakari, gunicorn, psycopg2" 2>/dev/null \
   || [ "$("$UPSTREAM_VENV/bin/python" -c 'import importlib.metadata as m; print(m.version("masakari"))')" != "$UPSTREAM_VERSION" ]; then
    echo "== upstream: installing masakari==$UPSTREAM_VERSION into $UPSTREAM_VENV"
    python3 -m venv "$UPSTREAM_VENV"
    "$UPSTREAM_VENV/bin/pip" install -q "masakari==$UPSTREAM_VERSION" gunicorn psycopg2-binary
fi
"$UPSTREAM_VENV/bin/pip" list 2>/dev/null | grep -i -E '^(masakari|sqlalchemy|oslo\.db|webob|eventlet|gunicorn) ' \
    > "$WORK/versions.txt" || true

# --- configuration -----------------------------------------------------------
PASTE=$(ls "$UPSTREAM_VENV"/etc/masakari/api-paste.ini 2>/dev/null || true)
if [ -z "$PASTE" ]; then
    PASTE=$("$UPSTREAM_VENV/bin/python" - <<'EOF'
import importlib.metadata as m
for f in m.distribution("masakari").files:
    if str(f).endswith("api-paste.ini"):
        print(f.locate()); break
EOF
)
fi
cp "$PASTE" "$WORK/api-paste.ini"
PG_SA_URL="postgresql+psycopg2://${PGHOST_URL#postgres://}/$BENCH_DB"
cat >"$WORK/masakari.conf" <<EOF
[DEFAULT]
auth_strategy = noauth2
transport_url = rabbit://guest:guest@127.0.0.1:5672/
osapi_max_limit = 5000
notification_delay_max = 0
debug = false
log_file = $WORK/masakari-api.log

[database]
connection = $PG_SA_URL

[taskflow]
# db sync loads the engine's taskflow driver, which insists on this (it also
# creates taskflow's persistence tables there, as a real deployment has).
connection = $PG_SA_URL
EOF

GUNICORN_PID=""
cleanup() {
    local rc=$?
    if [ -n "$GUNICORN_PID" ] && kill -0 "$GUNICORN_PID" 2>/dev/null; then
        kill -TERM "$GUNICORN_PID" 2>/dev/null || true
        for _ in $(seq 1 40); do kill -0 "$GUNICORN_PID" 2>/dev/null || break; sleep 0.5; done
        kill -KILL "$GUNICORN_PID" 2>/dev/null || true
    fi
    exit $rc
}
trap cleanup EXIT INT TERM

psql_admin() { psql -q -v ON_ERROR_STOP=1 "$PGHOST_URL/postgres" "$@"; }

if ss -ltn | grep -q "127.0.0.1:$PORT "; then
    echo "port $PORT is busy; set PORT" >&2; exit 1
fi

# --- database ----------------------------------------------------------------
echo "== upstream: fresh database $BENCH_DB, db sync"
psql_admin -c "DROP DATABASE IF EXISTS $BENCH_DB WITH (FORCE)" -c "CREATE DATABASE $BENCH_DB"
"$UPSTREAM_VENV/bin/masakari-manage" --config-file "$WORK/masakari.conf" db sync \
    >"$WORK/db-sync.log" 2>&1 || { cat "$WORK/db-sync.log" >&2; exit 1; }

echo "== upstream: segment + $HOSTS hosts by SQL (same names/attributes load.py uses)"
SEG=$(python3 -c 'import uuid; print(uuid.uuid4())')
psql -q -v ON_ERROR_STOP=1 "$PGHOST_URL/$BENCH_DB" <<EOF
INSERT INTO failover_segments (created_at, deleted, uuid, name, service_type, description,
                               recovery_method, enabled)
VALUES (now() AT TIME ZONE 'utc', 0, '$SEG', 'bench-segment', 'COMPUTE', NULL, 'auto', true);
INSERT INTO hosts (created_at, deleted, uuid, name, reserved, type, control_attributes,
                   failover_segment_id, on_maintenance)
SELECT now() AT TIME ZONE 'utc', 0, gen_random_uuid()::text,
       'bench-host-' || lpad(i::text, 4, '0'), false, 'COMPUTE', 'SSH', '$SEG', false
FROM generate_series(0, $HOSTS - 1) AS i;
EOF

# --- serve -------------------------------------------------------------------
echo "== upstream: gunicorn, $W workers, 127.0.0.1:$PORT"
OS_MASAKARI_CONFIG_DIR="$WORK" "$UPSTREAM_VENV/bin/gunicorn" upstream_wsgi:application \
    --chdir "$HERE" --workers "$W" --bind "127.0.0.1:$PORT" --no-control-socket \
    >"$WORK/gunicorn.log" 2>&1 &
GUNICORN_PID=$!
for _ in $(seq 1 60); do
    curl -sf -m 2 -o /dev/null "http://127.0.0.1:$PORT/" && break
    kill -0 "$GUNICORN_PID" 2>/dev/null || { cat "$WORK/gunicorn.log" >&2; exit 1; }
    sleep 0.5
done
curl -sf -m 2 -o /dev/null "http://127.0.0.1:$PORT/" || { echo "server did not come up" >&2; exit 1; }

if [ "$SERVE" = 1 ]; then
    echo "== upstream: serving on http://127.0.0.1:$PORT until stopped"
    wait "$GUNICORN_PID"
    exit 0
fi
python3 "$HERE/load.py" --base-url "http://127.0.0.1:$PORT" --label "upstream" \
    --hosts "$HOSTS" --json "$RESULT" "$@"
echo "results: $RESULT"
