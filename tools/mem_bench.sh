#!/usr/bin/env bash
# Memory benchmark (W2): RAM used minus payload, per key, Strata vs
# Debian's redis-server, for 16-byte strings, hashes of 10 small fields and
# sets of 10 integers. Loads the same data into both with redis-cli --pipe
# and reads used_memory from INFO before and after.
#
#   ./tools/mem_bench.sh            # 1,000,000 keys per workload
#   KEYS=200000 ./tools/mem_bench.sh
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
KEYS=${KEYS:-1000000}
[ "${NO_BUILD:-0}" = 1 ] || cargo build --release --bin strata-server >/dev/null
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
RP=$(free_port); SP=$(free_port)
TMP=$(mktemp -d)
redis-server --port "$RP" --save "" --appendonly no --dir "$TMP" >/dev/null 2>&1 &
RPID=$!
./target/release/strata-server --port "$SP" --save "" --appendonly no --dir "$TMP" >/dev/null 2>&1 &
SPID=$!
trap 'kill $RPID $SPID 2>/dev/null; rm -rf "$TMP"' EXIT
sleep 0.5
used() { redis-cli -p "$1" info memory | tr -d '\r' | awk -F: '/^used_memory:/{print $2}'; }
gen() {
  python3 - "$1" "$KEYS" <<'PY'
import sys
kind, n = sys.argv[1], int(sys.argv[2])
out = sys.stdout.buffer
def cmd(*a):
    b = b"*%d\r\n" % len(a)
    for x in a:
        x = x if isinstance(x, bytes) else str(x).encode()
        b += b"$%d\r\n%s\r\n" % (len(x), x)
    return b
buf = []
for i in range(n):
    if kind == "string":
        buf.append(cmd("SET", "key:%012d" % i, "v" * 16))
    elif kind == "hash":
        args = ["HSET", "hash:%012d" % i]
        for f in range(10):
            args += ["f%d" % f, "val%d" % f]
        buf.append(cmd(*args))
    else:
        buf.append(cmd("SADD", "set:%012d" % i, *[str(i * 10 + m) for m in range(10)]))
    if len(buf) >= 10000:
        out.write(b"".join(buf)); buf = []
out.write(b"".join(buf))
PY
}
payload() {
  case $1 in
    string) echo $(( (16 + 16) * KEYS ));;
    hash) echo $(( (16 + 10 * (2 + 4)) * KEYS ));;
    set) echo $(( (16 + 10 * 8) * KEYS ));;
  esac
}
printf "%-8s %12s %12s %8s\n" workload "redis B/key" "strata B/key" ratio
for kind in string hash set; do
  declare -A per
  for p in "$RP" "$SP"; do
    redis-cli -p "$p" flushall >/dev/null
    sleep 0.2
    before=$(used "$p")
    gen "$kind" | redis-cli -p "$p" --pipe >/dev/null
    after=$(used "$p")
    per[$p]=$(python3 -c "print(($after - $before - $(payload "$kind")) / $KEYS)")
  done
  printf "%-8s %12.1f %12.1f %8.2f\n" "$kind" "${per[$RP]}" "${per[$SP]}" "$(python3 -c "print(${per[$SP]} / ${per[$RP]})")"
  unset per
done
