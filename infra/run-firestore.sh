#!/usr/bin/env bash
# Serve the function locally against a Firestore emulator (`make run-firestore`).
#
# The emulator runs in a process group of its own with its output in a log file. If it is
# not up within FIRESTORE_START_TIMEOUT seconds (default 60), or exits first (its port is
# taken, Java is missing), its last lines are shown and the script exits 1. On TERM or INT,
# and whenever the function stops, the emulator's whole group (gcloud and its Java child)
# is stopped before the script exits.
set -uo pipefail

PORT="${PORT:-8080}"
HOST="${HOST:-127.0.0.1}"
FIRESTORE_PORT="${FIRESTORE_PORT:-8085}"
START_TIMEOUT="${FIRESTORE_START_TIMEOUT:-60}"
VENV="${VENV:-.venv}"

log="$(mktemp "${TMPDIR:-/tmp}/firestore-emulator.XXXXXX")"
emulator=""
server=""

stop() {
  trap - EXIT INT TERM
  if [ -n "$server" ]; then
    kill -TERM "$server" 2>/dev/null
    wait "$server" 2>/dev/null
  fi
  if [ -n "$emulator" ]; then
    kill -TERM -- "-$emulator" 2>/dev/null
    for _ in $(seq 50); do
      kill -0 -- "-$emulator" 2>/dev/null || break
      sleep 0.2
    done
    kill -KILL -- "-$emulator" 2>/dev/null
  fi
  rm -f "$log"
}
trap 'stop; exit 130' INT
trap 'stop; exit 143' TERM
trap 'stop' EXIT

command -v gcloud >/dev/null || { echo "gcloud is not installed (the Firestore emulator comes with it)" >&2; exit 1; }

set -m  # a process group of its own: gcloud and the Java emulator it starts
gcloud emulators firestore start --host-port="127.0.0.1:$FIRESTORE_PORT" >"$log" 2>&1 &
emulator=$!
set +m

deadline=$((SECONDS + START_TIMEOUT))
until grep -q "is now running" "$log" \
  && curl -sf --max-time 1 "http://127.0.0.1:$FIRESTORE_PORT/" >/dev/null 2>&1; do
  if ! kill -0 "$emulator" 2>/dev/null || [ "$SECONDS" -ge "$deadline" ]; then
    if kill -0 "$emulator" 2>/dev/null; then
      reason="is not up after ${START_TIMEOUT} s"
    else
      reason="exited"
    fi
    echo "The Firestore emulator on 127.0.0.1:$FIRESTORE_PORT $reason; its last lines:" >&2
    tail -n 20 "$log" >&2
    exit 1
  fi
  sleep 0.5
done
echo "Firestore emulator on 127.0.0.1:$FIRESTORE_PORT"

export FIRESTORE_EMULATOR_HOST="127.0.0.1:$FIRESTORE_PORT"
export GOOGLE_CLOUD_PROJECT="${GOOGLE_CLOUD_PROJECT:-demo-session-events}"
export SESSION_EVENTS_STORE=firestore
# Says "serving on" once the function answers; refuses a taken port at once.
"$VENV/bin/python" infra/serve.py --host "$HOST" --port "$PORT" &
server=$!
wait "$server"
status=$?
server=""
exit "$status"
