# shellcheck shell=bash
# Shared helpers of the benchmark scripts in tools/ (sourced, not run):
#
#   . "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
#
# Set LOG_TAG before sourcing (log prefix). Nothing here changes shell
# options; every helper works under `set -euo pipefail`.
#
#   log MSG...                 "[LOG_TAG] MSG" on stderr
#   need_cmds CMD...           exit 1 unless every command is installed
#   port_free PORT / free_port a random free loopback port below the ephemeral range
#   tcp_cmd PORT WORDS...      one inline command over bash's /dev/tcp, no process
#                              spawned: TCP_REPLY = first reply line, CR stripped
#   ping_ok PORT               PING answered +PONG (tcp_cmd)
#   nap SECONDS                sleep without spawning a process
#   now                        wall clock in seconds (EPOCHREALTIME)
#   secs_between T0 T1         T1 - T0 with 3 decimals
#   cpu_ticks PID              utime + stime in clock ticks (CLK_TCK per second)
#   proc_kb PID FIELD          a kB field of /proc/PID/status (VmHWM, VmRSS)
#   info_field PORT SECTION FIELD   one field of INFO (empty if absent)
#   human BYTES                1.5 MiB style
#   median                     median of the numbers on stdin (empty if none)

LOG_TAG="${LOG_TAG:-bench}"
CLK_TCK="$(getconf CLK_TCK)"

log() { printf '[%s] %s\n' "$LOG_TAG" "$*" >&2; }

need_cmds() {
    local bin
    for bin in "$@"; do
        if ! command -v "$bin" >/dev/null 2>&1; then
            log "$bin not found: apt-get install -y redis-server redis-tools (or ./tools/x.sh bench)"
            exit 1
        fi
    done
}

port_free() {
    ! (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}

free_port() {
    local p i
    for i in $(seq 1 200); do
        # Below the kernel's ephemeral range, so client sockets never hold it.
        p=$((20000 + RANDOM % 12000))
        if port_free "$p"; then
            echo "$p"
            return 0
        fi
    done
    log "no free port found"
    return 1
}

# tcp_cmd PORT WORDS...: sends WORDS as one inline command on a new
# connection and reads the first line of the reply into TCP_REPLY (CR
# stripped; empty on failure). Returns 1 if the connection is refused or
# no line arrives within TCP_TIMEOUT seconds [10]. No fork: polling with it
# does not steal CPU from the server being timed. SIGPIPE is ignored
# around the write only, so a server dying mid-write cannot kill the shell.
tcp_cmd() {
    local port=$1 fd line="" rc=0
    shift
    TCP_REPLY=""
    { exec {fd}<>"/dev/tcp/127.0.0.1/$port"; } 2>/dev/null || return 1
    trap '' PIPE
    printf '%s\r\n' "$*" >&"$fd" 2>/dev/null || rc=1
    trap - PIPE
    if [ "$rc" = 0 ]; then
        IFS= read -r -t "${TCP_TIMEOUT:-10}" -u "$fd" line || rc=1
    fi
    exec {fd}>&-
    TCP_REPLY="${line%$'\r'}"
    return "$rc"
}

ping_ok() {
    tcp_cmd "$1" PING && [ "$TCP_REPLY" = "+PONG" ]
}

# A pipe nobody writes to: `read -t` on it is a sleep without a fork.
exec {NAP_FD}<> <(:)
nap() {
    read -r -t "$1" -u "$NAP_FD" _ || true
}

now() { echo "$EPOCHREALTIME"; }

secs_between() {
    awk -v a="$1" -v b="$2" 'BEGIN { printf "%.3f", b - a }'
}

# CPU ticks (utime+stime) of a process; fields counted after the ")" that
# closes the command name.
cpu_ticks() {
    local stat
    stat="$(cat "/proc/$1/stat")"
    stat="${stat##*) }"
    # shellcheck disable=SC2086
    set -- $stat
    echo $((${12} + ${13}))
}

proc_kb() {
    sed -n "s/^$2:[[:space:]]*\([0-9]*\).*/\1/p" "/proc/$1/status" 2>/dev/null || true
}

info_field() {
    redis-cli -p "$1" info "$2" 2>/dev/null | tr -d '\r' | sed -n "s/^$3:\(.*\)/\1/p" | head -n 1
}

human() {
    awk -v b="$1" 'BEGIN { if (b == "") { print "n/a"; exit } split("B KiB MiB GiB TiB", u, " "); i = 1; while (b >= 1024 && i < 5) { b /= 1024; i++ } printf "%.1f %s\n", b, u[i] }'
}

median() {
    sort -g | awk '{ a[NR] = $1 } END { if (NR == 0) exit; if (NR % 2) print a[(NR + 1) / 2]; else print (a[NR / 2] + a[NR / 2 + 1]) / 2 }'
}

# build_bins: unless NO_BUILD is set, builds strata-server and
# strata-loadgen (two invocations: strata-loadgen is its own workspace
# package, and one build of both would unify their features).
build_bins() {
    if [ -z "${NO_BUILD:-}" ]; then
        log "cargo build --release --bin strata-server; cargo build --release -p strata-loadgen"
        cargo build --release --bin strata-server >&2
        cargo build --release -p strata-loadgen >&2
    fi
}

# require_bins FILE...: exits unless every FILE is executable.
require_bins() {
    local b
    for b in "$@"; do
        [ -x "$b" ] || { log "missing $b (build it, or drop NO_BUILD)"; exit 1; }
    done
}

# setup_work NAME [SIGNAL]: WORK = a new temporary directory, PIDS = ();
# on exit every pid in PIDS gets SIGNAL [TERM] and is waited for, and WORK
# is removed (kept, and its path logged, with KEEP set).
setup_work() {
    WORK="$(mktemp -d -t "$1.XXXXXX")"
    PIDS=()
    WORK_SIGNAL="${2:-TERM}"
    trap cleanup_work EXIT
    trap 'exit 130' INT TERM
}

cleanup_work() {
    local pid
    for pid in "${PIDS[@]}"; do
        kill "-$WORK_SIGNAL" "$pid" 2>/dev/null || true
    done
    for pid in "${PIDS[@]}"; do
        wait "$pid" 2>/dev/null || true
    done
    if [ -n "${KEEP:-}" ]; then
        log "work directory kept: $WORK"
    else
        rm -rf "$WORK"
    fi
}

# AWK_MEDIAN: an awk function median(list) of a space-separated list, to
# prepend to awk programs.
AWK_MEDIAN='
function median(list,    a, n, i, j, t) {
    n = split(list, a, " ")
    if (n == 0) return ""
    for (i = 1; i <= n; i++) for (j = i + 1; j <= n; j++) if (a[j] + 0 < a[i] + 0) { t = a[i]; a[i] = a[j]; a[j] = t }
    if (n % 2) return a[(n + 1) / 2]
    return (a[n / 2] + a[n / 2 + 1]) / 2
}'

# wait_ready PORT PID [TRIES]: true once PORT answers PING with PONG (every
# 50 ms, TRIES times [400]); false if PID exits or time runs out.
wait_ready() {
    local port=$1 pid=$2 tries=${3:-400} i
    for ((i = 0; i < tries; i++)); do
        kill -0 "$pid" 2>/dev/null || return 1
        ping_ok "$port" && return 0
        nap 0.05
    done
    return 1
}
