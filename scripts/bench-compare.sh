#!/bin/bash
# bench-compare.sh OLD_HOOKD NEW_HOOKD [OUT]: alternates two builds of `hookd bench` on the local PostgreSQL
# (127.0.0.1:5432, user postgres; a fresh database "bench_compare" per run) — steady 50/s and 200/s single calls,
# bursts of single calls from 32 clients and of PublishEvents of 100, 3 rounds each, old then new — and prints
# the table of README "Performance" (scripts/bench-compare-table.py). WAL per event is read from outside, the same
# way for both builds: the WAL written during a run minus that of a 20-event run of the same build (migrations
# and setup), per event. Measure on an otherwise quiet machine: WAL and PostgreSQL CPU are the whole cluster's.
set -euo pipefail
OLD=${1:?usage: bench-compare.sh OLD_HOOKD NEW_HOOKD [OUT]}
NEW=${2:?usage: bench-compare.sh OLD_HOOKD NEW_HOOKD [OUT]}
OUT=${3:-bench-compare.out}
: > "$OUT"
P=(psql -h 127.0.0.1 -U postgres -q -X)
run() { # bin label bench-flags...
  local bin=$1 label=$2; shift 2
  "${P[@]}" -c "DROP DATABASE IF EXISTS bench_compare" -c "CREATE DATABASE bench_compare" 2>/dev/null
  local l0 l1 wal out
  l0=$("${P[@]}" -Atc "SELECT pg_current_wal_lsn()")
  out=$("$bin" bench "$@" --database-url "postgres://postgres@127.0.0.1:5432/bench_compare?sslmode=disable" 2>&1 || true)
  l1=$("${P[@]}" -Atc "SELECT pg_current_wal_lsn()")
  wal=$("${P[@]}" -Atc "SELECT pg_wal_lsn_diff('$l1', '$l0')")
  echo "=== $label | walTotal $wal | $*" >> "$OUT"
  grep -E "delivered:|latency|CPU per|commits" <<<"$out" >> "$OUT" || true
}
build() { if [ "$1" = old ]; then echo "$OLD"; else echo "$NEW"; fi; }
for b in old new; do run "$(build $b)" "$b base" --events 20 --batch 1 --publishers 1; done
for round in 1 2 3; do
  for b in old new; do
    run "$(build $b)" "$b r$round rate50" --events 1500 --rate 50 --batch 1 --publishers 4
    run "$(build $b)" "$b r$round rate200" --events 4000 --rate 200 --batch 1 --publishers 4
  done
done
for round in 1 2 3; do
  for b in old new; do
    run "$(build $b)" "$b r$round single" --events 10000 --batch 1 --publishers 32
    run "$(build $b)" "$b r$round batch" --events 30000 --batch 100 --publishers 4
  done
done
"${P[@]}" -c "DROP DATABASE IF EXISTS bench_compare"
python3 "$(dirname "$0")/bench-compare-table.py" "$OUT"
