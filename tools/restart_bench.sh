#!/usr/bin/env bash
# Restart benchmark (W5, time to first reply after restart): Strata with a
# memory budget (cold tier on) against redis-server holding everything in
# RAM, both with an AOF, restarted on the directory a crash (kill -9) or a
# graceful SHUTDOWN left behind; the two servers alternate (A B A B ...).
#
#   ./tools/restart_bench.sh                 # 320k keys x 1 KiB, maxmemory 64mb
#   QUICK=1 ./tools/restart_bench.sh         # 64k keys x 1 KiB, maxmemory 8mb
#   VARIANT=kill ROUNDS=5 ./tools/restart_bench.sh
#   NO_BUILD=1 STRATA_BIN=/tmp/b/strata-server LOADGEN_BIN=/tmp/b/strata-loadgen ./tools/restart_bench.sh
#
# Environment knobs (defaults in brackets; QUICK=1 values after the slash):
#   KEYS            keys of the main fill                 [320000 / 64000]
#   TAIL            keys written after BGREWRITEAOF       [KEYS/10]
#   VALUE_SIZE      value bytes                           [1024]
#   COMPRESSIBILITY repetitive fraction of values         [0.5]
#   MAXMEMORY       strata --maxmemory                    [64mb / 8mb]
#   VARIANT         kill | shutdown | both                [both]
#   ROUNDS          A/B pairs per variant                 [3]
#   READY_TIMEOUT   seconds allowed until the first PONG  [600]
#   DBSIZE_TIMEOUT  seconds allowed after PONG until DBSIZE is complete [60]
#   STRATA_ARGS     extra strata-server args              REDIS_ARGS  extra redis-server args
#   LOADGEN_ARGS    extra strata-loadgen args of the fills
#   STRATA_BIN      strata-server binary                  [target/release/strata-server]
#   LOADGEN_BIN     strata-loadgen binary                 [target/release/strata-loadgen]
#   NO_BUILD=1      skip `cargo build --release`
#   KEEP=1          keep the work directory (server dirs, logs)
#   OUT             per-run CSV                           [target/bench/w5-<utc time>.csv]
#
# Servers: strata-server --maxmemory MAXMEMORY --tiering yes, redis-server
# without maxmemory; both --appendonly yes --appendfsync everysec --save ""
# (AOF only, no RDB snapshots; Redis keeps aof-use-rdb-preamble yes).
#
# One measurement (a fresh directory each time, so rounds are independent):
#   1. start the server, fill KEYS keys key:0..key:<KEYS-1> (strata-loadgen
#      --fill, seed 1: every value depends only on the seed and the index);
#   2. BGREWRITEAOF, wait until INFO persistence shows aof_rewrite_in_progress:0
#      and aof_rewrite_scheduled:0;
#   3. write TAIL further keys tail:0..tail:<TAIL-1> (seed 2): the AOF tail;
#   4. check DBSIZE = KEYS + TAIL and read back spot keys (head, middle and
#      end of both ranges); the first server's values become the reference;
#   5. kill -9 (variant kill) or SHUTDOWN (variant shutdown, timed);
#   6. start the server again on the same directory and time, from the spawn
#      of the process: the first reply of any kind to PING (Redis answers
#      -LOADING while it loads), the first +PONG, then DBSIZE = KEYS + TAIL
#      (polled every 5 ms over bash's /dev/tcp, no process spawned);
#   7. read the spot keys back (values compared with the reference by MD5),
#      peak RSS (VmHWM) and CPU time of the restarted process, du -sb of the
#      directory before the restart and after the checks.
#
# Prints per variant, per round and the median: seconds to first PONG and to
# a complete DBSIZE of both servers with the ratio Strata/Redis, peak RSS,
# disk usage, CPU seconds of the restart, the SHUTDOWN time (shutdown
# variant) and the spot check; then the medians of fill and BGREWRITEAOF
# times. The page cache is warm (the files were just written): this times
# the restart's work, not a cold disk.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
LOG_TAG=restart_bench
# shellcheck source=tools/lib.sh
. "$ROOT/tools/lib.sh"

if [ -n "${QUICK:-}" ] && [ "${QUICK}" != 0 ]; then
    KEYS="${KEYS:-64000}"
    MAXMEMORY="${MAXMEMORY:-8mb}"
else
    KEYS="${KEYS:-320000}"
    MAXMEMORY="${MAXMEMORY:-64mb}"
fi
TAIL="${TAIL:-$((KEYS / 10))}"
VALUE_SIZE="${VALUE_SIZE:-1024}"
COMPRESSIBILITY="${COMPRESSIBILITY:-0.5}"
VARIANT="${VARIANT:-both}"
ROUNDS="${ROUNDS:-3}"
READY_TIMEOUT="${READY_TIMEOUT:-600}"
DBSIZE_TIMEOUT="${DBSIZE_TIMEOUT:-60}"
STRATA_ARGS="${STRATA_ARGS:-}"
REDIS_ARGS="${REDIS_ARGS:-}"
LOADGEN_ARGS="${LOADGEN_ARGS:-}"
OUT="${OUT:-$ROOT/target/bench/w5-$(date -u +%Y%m%dT%H%M%SZ).csv}"

case "$VARIANT" in
    kill | shutdown) VARIANTS="$VARIANT" ;;
    both) VARIANTS="kill shutdown" ;;
    *) log "VARIANT must be kill, shutdown or both (got $VARIANT)"; exit 2 ;;
esac
if [ "$KEYS" -lt 8 ] || [ "$TAIL" -lt 2 ]; then
    log "KEYS must be >= 8 and TAIL >= 2"
    exit 2
fi
EXPECTED=$((KEYS + TAIL))

need_cmds redis-server redis-cli md5sum

build_bins
STRATA_BIN="${STRATA_BIN:-$ROOT/target/release/strata-server}"
LOADGEN_BIN="${LOADGEN_BIN:-$ROOT/target/release/strata-loadgen}"
require_bins "$STRATA_BIN" "$LOADGEN_BIN"

setup_work strata-restart KILL
mkdir -p "$WORK/logs"

forget_pid() {
    local keep=() p
    for p in "${PIDS[@]}"; do
        [ "$p" = "$1" ] || keep+=("$p")
    done
    PIDS=("${keep[@]}")
}

# start_server NAME DIR PORT LOG: spawns the server in the background (no
# waiting); sets SERVER_PID.
start_server() {
    local name=$1 dir=$2 port=$3 logf=$4
    local common=(--port "$port" --bind 127.0.0.1 --save "" --appendonly yes --appendfsync everysec --dir "$dir")
    if [ "$name" = redis ]; then
        # shellcheck disable=SC2086
        redis-server "${common[@]}" --logfile "$logf" $REDIS_ARGS >/dev/null 2>&1 &
    else
        # shellcheck disable=SC2086
        "$STRATA_BIN" "${common[@]}" --maxmemory "$MAXMEMORY" --tiering yes $STRATA_ARGS >>"$logf" 2>&1 &
    fi
    SERVER_PID=$!
    PIDS+=("$SERVER_PID")
}

# fail NAME LOG MSG: log tail and exit.
fail() {
    log "$1: $3; log tail ($2):"
    tail -n 20 "$2" >&2 || true
    exit 1
}

# wait_pong PORT PID LOG NAME SECONDS: waits for +PONG (fresh, empty server).
wait_pong() {
    local port=$1 pid=$2 logf=$3 name=$4 limit=$((${EPOCHREALTIME%.*} + $5))
    until ping_ok "$port"; do
        kill -0 "$pid" 2>/dev/null || fail "$name" "$logf" "exited while starting"
        [ "${EPOCHREALTIME%.*}" -lt "$limit" ] || fail "$name" "$logf" "no PONG within $5 s"
        nap 0.02
    done
}

# wait_rewrite PORT NAME LOG: until no AOF rewrite runs or is scheduled.
wait_rewrite() {
    local port=$1 name=$2 logf=$3 ip sc limit=$((${EPOCHREALTIME%.*} + 1200))
    while :; do
        ip="$(info_field "$port" persistence aof_rewrite_in_progress)"
        sc="$(info_field "$port" persistence aof_rewrite_scheduled)"
        [ -n "$ip" ] || fail "$name" "$logf" "INFO persistence has no aof_rewrite_in_progress"
        [ "$ip" = 0 ] && [ "${sc:-0}" = 0 ] && break
        [ "${EPOCHREALTIME%.*}" -lt "$limit" ] || fail "$name" "$logf" "AOF rewrite still running after 1200 s"
        nap 0.05
    done
    local st
    st="$(info_field "$port" persistence aof_last_bgrewrite_status)"
    [ "${st:-ok}" = ok ] || fail "$name" "$logf" "aof_last_bgrewrite_status:$st"
}

# fill PORT NAME LOG PREFIX COUNT SEED: strata-loadgen --fill; prints seconds.
fill() {
    local port=$1 name=$2 logf=$3 prefix=$4 count=$5 seed=$6 json errs
    # shellcheck disable=SC2086
    json="$("$LOADGEN_BIN" --port "$port" --keys "$count" --key-prefix "$prefix" --seed "$seed" \
        --value-size "$VALUE_SIZE" --compressibility "$COMPRESSIBILITY" --fill --json $LOADGEN_ARGS \
        2>>"$WORK/logs/loadgen.log")" || {
        tail -n 5 "$WORK/logs/loadgen.log" >&2
        fail "$name" "$logf" "fill of $prefix:* failed"
    }
    errs="$(sed -n 's/.*"fill_errors":\([0-9]*\).*/\1/p' <<<"$json")"
    if [ "${errs:-0}" != 0 ]; then
        log "$name: fill of $prefix:*: $errs error replies (first: $(sed -n 's/.*"fill_first_error":"\([^"]*\)".*/\1/p' <<<"$json"))"
    fi
    sed -n 's/.*"fill_seconds":\([0-9.]*\).*/\1/p' <<<"$json"
}

# Spot keys: head, middle and end of the main range and of the tail.
SPOT_KEYS=(key:0 "key:$((KEYS / 3))" "key:$((KEYS / 2))" "key:$((KEYS * 7 / 11))" "key:$((KEYS - 1))"
    tail:0 "tail:$((TAIL / 2))" "tail:$((TAIL - 1))")
declare -A REF=()
NIL_DIGEST="$(printf '\n' | md5sum | cut -d' ' -f1)"

digest() {
    redis-cli -p "$1" --raw GET "$2" 2>/dev/null | md5sum | cut -d' ' -f1
}

# spot_check PORT NAME WHEN: compares the spot keys with REF (set from the
# first server checked); SPOT = "ok" or "badN", mismatches logged. (Not run
# in a command substitution: REF must persist.)
spot_check() {
    local port=$1 name=$2 when=$3 k d len bad=0
    if [ "${#REF[@]}" = 0 ]; then
        for k in "${SPOT_KEYS[@]}"; do
            d="$(digest "$port" "$k")"
            len="$(redis-cli -p "$port" strlen "$k" 2>/dev/null | tr -d '\r')"
            if [ "$d" = "$NIL_DIGEST" ] || [ "$len" != "$VALUE_SIZE" ]; then
                log "$name $when: reference key $k reads back $len bytes, not $VALUE_SIZE"
                exit 1
            fi
            REF[$k]="$d"
        done
        log "reference values of ${#SPOT_KEYS[@]} spot keys taken from $name $when"
    fi
    for k in "${SPOT_KEYS[@]}"; do
        d="$(digest "$port" "$k")"
        if [ "$d" != "${REF[$k]}" ]; then
            bad=$((bad + 1))
            if [ "$d" = "$NIL_DIGEST" ]; then
                log "$name $when: $k is missing"
            else
                log "$name $when: $k has a different value"
            fi
        fi
    done
    if [ "$bad" = 0 ]; then SPOT=ok; else SPOT="bad$bad"; fi
}

mkdir -p "$(dirname "$OUT")"
echo "variant,server,round,first_reply_s,pong_s,full_s,dbsize,hwm_kb,cpu_s,disk_before_b,disk_after_b,spot,fill_s,tail_s,rewrite_s,shutdown_s" >"$OUT"

# one VARIANT NAME ROUND: one full measurement, appended to $OUT.
one() {
    local variant=$1 name=$2 round=$3
    local dir="$WORK/$variant-$name-$round" logf="$WORK/logs/$variant-$name-$round.log"
    local port pid t0 t1 fill_s tail_s rewrite_s shutdown_s="" reply n spot
    local first="" pong="" full="" dbsize="" limit hwm cpu disk_before disk_after
    mkdir -p "$dir"
    : >"$logf"

    # --- prepare ---------------------------------------------------------
    port="$(free_port)"
    start_server "$name" "$dir" "$port" "$logf"
    pid=$SERVER_PID
    wait_pong "$port" "$pid" "$logf" "$name" 30
    fill_s="$(fill "$port" "$name" "$logf" key "$KEYS" 1)"
    # The fill may have started an automatic rewrite (auto-aof-rewrite-*):
    # BGREWRITEAOF answers an error while one runs, in Redis as in Strata.
    t0=$EPOCHREALTIME
    for n in $(seq 1 20); do
        wait_rewrite "$port" "$name" "$logf"
        reply="$(redis-cli -p "$port" bgrewriteaof 2>&1 | tr -d '\r')"
        case "$reply" in
            "Background append only file rewriting"*) break ;;
            *"already in progress"*) [ "$n" -lt 20 ] || fail "$name" "$logf" "BGREWRITEAOF: $reply" ;;
            *) fail "$name" "$logf" "BGREWRITEAOF: $reply" ;;
        esac
    done
    wait_rewrite "$port" "$name" "$logf"
    rewrite_s="$(secs_between "$t0" "$EPOCHREALTIME")"
    tail_s="$(fill "$port" "$name" "$logf" tail "$TAIL" 2)"
    # A rewrite the tail may have triggered (auto-aof-rewrite) ends first.
    wait_rewrite "$port" "$name" "$logf"
    n="$(redis-cli -p "$port" dbsize | tr -d '\r')"
    [ "$n" = "$EXPECTED" ] || log "$name $variant round $round: DBSIZE $n before the restart, expected $EXPECTED"
    spot_check "$port" "$name" "before the restart"
    [ "$SPOT" = ok ] || log "$name $variant round $round: spot check before the restart: $SPOT"

    # --- stop ------------------------------------------------------------
    if [ "$variant" = kill ]; then
        kill -9 "$pid" 2>/dev/null || true
        wait "$pid" 2>/dev/null || true
    else
        t0=$EPOCHREALTIME
        redis-cli -p "$port" shutdown >/dev/null 2>&1 || true
        limit=$((${EPOCHREALTIME%.*} + 600))
        while kill -0 "$pid" 2>/dev/null; do
            [ "${EPOCHREALTIME%.*}" -lt "$limit" ] || fail "$name" "$logf" "still running 600 s after SHUTDOWN"
            nap 0.005
        done
        wait "$pid" 2>/dev/null || true
        shutdown_s="$(secs_between "$t0" "$EPOCHREALTIME")"
    fi
    forget_pid "$pid"
    disk_before="$(du -sb "$dir" | cut -f1)"
    # Dirty pages of the fill written back now, not during the timed restart.
    sync -f "$dir" 2>/dev/null || sync

    # --- timed restart ---------------------------------------------------
    port="$(free_port)"
    echo "----- restart -----" >>"$logf"
    t0=$EPOCHREALTIME
    start_server "$name" "$dir" "$port" "$logf"
    pid=$SERVER_PID
    limit=$((${t0%.*} + READY_TIMEOUT))
    while :; do
        if tcp_cmd "$port" PING; then
            t1=$EPOCHREALTIME
            [ -n "$first" ] || first="$t1"
            if [ "$TCP_REPLY" = "+PONG" ]; then
                pong="$t1"
                break
            fi
        fi
        kill -0 "$pid" 2>/dev/null || fail "$name" "$logf" "exited during the restart"
        [ "${EPOCHREALTIME%.*}" -lt "$limit" ] || fail "$name" "$logf" "no PONG within $READY_TIMEOUT s of the restart"
        nap 0.005
    done
    limit=$((${EPOCHREALTIME%.*} + DBSIZE_TIMEOUT))
    while :; do
        if tcp_cmd "$port" DBSIZE; then
            t1=$EPOCHREALTIME
            dbsize="${TCP_REPLY#:}"
            if [ "$TCP_REPLY" = ":$EXPECTED" ]; then
                full="$t1"
                break
            fi
        fi
        kill -0 "$pid" 2>/dev/null || fail "$name" "$logf" "exited after answering PONG"
        if [ "${EPOCHREALTIME%.*}" -ge "$limit" ]; then
            log "$name $variant round $round: DBSIZE is $dbsize, not $EXPECTED, $DBSIZE_TIMEOUT s after PONG"
            break
        fi
        nap 0.005
    done
    hwm="$(proc_kb "$pid" VmHWM)"
    cpu="$(awk -v t="$(cpu_ticks "$pid")" -v hz="$CLK_TCK" 'BEGIN { printf "%.2f", t / hz }')"
    spot_check "$port" "$name" "after the restart"
    spot="$SPOT"
    disk_after="$(du -sb "$dir" | cut -f1)"
    kill -9 "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
    forget_pid "$pid"
    [ -n "${KEEP:-}" ] || rm -rf "$dir"

    first="$(secs_between "$t0" "$first")"
    pong="$(secs_between "$t0" "$pong")"
    [ -z "$full" ] || full="$(secs_between "$t0" "$full")"
    echo "$variant,$name,$round,$first,$pong,$full,$dbsize,$hwm,$cpu,$disk_before,$disk_after,$spot,$fill_s,$tail_s,$rewrite_s,$shutdown_s" >>"$OUT"
    log "$variant $name round $round: first reply ${first}s, PONG ${pong}s, DBSIZE $dbsize at ${full:-never}s," \
        "VmHWM $((hwm / 1024)) MiB, disk $(human "$disk_before"), spot $spot${shutdown_s:+, SHUTDOWN ${shutdown_s}s}"
}

# summary VARIANT: per-round and median table of one variant from $OUT.
summary() {
    awk -F, -v v="$1" "$AWK_MEDIAN"'
    function f(x, fmt) { return (x == "") ? "n/a" : sprintf(fmt, x) }
    function div(a, b) { return (a == "" || b == "" || b + 0 == 0) ? "" : a / b }
    function mib(x) { return (x == "") ? "" : x / 1048576 }
    function add(name, x) { if (x != "") L[name] = L[name] " " x }
    $1 == v {
        r = $3; if (!(r in seen)) { seen[r] = 1; order[++n] = r }
        pong[$2, r] = $5; full[$2, r] = $6; hwm[$2, r] = ($8 == "") ? "" : $8 * 1024; cpu[$2, r] = $9
        disk[$2, r] = $10; spot[$2, r] = $12; shut[$2, r] = $16
        db[$2, r] = $7
    }
    function row(label, sp, rp, px, sf, rf, fx, sh, rh, sd, rd, sc, rc, ss, rs, chk) {
        printf "%-7s %8s %8s %6s %8s %8s %6s %8s %8s %8s %8s %6s %6s", label, f(sp, "%.3f"), f(rp, "%.3f"), f(px, "%.2f"),
            f(sf, "%.3f"), f(rf, "%.3f"), f(fx, "%.2f"), f(mib(sh), "%.0f"), f(mib(rh), "%.0f"),
            f(mib(sd), "%.1f"), f(mib(rd), "%.1f"), f(sc, "%.2f"), f(rc, "%.2f")
        if (v == "shutdown") printf " %7s %7s", f(ss, "%.3f"), f(rs, "%.3f")
        printf " %s\n", chk
    }
    END {
        printf "%-7s %8s %8s %6s %8s %8s %6s %8s %8s %8s %8s %6s %6s", "round", "s PONG", "r PONG", "x",
            "s full", "r full", "x", "s HWM", "r HWM", "s disk", "r disk", "s cpu", "r cpu"
        if (v == "shutdown") printf " %7s %7s", "s shut", "r shut"
        printf " %s\n", "check"
        for (i = 1; i <= n; i++) {
            r = order[i]
            px = div(pong["strata", r], pong["redis", r]); fx = div(full["strata", r], full["redis", r])
            chk = "strata " spot["strata", r] ", redis " spot["redis", r]
            if (full["strata", r] == "") chk = chk ", strata DBSIZE " db["strata", r]
            if (full["redis", r] == "") chk = chk ", redis DBSIZE " db["redis", r]
            row(r, pong["strata", r], pong["redis", r], px, full["strata", r], full["redis", r], fx,
                hwm["strata", r], hwm["redis", r], disk["strata", r], disk["redis", r], cpu["strata", r], cpu["redis", r],
                shut["strata", r], shut["redis", r], chk)
            add("sp", pong["strata", r]); add("rp", pong["redis", r]); add("px", px)
            add("sf", full["strata", r]); add("rf", full["redis", r]); add("fx", fx)
            add("sh", hwm["strata", r]); add("rh", hwm["redis", r]); add("sd", disk["strata", r]); add("rd", disk["redis", r])
            add("sc", cpu["strata", r]); add("rc", cpu["redis", r]); add("ss", shut["strata", r]); add("rs", shut["redis", r])
        }
        row("median", median(L["sp"]), median(L["rp"]), median(L["px"]), median(L["sf"]), median(L["rf"]), median(L["fx"]),
            median(L["sh"]), median(L["rh"]), median(L["sd"]), median(L["rd"]), median(L["sc"]), median(L["rc"]),
            median(L["ss"]), median(L["rs"]), "")
    }' "$OUT"
}

PAYLOAD=$((EXPECTED * VALUE_SIZE))
MAXMEM_BYTES="$(awk -v m="$MAXMEMORY" 'BEGIN { m = tolower(m); n = m + 0
    if (m ~ /gb$/) n *= 1073741824; else if (m ~ /mb$/) n *= 1048576; else if (m ~ /kb$/) n *= 1024
    else if (m ~ /g$/) n *= 1e9; else if (m ~ /m$/) n *= 1e6; else if (m ~ /k$/) n *= 1e3; print n }')"
log "redis-server $(redis-server --version | sed -n 's/.*v=\([^ ]*\).*/\1/p'), strata-server $STRATA_BIN"
log "$KEYS + $TAIL keys x $VALUE_SIZE B, strata --maxmemory $MAXMEMORY; variants [$VARIANTS], $ROUNDS rounds; work dir $WORK"

for variant in $VARIANTS; do
    for round in $(seq 1 "$ROUNDS"); do
        one "$variant" strata "$round"
        one "$variant" redis "$round"
    done
done

echo
echo "W5 restart: $KEYS keys + $TAIL tail keys x $VALUE_SIZE B (compressibility $COMPRESSIBILITY), payload $(human "$PAYLOAD")" \
    "= $(awk -v p="$PAYLOAD" -v m="$MAXMEM_BYTES" 'BEGIN { if (m > 0) printf "%.1f", p / m; else printf "n/a" }')x strata --maxmemory $MAXMEMORY${STRATA_ARGS:+ $STRATA_ARGS};" \
    "redis without maxmemory${REDIS_ARGS:+, $REDIS_ARGS}"
echo "Both: --appendonly yes --appendfsync everysec --save \"\"; BGREWRITEAOF after the main fill, then the tail; $ROUNDS alternating rounds"
echo "Seconds from the spawn of the restarted process: PONG = first PING answered +PONG, full = DBSIZE = $EXPECTED;"
echo "x = strata/redis; HWM = peak RSS (VmHWM, MiB) at full; disk = du -sb of the dir before the restart (MiB);"
echo "cpu = CPU seconds of the restarted process at full; check = spot keys (incl. the tail) read back after the restart"
for variant in $VARIANTS; do
    echo
    if [ "$variant" = kill ]; then
        echo "W5 after kill -9 (crash)"
    else
        echo "W5 after SHUTDOWN (graceful; shut = seconds from SHUTDOWN to process exit)"
    fi
    summary "$variant"
done
echo
# med SERVER COLUMN: median of one CSV column over every variant, 3 decimals.
med() {
    awk -v x="$(awk -F, -v s="$1" -v c="$2" 'NR > 1 && $2 == s && $c != "" { print $c }' "$OUT" | median)" \
        'BEGIN { if (x == "") print "n/a"; else printf "%.3f\n", x }'
}
mib_med() {
    awk -v x="$(awk -F, -v s="$1" -v c="$2" 'NR > 1 && $2 == s && $c != "" { print $c }' "$OUT" | median)" \
        'BEGIN { if (x == "") print "n/a"; else printf "%.1f\n", x / 1048576 }'
}
echo "medians over all runs: first reply of any kind (Redis answers -LOADING while it loads): strata $(med strata 4) s, redis $(med redis 4) s;" \
    "disk after the restart: strata $(mib_med strata 11) MiB, redis $(mib_med redis 11) MiB"
echo "preparation (medians, s): fill of $KEYS keys strata $(med strata 13), redis $(med redis 13);" \
    "BGREWRITEAOF strata $(med strata 15), redis $(med redis 15); tail of $TAIL keys strata $(med strata 14), redis $(med redis 14)"
echo
echo "raw runs: $OUT"
