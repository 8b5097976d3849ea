#!/usr/bin/env bash
# Snapshot pause and memory (W6): BGSAVE and BGREWRITEAOF on a dataset held
# in RAM, Strata (forkless incremental snapshot) against redis-server (fork),
# same machine, same data, alternating the two servers.
#
#   ./tools/snapshot_bench.sh                 # 1M SETs of 100 B (~630k keys)
#   QUICK=1 ./tools/snapshot_bench.sh         # 200k SETs
#
# Knobs: REQUESTS [1000000 / 200000], VALUE_SIZE [100], ROUNDS [3],
# NO_BUILD=1 (skip cargo build), STRATA_BIN.
#
# For each server and operation it measures, while the operation runs:
#   * the worst round trip of `redis-cli --latency` probes (ms resolution),
#     i.e. how long a client can wait behind the snapshot;
#   * the server process's peak RSS during the operation over its RSS just
#     before (Redis's parent process; its fork child's copy-on-write pages
#     are not in that figure, `latest_fork_usec` is printed instead);
#   * the operation's wall time.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
LOG_TAG=snapshot_bench
# shellcheck source=tools/lib.sh
. "$ROOT/tools/lib.sh"
need_cmds redis-server redis-cli redis-benchmark

QUICK="${QUICK:-0}"
if [[ "$QUICK" == 1 ]]; then REQ_DEFAULT=200000; else REQ_DEFAULT=1000000; fi
REQUESTS="${REQUESTS:-$REQ_DEFAULT}"
VALUE_SIZE="${VALUE_SIZE:-100}"
ROUNDS="${ROUNDS:-3}"
STRATA_BIN="${STRATA_BIN:-$ROOT/target/release/strata-server}"
if [[ "${NO_BUILD:-0}" != 1 ]]; then
  cargo build --release --bin strata-server >&2
fi

WORK="$(mktemp -d /tmp/snapshot-bench.XXXXXX)"
PIDS=()
cleanup() {
  for p in "${PIDS[@]}"; do kill -9 "$p" 2>/dev/null || true; done
  rm -rf "$WORK"
}
trap cleanup EXIT

start_server() { # kind dir port -> pid
  local kind=$1 dir=$2 port=$3
  mkdir -p "$dir"
  if [[ "$kind" == strata ]]; then
    "$STRATA_BIN" --port "$port" --dir "$dir" --save "" --appendonly no \
      >"$dir/log" 2>&1 &
  else
    redis-server --port "$port" --dir "$dir" --save "" --appendonly no \
      >"$dir/log" 2>&1 &
  fi
  local pid=$!
  PIDS+=("$pid")
  for _ in $(seq 1 500); do
    ping_ok "$port" && { echo "$pid"; return; }
    nap 0.02
  done
  log "$kind did not start"; cat "$dir/log" >&2; exit 1
}

# Runs OP (bgsave|bgrewriteaof) on PORT/PID; prints "max_ms rss_ratio secs".
measure() {
  local port=$1 pid=$2 op=$3 field=$4
  local before stop="$WORK/stop.$port" lat="$WORK/lat.$port" rss="$WORK/rss.$port"
  rm -f "$stop" "$lat" "$rss"
  before=$(proc_kb "$pid" VmRSS)
  ( peak=0
    while [[ ! -e "$stop" ]]; do
      r=$(proc_kb "$pid" VmRSS || echo 0)
      (( r > peak )) && peak=$r
      nap 0.005
    done
    echo "$peak" >"$rss" ) &
  local sampler=$!
  ( while [[ ! -e "$stop" ]]; do
      redis-cli -p "$port" --latency 2>/dev/null | awk '{print $2}' >>"$lat" || true
    done ) &
  local prober=$!
  nap 0.3
  local t0 t1
  t0=$(now)
  redis-cli -p "$port" "$op" >/dev/null
  nap 0.05
  while [[ "$(info_field "$port" persistence "$field")" != 0 ]]; do nap 0.01; done
  t1=$(now)
  nap 0.3
  touch "$stop"
  wait "$sampler" "$prober" 2>/dev/null || true
  local maxlat peak
  maxlat=$(sort -n "$lat" | tail -1)
  peak=$(cat "$rss")
  awk -v m="${maxlat:-0}" -v p="$peak" -v b="$before" -v s="$(secs_between "$t0" "$t1")" \
    'BEGIN { printf "%s %.3f %s\n", m, p / b, s }'
}

printf '%-6s %-7s %-13s %8s %10s %8s %s\n' round server op max_ms rss_ratio secs extra
declare -A RES
for round in $(seq 1 "$ROUNDS"); do
  for kind in strata redis; do
    port=$(free_port)
    dir="$WORK/$kind-$round"
    pid=$(start_server "$kind" "$dir" "$port")
    redis-benchmark -p "$port" -t set -n "$REQUESTS" -r "$REQUESTS" -d "$VALUE_SIZE" \
      -P 64 -q >/dev/null 2>&1
    keys=$(redis-cli -p "$port" dbsize)
    for op in bgsave bgrewriteaof; do
      field=rdb_bgsave_in_progress
      [[ "$op" == bgrewriteaof ]] && field=aof_rewrite_in_progress
      read -r m r s < <(measure "$port" "$pid" "$op" "$field")
      extra="keys=$keys"
      if [[ "$kind" == redis ]]; then
        extra="$extra fork_usec=$(info_field "$port" stats latest_fork_usec)"
      fi
      printf '%-6s %-7s %-13s %8s %10s %8s %s\n' "$round" "$kind" "$op" "$m" "$r" "$s" "$extra"
      RES[$kind.$op.lat]+="$m "
      RES[$kind.$op.rss]+="$r "
    done
    kill -9 "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
  done
done
echo
echo "medians: worst client wait (ms) and peak RSS / RSS before"
for op in bgsave bgrewriteaof; do
  printf '%-13s strata %s ms %sx   redis %s ms %sx (parent only)\n' "$op" \
    "$(printf '%s\n' ${RES[strata.$op.lat]} | median)" "$(printf '%s\n' ${RES[strata.$op.rss]} | median)" \
    "$(printf '%s\n' ${RES[redis.$op.lat]} | median)" "$(printf '%s\n' ${RES[redis.$op.rss]} | median)"
done
