#!/usr/bin/env bash
# Load benchmark (W1): Strata against Debian's redis-server, same machine,
# same run, alternating the two servers (A B A B ...).
#
#   ./tools/bench.sh                 # all default tests, -n 1000000
#   QUICK=1 ./tools/bench.sh         # -n 200000
#   TESTS=set,get ROUNDS=5 PIPELINES="16" ./tools/bench.sh
#
# Environment knobs (defaults in brackets):
#   TESTS      redis-benchmark -t list  [set,get,incr,mset,lpush,lpop,rpush,
#              rpop,sadd,hset,spop,zadd,zpopmin,lrange_100]
#   N          requests per run         [1000000; 200000 with QUICK=1]
#   ROUNDS     A/B pairs per test       [3]
#   PIPELINES  -P values                [1 16]
#   CLIENTS    -c                       [50]
#   DATASIZE   -d                       [100]
#   KEYSPACE   -r                       [1000000]
#   STRATA_ARGS extra strata-server args   REDIS_ARGS extra redis-server args
#   NO_BUILD=1 skip `cargo build --release`
#   OUT        raw per-run CSV          [target/bench/w1-<utc time>.csv]
#   SUMMARY=<csv>  only re-print the table of an earlier run
#
# Per test and pipeline depth it prints the median requests/s of each
# server, the median over rounds of the ratio Strata/Redis, the median p99
# latency, and server CPU time per operation (utime+stime from
# /proc/PID/stat around each run, 1/CLK_TCK resolution) with its ratio.
# For lrange_*, redis-benchmark first fills the list with LPUSH: the rps
# shown is LRANGE's, the CPU per operation covers both. A test that fails
# on a server (unknown command, error replies) is reported as an error on
# its line; the other tests go on.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
LOG_TAG=bench
# shellcheck source=tools/lib.sh
. "$ROOT/tools/lib.sh"

TESTS="${TESTS:-set,get,incr,mset,lpush,lpop,rpush,rpop,sadd,hset,spop,zadd,zpopmin,lrange_100}"
if [ -n "${QUICK:-}" ] && [ "${QUICK}" != 0 ]; then
    N="${N:-200000}"
else
    N="${N:-1000000}"
fi
ROUNDS="${ROUNDS:-3}"
PIPELINES="${PIPELINES:-1 16}"
CLIENTS="${CLIENTS:-50}"
DATASIZE="${DATASIZE:-100}"
KEYSPACE="${KEYSPACE:-1000000}"
STRATA_ARGS="${STRATA_ARGS:-}"
REDIS_ARGS="${REDIS_ARGS:-}"
OUT="${OUT:-$ROOT/target/bench/w1-$(date -u +%Y%m%dT%H%M%SZ).csv}"


# summary CSV: prints the table for a raw-runs file.
summary() {
    local csv=$1
    echo
    echo "W1: redis-benchmark -n $N -r $KEYSPACE -c $CLIENTS -d $DATASIZE, $ROUNDS alternating rounds"
    echo "rps, p99 and us/op: medians per server; ratio and cpu x: median of per-round strata/redis ratios"
    awk -F, "$AWK_MEDIAN"'
    NR == 1 { next }
    {
        k = $2 SUBSEP $3
        if (!(k in seen)) { seen[k] = 1; order[++nk] = k }
        if ($9 != "") err[$1, k] = $9
        if ($5 != "" && $9 == "") {
            rps[$1, k] = rps[$1, k] " " $5
            p99[$1, k] = p99[$1, k] " " $6
            if ($8 > 0) cpu[$1, k] = cpu[$1, k] " " ($7 / $8 * 1e6)
            one_rps[$1, k, $4] = $5
            if ($8 > 0) one_cpu[$1, k, $4] = $7 / $8
            if (!((k, $4) in rseen)) { rseen[k, $4] = 1; rounds[k] = rounds[k] " " $4 }
        }
    }
    # Median over rounds of the per-round ratio strata/redis (each round runs
    # the two servers back to back, so a ratio is taken under similar noise).
    function round_ratio(arr, k,    n, r, i, list) {
        list = ""
        n = split(rounds[k], r, " ")
        for (i = 1; i <= n; i++)
            if ((("redis", k, r[i]) in arr) && (("strata", k, r[i]) in arr) && arr["redis", k, r[i]] > 0)
                list = list " " (arr["strata", k, r[i]] / arr["redis", k, r[i]])
        return median(list)
    }
    END {
        printf "%-12s %3s %12s %12s %7s %9s %9s %10s %10s %7s\n", "test", "-P", "redis rps", "strata rps", "ratio", "r p99ms", "s p99ms", "r us/op", "s us/op", "cpu x"
        for (i = 1; i <= nk; i++) {
            k = order[i]; split(k, kp, SUBSEP)
            if (("strata", k) in err || ("redis", k) in err) {
                e = (("strata", k) in err) ? "strata " err["strata", k] : "redis " err["redis", k]
                printf "%-12s %3s  %s\n", kp[1], kp[2], e
                continue
            }
            rr = median(rps["redis", k]); sr = median(rps["strata", k])
            rp = median(p99["redis", k]); sp = median(p99["strata", k])
            rc = median(cpu["redis", k]); sc = median(cpu["strata", k])
            ratio = round_ratio(one_rps, k); ratio = (ratio != "") ? sprintf("%.2f", ratio) : "-"
            cratio = round_ratio(one_cpu, k); cratio = (cratio != "") ? sprintf("%.2f", cratio) : "-"
            printf "%-12s %3s %12.0f %12.0f %7s %9.3f %9.3f %10.3f %10.3f %7s\n", kp[1], kp[2], rr, sr, ratio, rp, sp, rc, sc, cratio
        }
    }' "$csv"
    echo
    echo "raw runs: $csv"
}

# SUMMARY=<raw csv> re-prints the table of an earlier run.
if [ -n "${SUMMARY:-}" ]; then
    summary "$SUMMARY"
    exit 0
fi

for bin in redis-server redis-benchmark redis-cli; do
    if ! command -v "$bin" >/dev/null 2>&1; then
        log "$bin not found: apt-get install -y redis-server redis-tools (or ./tools/x.sh bench)"
        exit 1
    fi
done

if [ -z "${NO_BUILD:-}" ]; then
    log "cargo build --release --bin strata-server"
    cargo build --release --bin strata-server >&2
fi
STRATA_BIN="$ROOT/target/release/strata-server"
require_bins "$STRATA_BIN"

setup_work strata-bench

CLK_TCK="$(getconf CLK_TCK)"
# --- servers ---------------------------------------------------------------
mkdir -p "$WORK/redis" "$WORK/strata"
# start_server NAME: starts it on a free port (retrying if the port gets
# taken meanwhile); sets <NAME>_PORT and <NAME>_PID.
start_server() {
    local name=$1 try port pid
    for try in 1 2 3 4 5; do
        port="$(free_port)"
        if [ "$name" = redis ]; then
            # shellcheck disable=SC2086
            redis-server --port "$port" --bind 127.0.0.1 --save "" --appendonly no \
                --dir "$WORK/redis" --logfile "$WORK/redis.log" $REDIS_ARGS &
        else
            # shellcheck disable=SC2086
            "$STRATA_BIN" --port "$port" --bind 127.0.0.1 --save "" --appendonly no \
                --dir "$WORK/strata" $STRATA_ARGS >"$WORK/strata.log" 2>&1 &
        fi
        pid=$!
        if wait_ready "$port" "$pid"; then
            PIDS+=("$pid")
            if [ "$name" = redis ]; then REDIS_PORT=$port REDIS_PID=$pid; else STRATA_PORT=$port STRATA_PID=$pid; fi
            return 0
        fi
        kill "$pid" 2>/dev/null || true
        wait "$pid" 2>/dev/null || true
    done
    log "$name did not start; log tail:"
    tail -n 20 "$WORK/$name.log" >&2
    exit 1
}
start_server redis
start_server strata

log "redis-server $(redis-server --version | sed -n 's/.*v=\([^ ]*\).*/\1/p') on :$REDIS_PORT (pid $REDIS_PID)"
log "strata-server on :$STRATA_PORT (pid $STRATA_PID)"
log "tests=$TESTS n=$N rounds=$ROUNDS pipelines=[$PIPELINES] c=$CLIENTS d=$DATASIZE r=$KEYSPACE"

mkdir -p "$(dirname "$OUT")"
echo "server,test,pipeline,round,rps,p99_ms,cpu_s,ops,status" >"$OUT"

# run_one NAME PORT PID TEST P ROUND: one redis-benchmark run; appends one
# row per reported test to $OUT.
run_one() {
    local name=$1 port=$2 pid=$3 test=$4 p=$5 round=$6
    local before after csv rows status cpu
    before="$(cpu_ticks "$pid")"
    set +e
    csv="$(redis-benchmark -h 127.0.0.1 -p "$port" -t "$test" -n "$N" -r "$KEYSPACE" \
        -c "$CLIENTS" -d "$DATASIZE" -P "$p" --csv 2>"$WORK/bench.err")"
    status=$?
    set -e
    after="$(cpu_ticks "$pid")"
    cpu="$(awk -v t=$((after - before)) -v hz="$CLK_TCK" 'BEGIN { printf "%.4f", t / hz }')"
    local errtext=""
    if [ "$status" -ne 0 ] || grep -qi "error" "$WORK/bench.err" || grep -qi "error" <<<"$csv"; then
        errtext="$( { grep -hi "error" "$WORK/bench.err" || true; grep -i "error" <<<"$csv" || true; } | head -n 1 | tr -d '",\r' | cut -c1-80)"
        [ -n "$errtext" ] || errtext="redis-benchmark exit $status"
    fi
    # Data rows: "NAME","rps","avg","min","p50","p95","p99","max"
    rows="$(grep -E '^"[A-Z]' <<<"$csv" | grep -v '^"test"' || true)"
    local nrows
    nrows="$(grep -c . <<<"$rows" || true)"
    if [ -z "$rows" ] || [ "$nrows" -eq 0 ]; then
        echo "$name,$test,$p,$round,,,$cpu,0,error: ${errtext:-no output}" >>"$OUT"
        return 0
    fi
    local ops=$((N * nrows))
    # rps summed is meaningless across sub-tests; keep the benchmark's own
    # test (the last row: e.g. LRANGE_100 after its LPUSH fill).
    local last rps p99
    last="$(tail -n 1 <<<"$rows" | tr -d '"')"
    rps="$(cut -d, -f2 <<<"$last")"
    p99="$(cut -d, -f7 <<<"$last")"
    echo "$name,$test,$p,$round,$rps,$p99,$cpu,$ops,${errtext:+error: $errtext}" >>"$OUT"
}

IFS=',' read -r -a TEST_LIST <<<"$TESTS"
for p in $PIPELINES; do
    for test in "${TEST_LIST[@]}"; do
        for round in $(seq 1 "$ROUNDS"); do
            run_one redis "$REDIS_PORT" "$REDIS_PID" "$test" "$p" "$round"
            run_one strata "$STRATA_PORT" "$STRATA_PID" "$test" "$p" "$round"
            if ! kill -0 "$STRATA_PID" 2>/dev/null; then
                log "strata-server exited during $test -P $p; log tail:"
                tail -n 20 "$WORK/strata.log" >&2
                exit 1
            fi
        done
        log "done: $test -P $p"
    done
done

summary "$OUT"
