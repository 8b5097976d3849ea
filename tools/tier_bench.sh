#!/usr/bin/env bash
# Tiering benchmark (W3 and W3s): Strata with a memory budget against
# redis-server holding everything in RAM, same machine, same run, same data,
# alternating the two servers (A B A B ...).
#
#   ./tools/tier_bench.sh                  # 640k keys x 1 KiB, maxmemory 64mb
#   QUICK=1 ./tools/tier_bench.sh          # 64k keys x 1 KiB, maxmemory 8mb, 5 s runs
#   STRATA_ARGS="--some-tiering-option x" ROUNDS=5 ./tools/tier_bench.sh
#
# Environment knobs (defaults in brackets; QUICK=1 values after the slash):
#   KEYS            keyspace size                  [640000 / 64000]
#   VALUE_SIZE      value bytes                    [1024]
#   COMPRESSIBILITY repetitive fraction of values  [0.5]
#   MAXMEMORY       strata --maxmemory             [64mb / 8mb]
#   ZIPF            Zipf exponent                  [0.99]
#   GET_RATIO       GET fraction (rest SET)        [0.9]
#   CONNECTIONS     load connections               [50]
#   PIPELINE        pipeline depth                 [16]
#   DURATION        measured seconds per run       [20 / 5]
#   WARMUP          unmeasured seconds per run     [2 / 1]
#   ROUNDS          A/B pairs per workload         [3]
#   HOT_KEYS        ranks counted as hot           [KEYS/20]
#   WORKLOADS       which workloads                ["w3 w3s"]
#   COLD_KEYS_FIELD INFO tiering field counting cold keys [first *cold*keys* field]
#   LOADGEN_ARGS    extra strata-loadgen args (e.g. "--threads 2")
#   STRATA_ARGS     extra strata-server args       REDIS_ARGS  extra redis-server args
#   NO_BUILD=1      skip `cargo build --release`
#   KEEP=1          keep the work directory (server dirs, logs, raw JSON)
#   OUT             per-run CSV                    [target/bench/w3-<utc time>.csv]
#
# Prints per round and the median: throughput ratio Strata/Redis, hot-key
# p99 of both and its ratio, cold-key p99, server CPU microseconds per
# request; then Strata's memory, key count, `INFO tiering` (raw, if the
# section exists), RAM per cold key and bytes on disk per raw payload byte.
# Fields Strata does not report (yet) print as n/a.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
LOG_TAG=tier_bench
# shellcheck source=tools/lib.sh
. "$ROOT/tools/lib.sh"

if [ -n "${QUICK:-}" ] && [ "${QUICK}" != 0 ]; then
    KEYS="${KEYS:-64000}"
    MAXMEMORY="${MAXMEMORY:-8mb}"
    DURATION="${DURATION:-5}"
    WARMUP="${WARMUP:-1}"
else
    KEYS="${KEYS:-640000}"
    MAXMEMORY="${MAXMEMORY:-64mb}"
    DURATION="${DURATION:-20}"
    WARMUP="${WARMUP:-2}"
fi
VALUE_SIZE="${VALUE_SIZE:-1024}"
COMPRESSIBILITY="${COMPRESSIBILITY:-0.5}"
ZIPF="${ZIPF:-0.99}"
GET_RATIO="${GET_RATIO:-0.9}"
CONNECTIONS="${CONNECTIONS:-50}"
PIPELINE="${PIPELINE:-16}"
ROUNDS="${ROUNDS:-3}"
HOT_KEYS="${HOT_KEYS:-$((KEYS / 20))}"
WORKLOADS="${WORKLOADS:-w3 w3s}"
LOADGEN_ARGS="${LOADGEN_ARGS:-}"
STRATA_ARGS="${STRATA_ARGS:-}"
REDIS_ARGS="${REDIS_ARGS:-}"
OUT="${OUT:-$ROOT/target/bench/w3-$(date -u +%Y%m%dT%H%M%SZ).csv}"


for bin in redis-server redis-cli; do
    if ! command -v "$bin" >/dev/null 2>&1; then
        log "$bin not found: apt-get install -y redis-server redis-tools (or ./tools/x.sh bench)"
        exit 1
    fi
done

build_bins
STRATA_BIN="$ROOT/target/release/strata-server"
LOADGEN="$ROOT/target/release/strata-loadgen"
require_bins "$STRATA_BIN" "$LOADGEN"

setup_work strata-tier

CLK_TCK="$(getconf CLK_TCK)"
# --- servers ---------------------------------------------------------------
mkdir -p "$WORK/redis" "$WORK/strata"
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
                --maxmemory "$MAXMEMORY" --dir "$WORK/strata" $STRATA_ARGS >"$WORK/strata.log" 2>&1 &
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
log "strata-server on :$STRATA_PORT (pid $STRATA_PID), --maxmemory $MAXMEMORY --dir $WORK/strata${STRATA_ARGS:+ $STRATA_ARGS}"

check_alive() {
    if ! kill -0 "$STRATA_PID" 2>/dev/null; then
        log "strata-server exited; log tail:"
        tail -n 20 "$WORK/strata.log" >&2
        exit 1
    fi
    if ! kill -0 "$REDIS_PID" 2>/dev/null; then
        log "redis-server exited; log tail:"
        tail -n 20 "$WORK/redis.log" >&2
        exit 1
    fi
}

# jf JSON FIELD: a numeric field of the loadgen's one-line JSON (empty if absent).
jf() {
    sed -n "s/.*\"$2\":\([^,}]*\).*/\1/p" <<<"$1" | head -n 1
}

# info_field PORT SECTION FIELD: one field of INFO (empty if absent).
info_field() {
    redis-cli -p "$1" info "$2" 2>/dev/null | tr -d '\r' | sed -n "s/^$3:\(.*\)/\1/p" | head -n 1
}

DATA_ARGS=(--keys "$KEYS" --value-size "$VALUE_SIZE" --compressibility "$COMPRESSIBILITY")
LOAD_ARGS=(--zipf "$ZIPF" --get-ratio "$GET_RATIO" --connections "$CONNECTIONS"
    --pipeline "$PIPELINE" --hot-keys "$HOT_KEYS")

# --- fill ------------------------------------------------------------------
PAYLOAD=""
declare -A FILL_KPS
for name in redis strata; do
    if [ "$name" = redis ]; then port=$REDIS_PORT; else port=$STRATA_PORT; fi
    log "filling $name: $KEYS keys x $VALUE_SIZE B"
    # shellcheck disable=SC2086
    json="$("$LOADGEN" --port "$port" "${DATA_ARGS[@]}" --fill --json $LOADGEN_ARGS 2>>"$WORK/loadgen.log")" || {
        log "fill of $name failed:"
        tail -n 5 "$WORK/loadgen.log" >&2
        exit 1
    }
    FILL_KPS[$name]="$(jf "$json" fill_keys_per_s)"
    PAYLOAD="$(jf "$json" fill_payload_bytes)"
    errs="$(jf "$json" fill_errors)"
    if [ "${errs:-0}" != 0 ]; then
        log "fill of $name: $errs error replies (first: $(sed -n 's/.*"fill_first_error":"\([^"]*\)".*/\1/p' <<<"$json"))"
    fi
    check_alive
done

mkdir -p "$(dirname "$OUT")"
echo "workload,server,round,rps,all_p99_us,hot_p99_us,cold_p99_us,cpu_s,ops,sweep_keys_per_s,errors" >"$OUT"

# run_one WORKLOAD NAME PORT PID ROUND: one loadgen run, appended to $OUT.
run_one() {
    local wl=$1 name=$2 port=$3 pid=$4 round=$5 before after json extra=() ops cpu sweep
    [ "$wl" = w3s ] && extra=(--sweep)
    before="$(cpu_ticks "$pid")"
    # shellcheck disable=SC2086
    json="$("$LOADGEN" --port "$port" "${DATA_ARGS[@]}" "${LOAD_ARGS[@]}" \
        --duration "$DURATION" --warmup "$WARMUP" --seed "$round" --json "${extra[@]}" \
        $LOADGEN_ARGS 2>>"$WORK/loadgen.log")" || {
        log "$wl $name round $round: loadgen failed:"
        tail -n 3 "$WORK/loadgen.log" >&2
        check_alive
        exit 1
    }
    after="$(cpu_ticks "$pid")"
    echo "$json" >>"$WORK/runs.jsonl"
    cpu="$(awk -v t=$((after - before)) -v hz="$CLK_TCK" 'BEGIN { printf "%.4f", t / hz }')"
    # CPU covers warmup and sweep too: count every request the server saw.
    sweep="$(jf "$json" sweep_keys_per_s)"
    ops="$(awk -v n="$(jf "$json" requests)" -v s="$(jf "$json" seconds)" -v w="$WARMUP" \
        -v sk="$(jf "$json" sweep_keys)" 'BEGIN { r = (s > 0) ? n / s : 0; printf "%.0f", n + r * w + sk }')"
    echo "$wl,$name,$round,$(jf "$json" rps),$(jf "$json" all_p99_us),$(jf "$json" hot_p99_us),$(jf "$json" cold_p99_us),$cpu,$ops,$sweep,$(jf "$json" errors)" >>"$OUT"
    check_alive
}

# summary WORKLOAD: per-round and median table of one workload from $OUT.
summary() {
    awk -F, -v wl="$1" "$AWK_MEDIAN"'
    function f(x, fmt) { return (x == "") ? "n/a" : sprintf(fmt, x) }
    function ms(x) { return (x == "") ? "" : x / 1000 }
    function div(a, b) { return (a == "" || b == "" || b + 0 == 0) ? "" : a / b }
    $1 == wl {
        r = $3; if (!(r in seen)) { seen[r] = 1; order[++n] = r }
        rps[$2, r] = $4; hot[$2, r] = $6; cold[$2, r] = $7
        usop[$2, r] = ($9 > 0) ? $8 / $9 * 1e6 : ""
        sw[$2, r] = $10; err[$2, r] = $11
    }
    function row(label, rr, sr, ratio, rh, sh, hx, sc, ru, su, cx, rsw, ssw) {
        printf "%-7s %11s %11s %7s %10s %10s %7s %11s %8s %8s %7s", label, f(rr, "%.0f"), f(sr, "%.0f"), f(ratio, "%.2f"),
            f(ms(rh), "%.3f"), f(ms(sh), "%.3f"), f(hx, "%.2f"), f(ms(sc), "%.3f"), f(ru, "%.2f"), f(su, "%.2f"), f(cx, "%.2f")
        if (wl == "w3s") printf " %10s %10s", f(rsw, "%.0f"), f(ssw, "%.0f")
        printf "\n"
    }
    END {
        printf "%-7s %11s %11s %7s %10s %10s %7s %11s %8s %8s %7s", "round", "redis rps", "strata rps", "ratio",
            "r hot p99", "s hot p99", "hot x", "s cold p99", "r us/op", "s us/op", "cpu x"
        if (wl == "w3s") printf " %10s %10s", "r sweep/s", "s sweep/s"
        printf "\n"
        for (i = 1; i <= n; i++) {
            r = order[i]
            ratio = div(rps["strata", r], rps["redis", r]); hx = div(hot["strata", r], hot["redis", r])
            cx = div(usop["strata", r], usop["redis", r])
            row(r, rps["redis", r], rps["strata", r], ratio, hot["redis", r], hot["strata", r], hx, cold["strata", r],
                usop["redis", r], usop["strata", r], cx, sw["redis", r], sw["strata", r])
            L["rr"] = L["rr"] " " rps["redis", r]; L["sr"] = L["sr"] " " rps["strata", r]
            if (ratio != "") L["ratio"] = L["ratio"] " " ratio
            L["rh"] = L["rh"] " " hot["redis", r]; L["sh"] = L["sh"] " " hot["strata", r]
            if (hx != "") L["hx"] = L["hx"] " " hx
            L["sc"] = L["sc"] " " cold["strata", r]
            if (usop["redis", r] != "") L["ru"] = L["ru"] " " usop["redis", r]
            if (usop["strata", r] != "") L["su"] = L["su"] " " usop["strata", r]
            if (cx != "") L["cx"] = L["cx"] " " cx
            L["rsw"] = L["rsw"] " " sw["redis", r]; L["ssw"] = L["ssw"] " " sw["strata", r]
            if (err["redis", r] + 0 > 0 || err["strata", r] + 0 > 0)
                printf "        (round %s: error replies redis %s, strata %s)\n", r, err["redis", r], err["strata", r]
        }
        row("median", median(L["rr"]), median(L["sr"]), median(L["ratio"]), median(L["rh"]), median(L["sh"]), median(L["hx"]),
            median(L["sc"]), median(L["ru"]), median(L["su"]), median(L["cx"]), median(L["rsw"]), median(L["ssw"]))
    }' "$OUT"
}

# median_of WORKLOAD SERVER COLUMN: median of one CSV column.
median_of() {
    awk -F, -v wl="$1" -v s="$2" -v c="$3" '$1 == wl && $2 == s && $c != "" { v[++n] = $c }
    END {
        if (n == 0) exit
        for (i = 1; i <= n; i++) for (j = i + 1; j <= n; j++) if (v[j] + 0 < v[i] + 0) { t = v[i]; v[i] = v[j]; v[j] = t }
        print (n % 2) ? v[(n + 1) / 2] : (v[n / 2] + v[n / 2 + 1]) / 2
    }' "$OUT"
}

human() {
    awk -v b="$1" 'BEGIN { if (b == "") { print "n/a"; exit } split("B KiB MiB GiB TiB", u, " "); i = 1; while (b >= 1024 && i < 5) { b /= 1024; i++ } printf "%.1f %s\n", b, u[i] }'
}

# strata_stats LABEL: Strata's memory, keys, tiering section, RAM per cold
# key and disk usage.
strata_stats() {
    local used rss maxmem dbsize keyspace tiering cold_keys disk per_cold readers
    used="$(info_field "$STRATA_PORT" memory used_memory)"
    rss="$(info_field "$STRATA_PORT" memory used_memory_rss)"
    maxmem="$(info_field "$STRATA_PORT" memory maxmemory)"
    dbsize="$(redis-cli -p "$STRATA_PORT" dbsize 2>/dev/null | tr -d '\r')"
    keyspace="$(redis-cli -p "$STRATA_PORT" info keyspace 2>/dev/null | tr -d '\r' | grep '^db' | paste -sd ' ')"
    tiering="$(redis-cli -p "$STRATA_PORT" info tiering 2>/dev/null | tr -d '\r' | grep -v '^$' || true)"
    echo "Strata $1:"
    printf '  used_memory        %s (%s); used_memory_rss %s (%s); maxmemory %s\n' \
        "${used:-n/a}" "$(human "$used")" "${rss:-n/a}" "$(human "$rss")" "${maxmem:-n/a}"
    printf '  dbsize             %s; keyspace: %s\n' "${dbsize:-n/a}" "${keyspace:-n/a}"
    if [ -n "$tiering" ] && [ "$(grep -c ':' <<<"$tiering")" -gt 0 ]; then
        echo "  INFO tiering:"
        sed 's/^/    /' <<<"$tiering"
        # COLD_KEYS_FIELD, or the first field named like *cold*keys* (cold_keys...).
        if [ -n "${COLD_KEYS_FIELD:-}" ]; then
            cold_keys="$(sed -n "s/^$COLD_KEYS_FIELD:\([0-9][0-9]*\)$/\1/p" <<<"$tiering" | head -n 1)"
        else
            cold_keys="$(sed -n 's/^[a-z_]*cold[a-z_]*keys[a-z_]*:\([0-9][0-9]*\)$/\1/p' <<<"$tiering" | head -n 1)"
        fi
    else
        echo "  INFO tiering:      n/a (no such section)"
        cold_keys=""
    fi
    if [ -n "$cold_keys" ] && [ "$cold_keys" -gt 0 ] && [ -n "$used" ] && [ -n "$maxmem" ] && [ "$maxmem" -gt 0 ]; then
        per_cold="$(awk -v u="$used" -v m="$maxmem" -v c="$cold_keys" 'BEGIN { printf "%.1f", (u - m) / c }')"
        printf '  RAM per cold key   %s B ((used_memory - maxmemory) / %s cold keys)\n' "$per_cold" "$cold_keys"
        # What the store keeps in RAM for its cold keys, inside maxmemory
        # (the line above is negative while used_memory is under the limit).
        readers="$(sed -n 's/^tier_memory_table_readers:\([0-9][0-9]*\)$/\1/p' <<<"$tiering" | head -n 1)"
        if [ -n "$readers" ]; then
            printf '  store RAM per cold key %s B (tier_memory_table_readers / cold keys, inside maxmemory)\n' \
                "$(awk -v r="$readers" -v c="$cold_keys" 'BEGIN { printf "%.1f", r / c }')"
        fi
    else
        printf '  RAM per cold key   n/a (needs a cold key count in INFO tiering)\n'
    fi
    disk="$(du -sb "$WORK/strata" | cut -f1)"
    printf '  disk (du -sb dir)  %s (%s) / raw payload %s (%s) = %s\n' "$disk" "$(human "$disk")" \
        "${PAYLOAD:-n/a}" "$(human "$PAYLOAD")" \
        "$(awk -v d="$disk" -v p="$PAYLOAD" 'BEGIN { if (p > 0) printf "%.3fx", d / p; else print "n/a" }')"
}

# --- workloads -------------------------------------------------------------
log "workloads=[$WORKLOADS] rounds=$ROUNDS duration=${DURATION}s warmup=${WARMUP}s"
for wl in $WORKLOADS; do
    for round in $(seq 1 "$ROUNDS"); do
        run_one "$wl" redis "$REDIS_PORT" "$REDIS_PID" "$round"
        run_one "$wl" strata "$STRATA_PORT" "$STRATA_PID" "$round"
        log "done: $wl round $round"
    done
    # Server state right after this workload's rounds, printed with its table.
    {
        strata_stats "after $(sed 's/^w/W/' <<<"$wl")"
        printf '  redis used_memory  %s (%s)\n' "$(info_field "$REDIS_PORT" memory used_memory)" \
            "$(human "$(info_field "$REDIS_PORT" memory used_memory)")"
        echo "  (goals: <= 16 B of RAM per cold key, disk <= 0.4x raw payload)"
    } >"$WORK/stats-$wl.txt"
done

echo
echo "Dataset: $KEYS keys x $VALUE_SIZE B (compressibility $COMPRESSIBILITY), payload $PAYLOAD B ($(human "$PAYLOAD"));" \
    "strata --maxmemory $MAXMEMORY${STRATA_ARGS:+ $STRATA_ARGS}; redis without maxmemory"
echo "Fill (SET every key once, pipelined): redis ${FILL_KPS[redis]:-n/a} keys/s, strata ${FILL_KPS[strata]:-n/a} keys/s"
echo "Load: zipf $ZIPF, GET $GET_RATIO / SET, $CONNECTIONS connections, pipeline $PIPELINE, ${DURATION}s (+${WARMUP}s warmup) per run," \
    "$ROUNDS alternating rounds; hot = rank < $HOT_KEYS"
echo "p99 in ms (per request, send to reply); us/op = server CPU microseconds per request; ratios strata/redis"
for wl in $WORKLOADS; do
    echo
    if [ "$wl" = w3 ]; then
        echo "W3 (goals: throughput >= 0.8x, hot p99 <= 1.2x Redis)"
    else
        echo "W3s = W3 + one connection sweeping SCAN COUNT 100 + GET (goal: hot p99 unchanged from W3)"
    fi
    summary "$wl"
    echo
    cat "$WORK/stats-$wl.txt"
done
case " $WORKLOADS " in *" w3 "*) has_w3=1 ;; *) has_w3= ;; esac
case " $WORKLOADS " in *" w3s "*) has_w3s=1 ;; *) has_w3s= ;; esac
if [ -n "$has_w3" ] && [ -n "$has_w3s" ]; then
    echo
    s3="$(median_of w3 strata 6)"
    s3s="$(median_of w3s strata 6)"
    r3="$(median_of w3 redis 6)"
    r3s="$(median_of w3s redis 6)"
    awk -v a="$s3" -v b="$s3s" -v c="$r3" -v d="$r3s" 'BEGIN {
        printf "hot p99 during the sweep vs W3 (medians): strata %.3f -> %.3f ms (%.2fx), redis %.3f -> %.3f ms (%.2fx)\n",
            a / 1000, b / 1000, (a > 0) ? b / a : 0, c / 1000, d / 1000, (c > 0) ? d / c : 0 }'
fi
echo
echo "raw runs: $OUT"
