#!/usr/bin/env bash
# AOF write benchmark: redis-benchmark SET with 50 clients against Strata and
# Debian's redis-server, both with appendonly yes, for appendfsync everysec
# and then always; the two servers alternate (A B A B ...), each run on a
# fresh server in a fresh directory. Prints per policy the median requests/s
# of each server, the median p50/p99 latency, and the median over rounds of
# the ratio Strata/Redis.
#
#   tools/aof_bench.sh
#   ROUNDS=5 N=200000 POLICIES="everysec always" tools/aof_bench.sh
#
# Knobs: ROUNDS [3], N requests per run [200000 everysec; N_ALWAYS, default
# 50000, for always], CLIENTS [50], DATASIZE [100], KEYSPACE [100000],
# PIPELINE [1], POLICIES ["everysec always"], NO_BUILD=1.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
ROUNDS="${ROUNDS:-3}"
N="${N:-200000}"
N_ALWAYS="${N_ALWAYS:-50000}"
CLIENTS="${CLIENTS:-50}"
DATASIZE="${DATASIZE:-100}"
KEYSPACE="${KEYSPACE:-100000}"
PIPELINE="${PIPELINE:-1}"
POLICIES="${POLICIES:-everysec always}"

command -v redis-server >/dev/null || { echo "redis-server not installed" >&2; exit 1; }
command -v redis-benchmark >/dev/null || { echo "redis-benchmark not installed" >&2; exit 1; }
if [ -z "${NO_BUILD:-}" ]; then
    cargo build --release --bin strata-server >&2
fi
STRATA="$ROOT/target/release/strata-server"
WORK="$(mktemp -d)"
trap 'rm -rf "$WORK"' EXIT

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

# run_one server policy n -> "rps p50 p99"
run_one() {
    local server=$1 policy=$2 n=$3 port dir pid
    port=$(free_port)
    dir="$WORK/$server-$policy-$RANDOM"
    mkdir -p "$dir"
    local args=(--port "$port" --bind 127.0.0.1 --save "" --appendonly yes --appendfsync "$policy" --dir "$dir")
    if [ "$server" = strata ]; then
        "$STRATA" "${args[@]}" >"$dir/log" 2>&1 &
    else
        redis-server "${args[@]}" >"$dir/log" 2>&1 &
    fi
    pid=$!
    for _ in $(seq 200); do
        redis-cli -p "$port" ping >/dev/null 2>&1 && break
        sleep 0.05
    done
    local out
    out=$(redis-benchmark -p "$port" -t set -n "$n" -c "$CLIENTS" -d "$DATASIZE" -r "$KEYSPACE" -P "$PIPELINE" --csv 2>/dev/null | grep '"SET"' || true)
    redis-cli -p "$port" shutdown nosave >/dev/null 2>&1 || true
    wait "$pid" 2>/dev/null || true
    rm -rf "$dir"
    # "test","rps","avg_latency_ms","min_latency_ms","p50_latency_ms","p95_latency_ms","p99_latency_ms","max_latency_ms"
    echo "$out" | tr -d '"' | awk -F, '{print $2, $5, $7}'
}

median() { sort -g | awk '{a[NR]=$1} END {if (NR==0) print "nan"; else if (NR%2) print a[(NR+1)/2]; else print (a[NR/2]+a[NR/2+1])/2}'; }

echo "redis-benchmark -t set -c $CLIENTS -d $DATASIZE -r $KEYSPACE -P $PIPELINE, $ROUNDS alternating rounds, appendonly yes"
printf '%-9s %12s %12s %8s %14s %14s\n' policy strata_rps redis_rps ratio "p50 s/r ms" "p99 s/r ms"
for policy in $POLICIES; do
    n=$N
    [ "$policy" = always ] && n=$N_ALWAYS
    : >"$WORK/s" ; : >"$WORK/r" ; : >"$WORK/ratio"
    for round in $(seq "$ROUNDS"); do
        s=$(run_one strata "$policy" "$n")
        r=$(run_one redis "$policy" "$n")
        echo "$s" >>"$WORK/s"
        echo "$r" >>"$WORK/r"
        awk -v a="${s%% *}" -v b="${r%% *}" 'BEGIN { if (b > 0) printf "%.3f\n", a / b }' >>"$WORK/ratio"
        echo "[aof_bench] $policy round $round: strata $s | redis $r" >&2
    done
    srps=$(awk '{print $1}' "$WORK/s" | median)
    rrps=$(awk '{print $1}' "$WORK/r" | median)
    sp50=$(awk '{print $2}' "$WORK/s" | median); rp50=$(awk '{print $2}' "$WORK/r" | median)
    sp99=$(awk '{print $3}' "$WORK/s" | median); rp99=$(awk '{print $3}' "$WORK/r" | median)
    ratio=$(median <"$WORK/ratio")
    printf '%-9s %12s %12s %8s %14s %14s\n' "$policy" "$srps" "$rrps" "$ratio" "$sp50/$rp50" "$sp99/$rp99"
done
