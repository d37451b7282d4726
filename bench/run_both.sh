#!/usr/bin/env bash
# Both servers side by side, measured interleaved: starts run_ours.sh --serve and
# run_upstream.sh --serve (same W), then ONE load.py run with two targets that
# alternates ours/upstream scenario by scenario and round by round, so load
# from anything else on the machine hits both alike; the summary table has the
# ours/upstream ratios. Stops both servers at the end.
#
#   bench/run_both.sh                                   # W=2, 4 clients, 3 rounds
#   W=4 bench/run_both.sh --concurrency 1,4 --rounds 5  # extra arguments go to load.py
#
# Knobs: W (2), OURS_PORT (15870), UPSTREAM_PORT (15871), RESULT
# (/tmp/masakari-bench-both-w$W.json), plus those of the two scripts.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
export W=${W:-2}
OURS_PORT=${OURS_PORT:-15870}
UPSTREAM_PORT=${UPSTREAM_PORT:-15871}
RESULT=${RESULT:-/tmp/masakari-bench-both-w$W.json}

PIDS=()
cleanup() {
    local rc=$?
    for pid in "${PIDS[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
    for pid in "${PIDS[@]}"; do wait "$pid" 2>/dev/null || true; done
    exit $rc
}
trap cleanup EXIT INT TERM

PORT=$OURS_PORT "$HERE/run_ours.sh" --serve &
PIDS+=($!)
PORT=$UPSTREAM_PORT "$HERE/run_upstream.sh" --serve &
PIDS+=($!)

# Up to 10 minutes: the first run installs upstream into its venv.
for port in "$OURS_PORT" "$UPSTREAM_PORT"; do
    for _ in $(seq 1 1200); do
        curl -sf -m 2 -o /dev/null "http://127.0.0.1:$port/" && break
        for pid in "${PIDS[@]}"; do
            kill -0 "$pid" 2>/dev/null || { echo "a server script exited early" >&2; exit 1; }
        done
        sleep 0.5
    done
    curl -sf -m 2 -o /dev/null "http://127.0.0.1:$port/" || { echo "no server on $port" >&2; exit 1; }
done

python3 "$HERE/load.py" --target "ours=http://127.0.0.1:$OURS_PORT" \
    --target "upstream=http://127.0.0.1:$UPSTREAM_PORT" --rounds 3 --json "$RESULT" \
    --note "ours at $(git -C "$HERE/.." describe --always --dirty 2>/dev/null || echo unknown)" "$@"
echo "results: $RESULT"
