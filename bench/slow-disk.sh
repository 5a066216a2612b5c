#!/usr/bin/env bash
# Sessions on a slow disk: every fsync of a `coffee up` cluster (three monitors, the broker at
# AMQP_URL) slowed to MS milliseconds by the LD_PRELOAD shim test/slowFsync.c (built here), from
# the moment the cluster is ready; CLIENTS clients at once on DATA. Prints each session's time,
# how many fsyncs were slowed, every monitor line calling a process down or hung after the
# clients started (there should be none), and any result file that differs from
# `coffee reference`.
#
#   bench/slow-disk.sh MS [DATA] [CLIENTS]
#   e.g. bun src/main.ts gen --out /tmp/dk-small --months 2024-01..2024-03 --transactions-per-month 3000 --quiet
#        bench/slow-disk.sh 1000 /tmp/dk-small 3
set -euo pipefail
cd "$(dirname "$0")/.."
MS=${1:?usage: bench/slow-disk.sh MS [DATA] [CLIENTS]}
DATA=${2:-/tmp/dk-small}
CLIENTS=${3:-3}
WORK=$(mktemp -d /tmp/coffee-slow-disk-XXXX)
trap 'rm -rf "$WORK"' EXIT
cc -shared -fPIC -O2 -o "$WORK/slow.so" test/slowFsync.c -ldl
bun src/main.ts reference --data "$DATA" --out "$WORK/ref" >/dev/null
echo 0 > "$WORK/delay"
PORT=$((20000 + RANDOM % 20000))
SLOW_FSYNC_FILE="$WORK/delay" SLOW_FSYNC_COUNT="$WORK/count" LD_PRELOAD="$WORK/slow.so" \
  bun src/main.ts up --state-dir "$WORK/state" --port "$PORT" --namespace "slowdisk$RANDOM" --monitors 3 \
  --transport amqp --delete-on-exit > "$WORK/up.out" 2> "$WORK/up.err" &
UP=$!
for _ in $(seq 1 200); do grep -q ready "$WORK/up.out" 2>/dev/null && break; sleep 0.2; done
grep -q ready "$WORK/up.out" || { echo "coffee up did not get ready:"; cat "$WORK/up.err"; kill "$UP"; exit 1; }
FROM=$(date -u +%Y-%m-%dT%H:%M:%S.%3N)
echo "$MS" > "$WORK/delay"
started=$(date +%s.%N)
pids=()
for k in $(seq 1 "$CLIENTS"); do
  bun src/main.ts --role client --gateway "127.0.0.1:$PORT" --data "$DATA" --out "$WORK/out" > "$WORK/client$k.out" 2>&1 &
  pids+=($!)
done
failed=0
for p in "${pids[@]}"; do wait "$p" || failed=$((failed + 1)); done
ended=$(date +%s.%N)
echo 0 > "$WORK/delay"
kill -TERM "$UP"; wait "$UP" || true
echo "fsync ${MS} ms, ${CLIENTS} clients: all done in $(echo "$ended - $started" | bc) s; $(stat -c %s "$WORK/count" 2>/dev/null || echo 0) fsyncs slowed; ${failed} clients failed"
for k in $(seq 1 "$CLIENTS"); do tail -n 1 "$WORK/client$k.out"; done
down=$(cat "$WORK/up.err" "$WORK"/state/logs/*.log 2>/dev/null | awk -v t="$FROM" '$1 >= t' | grep -E "is down|does not answer|replac" || true)
echo "monitor lines calling a process down or hung since the clients started: $(printf '%s' "$down" | grep -c . || true)"
[ -n "$down" ] && printf '%s\n' "$down" | head -5
for d in "$WORK"/out/session_*; do
  for q in query1.csv query2.csv query3.csv query4.csv; do cmp -s "$d/$q" "$WORK/ref/$q" || echo "DIFFERS: $d/$q"; done
done
