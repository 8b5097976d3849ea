#!/usr/bin/env bash
# Import benchmark: how fast Strata loads a dump.rdb written by redis-server,
# against redis-server loading the same file, alternating the two servers.
#
#   ./tools/import_bench.sh              # 1M mixed keys, 3 alternating rounds
#   KEYS=200000 ./tools/import_bench.sh  # smaller dataset
#   DUMP=/path/dump.rdb ./tools/import_bench.sh   # time an existing file
#
# The dataset is generated once with redis-server (Lua scripts, so no
# protocol files) and cached in target/bench/import-<KEYS>.rdb; REGEN=1
# rebuilds it. Mix (fractions of KEYS): 35% strings of 10-200 random
# letters, 10% integer strings, 5% strings with a TTL (1 day), 15% small
# hashes (10 fields: listpack), 10% small lists (10 elements: quicklist of
# listpacks), 8% small integer sets (intset), 5% small string sets
# (hashtable in 7.0), 10% small sorted sets (10 members: listpack), and
# 0.5% each of big hashes (200 fields: hashtable), big lists (500
# elements), big sets (500 members) and big sorted sets (200 members:
# skiplist).
#
# Each round copies the dump into a fresh directory and starts the server
# on it; the time runs from the start of the process until PING answers
# PONG and INFO persistence reports loading:0 (when the field exists).
# Prints per round and the median: seconds, keys/s, MB/s (dump bytes) and
# the ratio Strata/Redis of load speed, with CPU seconds and RSS after load.
#
# Environment knobs (defaults in brackets):
#   KEYS        keys in the generated dataset   [1000000]
#   ROUNDS      A/B pairs                       [3]
#   DUMP        use this dump.rdb instead of generating one
#   REGEN=1     regenerate the cached dataset
#   STRATA_ARGS extra strata-server args        REDIS_ARGS extra redis-server args
#   NO_BUILD=1  skip `cargo build --release`
#   KEEP=1      keep the work directory (logs)
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
LOG_TAG=import_bench
# shellcheck source=tools/lib.sh
. "$ROOT/tools/lib.sh"

KEYS="${KEYS:-1000000}"
ROUNDS="${ROUNDS:-3}"
STRATA_ARGS="${STRATA_ARGS:-}"
REDIS_ARGS="${REDIS_ARGS:-}"
CACHE="$ROOT/target/bench/import-$KEYS.rdb"


for bin in redis-server redis-cli; do
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

setup_work strata-import

# ping_ok PORT: true if PING answers +PONG (no process spawned: bash's
# /dev/tcp, so polling does not steal CPU from the loading server).
ping_ok() {
    (
        exec 3<>"/dev/tcp/127.0.0.1/$1" || exit 1
        printf 'PING\r\n' >&3
        IFS= read -r -t 5 line <&3 || exit 1
        [ "${line%$'\r'}" = "+PONG" ]
    ) 2>/dev/null
}

# loaded PORT: PONG and (if INFO persistence has the field) loading:0.
loaded() {
    ping_ok "$1" || return 1
    local l
    l="$(redis-cli -p "$1" info persistence 2>/dev/null | tr -d '\r' | sed -n 's/^loading://p')"
    [ -z "$l" ] || [ "$l" = 0 ]
}

CLK_TCK="$(getconf CLK_TCK)"
rss_kb() {
    sed -n 's/^VmRSS:[[:space:]]*\([0-9]*\).*/\1/p' "/proc/$1/status"
}

# start NAME DIR PORT: starts a server on DIR/dump.rdb; sets SERVER_PID.
start() {
    local name=$1 dir=$2 port=$3
    if [ "$name" = redis ]; then
        # shellcheck disable=SC2086
        redis-server --port "$port" --bind 127.0.0.1 --save "" --appendonly no \
            --dir "$dir" --dbfilename dump.rdb --logfile "$dir/server.log" $REDIS_ARGS >/dev/null 2>&1 &
    else
        # shellcheck disable=SC2086
        "$STRATA_BIN" --port "$port" --bind 127.0.0.1 --save "" --appendonly no \
            --dir "$dir" --dbfilename dump.rdb $STRATA_ARGS >"$dir/server.log" 2>&1 &
    fi
    SERVER_PID=$!
}

stop() {
    kill "$1" 2>/dev/null || true
    wait "$1" 2>/dev/null || true
    local keep=() p
    for p in "${PIDS[@]}"; do
        [ "$p" = "$1" ] || keep+=("$p")
    done
    PIDS=("${keep[@]}")
}

# --- dataset -----------------------------------------------------------------
# gen.lua ARGV: kind, first index, end index (exclusive), element count.
GEN_LUA='
local kind, from, to, n = ARGV[1], tonumber(ARGV[2]), tonumber(ARGV[3]), tonumber(ARGV[4])
math.randomseed(from + 17)
local pool = {}
for p = 1, 97 do
    local t = {}
    for c = 1, 256 do t[c] = math.random(97, 122) end
    pool[p] = string.char(unpack(t))
end
local function str(i, len) return string.sub(pool[(i % 97) + 1], 1, len) end
for i = from, to - 1 do
    if kind == "str" then
        redis.call("SET", "str:" .. i, str(i, 10 + i % 191))
    elseif kind == "int" then
        redis.call("SET", "int:" .. i, i * 7 - 3000000)
    elseif kind == "ttl" then
        redis.call("SET", "ttl:" .. i, str(i, 40), "EX", 86400 + i % 3600)
    else
        local a = {}
        if kind == "hash" or kind == "bighash" then
            for j = 1, n do a[#a + 1] = "field" .. j; a[#a + 1] = str(i + j, 4 + (i + j) % 24) end
            redis.call("HSET", kind .. ":" .. i, unpack(a))
        elseif kind == "list" or kind == "biglist" then
            for j = 1, n do a[#a + 1] = str(i * 3 + j, 6 + (i + j) % 30) end
            redis.call("RPUSH", kind .. ":" .. i, unpack(a))
        elseif kind == "iset" then
            for j = 1, n do a[#a + 1] = i * 16 + j end
            redis.call("SADD", kind .. ":" .. i, unpack(a))
        elseif kind == "sset" or kind == "bigset" then
            for j = 1, n do a[#a + 1] = "m" .. j .. ":" .. str(i + j, 8) end
            redis.call("SADD", kind .. ":" .. i, unpack(a))
        elseif kind == "zset" or kind == "bigzset" then
            for j = 1, n do a[#a + 1] = ((i * 31 + j * 7) % 10007) / 8; a[#a + 1] = "member:" .. j end
            redis.call("ZADD", kind .. ":" .. i, unpack(a))
        else
            return redis.error_reply("unknown kind " .. kind)
        end
    end
end
return to - from
'

# kind  fraction (per mille of KEYS)  elements  keys per EVAL
MIX="str 350 0 20000
int 100 0 20000
ttl 50 0 20000
hash 150 10 10000
list 100 10 10000
iset 80 10 10000
sset 50 10 10000
zset 100 10 10000
bighash 5 200 200
biglist 5 500 200
bigset 5 500 200
bigzset 5 200 200"

generate() {
    local out=$1 port pid dir t0 kind frac n chunk count from to
    dir="$WORK/gen"
    mkdir -p "$dir"
    port="$(free_port)"
    redis-server --port "$port" --bind 127.0.0.1 --save "" --appendonly no \
        --dir "$dir" --dbfilename dump.rdb --logfile "$dir/server.log" >/dev/null 2>&1 &
    pid=$!
    PIDS+=("$pid")
    for _ in $(seq 1 200); do ping_ok "$port" && break; sleep 0.05; done
    t0=$EPOCHREALTIME
    log "generating $KEYS keys with redis-server (cached in $out)"
    while read -r kind frac n chunk; do
        count=$((KEYS * frac / 1000))
        from=0
        while [ "$from" -lt "$count" ]; do
            to=$((from + chunk))
            [ "$to" -gt "$count" ] && to=$count
            redis-cli -p "$port" eval "$GEN_LUA" 0 "$kind" "$from" "$to" "$n" >/dev/null || {
                log "generation failed ($kind $from..$to)"
                exit 1
            }
            from=$to
        done
    done <<<"$MIX"
    log "generated $(redis-cli -p "$port" dbsize) keys in $(awk -v a="$t0" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.1f", b - a }') s; saving"
    redis-cli -p "$port" save >/dev/null
    mkdir -p "$(dirname "$out")"
    cp "$dir/dump.rdb" "$out.tmp"
    mv "$out.tmp" "$out"
    stop "$pid"
    rm -rf "$dir"
}

if [ -n "${DUMP:-}" ]; then
    [ -f "$DUMP" ] || { log "no such file: $DUMP"; exit 1; }
    SRC="$DUMP"
else
    if [ -n "${REGEN:-}" ] || [ ! -f "$CACHE" ]; then
        generate "$CACHE"
    fi
    SRC="$CACHE"
fi
DUMP_BYTES="$(stat -c %s "$SRC")"

# --- rounds ----------------------------------------------------------------
RESULTS="$WORK/results.csv"
: >"$RESULTS"
# one NAME ROUND: copy, start, time until loaded, record, stop.
one() {
    local name=$1 round=$2 dir port pid t0 t1 keys cpu rss i ok=
    dir="$WORK/$name-$round"
    mkdir -p "$dir"
    cp "$SRC" "$dir/dump.rdb"
    sync "$dir/dump.rdb" 2>/dev/null || true
    port="$(free_port)"
    t0=$EPOCHREALTIME
    start "$name" "$dir" "$port"
    pid=$SERVER_PID
    PIDS+=("$pid")
    # Up to 10 minutes.
    for i in $(seq 1 60000); do
        if loaded "$port"; then
            ok=1
            break
        fi
        if ! kill -0 "$pid" 2>/dev/null; then
            break
        fi
        sleep 0.01
    done
    t1=$EPOCHREALTIME
    if [ -z "$ok" ]; then
        log "$name did not finish loading; log tail:"
        tail -n 20 "$dir/server.log" >&2
        exit 1
    fi
    cpu="$(awk -v t="$(cpu_ticks "$pid")" -v hz="$CLK_TCK" 'BEGIN { printf "%.2f", t / hz }')"
    rss="$(rss_kb "$pid")"
    keys="$(redis-cli -p "$port" dbsize | tr -d '\r')"
    echo "$name,$round,$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.3f", b - a }'),$keys,$cpu,$rss" >>"$RESULTS"
    log "$name round $round: $(tail -n 1 "$RESULTS")"
    stop "$pid"
    rm -rf "$dir"
}

log "dump: $SRC ($DUMP_BYTES bytes); $ROUNDS alternating rounds"
for round in $(seq 1 "$ROUNDS"); do
    one redis "$round"
    one strata "$round"
done

echo
echo "Import: $SRC, $DUMP_BYTES bytes ($(awk -v b="$DUMP_BYTES" 'BEGIN { printf "%.1f", b / 1048576 }') MiB)," \
    "$(grep -m1 '^redis,' "$RESULTS" | cut -d, -f4) keys (redis dbsize)${STRATA_ARGS:+; strata args: $STRATA_ARGS}"
echo "time = process start until PING answers and loading:0; MB/s = dump bytes / time; ratio = strata speed / redis speed"
awk -F, -v bytes="$DUMP_BYTES" '
function median(list,    a, n, i, j, t) {
    n = split(list, a, " ")
    if (n == 0) return 0
    for (i = 1; i <= n; i++) for (j = i + 1; j <= n; j++) if (a[j] + 0 < a[i] + 0) { t = a[i]; a[i] = a[j]; a[j] = t }
    if (n % 2) return a[(n + 1) / 2]
    return (a[n / 2] + a[n / 2 + 1]) / 2
}
{ s[$1, $2] = $3; k[$1, $2] = $4; c[$1, $2] = $5; m[$1, $2] = $6; if (!($2 in seen)) { seen[$2] = 1; order[++n] = $2 } }
function row(label, rs, ss, rk, sk, rc, sc, rm, sm, ratio) {
    printf "%-7s %8.3f %8.3f %11.0f %11.0f %8.1f %8.1f %7.2f %7.2f %8.0f %8.0f %7.2f\n", label, rs, ss,
        (rs > 0) ? rk / rs : 0, (ss > 0) ? sk / ss : 0, (rs > 0) ? bytes / 1e6 / rs : 0, (ss > 0) ? bytes / 1e6 / ss : 0,
        rc, sc, rm / 1024, sm / 1024, ratio
}
END {
    printf "%-7s %8s %8s %11s %11s %8s %8s %7s %7s %8s %8s %7s\n", "round", "redis s", "strata s", "redis k/s", "strata k/s",
        "r MB/s", "s MB/s", "r cpu s", "s cpu s", "r RSS MB", "s RSS MB", "ratio"
    for (i = 1; i <= n; i++) {
        r = order[i]
        ratio = (s["strata", r] > 0) ? s["redis", r] / s["strata", r] : 0
        row(r, s["redis", r], s["strata", r], k["redis", r], k["strata", r], c["redis", r], c["strata", r], m["redis", r], m["strata", r], ratio)
        L1 = L1 " " s["redis", r]; L2 = L2 " " s["strata", r]; L3 = L3 " " ratio
        L4 = L4 " " c["redis", r]; L5 = L5 " " c["strata", r]; L6 = L6 " " m["redis", r]; L7 = L7 " " m["strata", r]
        if (k["redis", r] != k["strata", r]) printf "        (round %s: key counts differ: redis %s, strata %s)\n", r, k["redis", r], k["strata", r]
        kr = k["redis", r]; ks = k["strata", r]
    }
    row("median", median(L1), median(L2), kr, ks, median(L4), median(L5), median(L6), median(L7), median(L3))
}' "$RESULTS"
