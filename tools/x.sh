#!/usr/bin/env bash
# Strata's one entry point for building, running, testing and benchmarking.
#
#   ./tools/x.sh run [strata-server args]   build (release) and start the server
#   ./tools/x.sh test                       install test deps, run every test
#   ./tools/x.sh bench [bench.sh env/args]  load benchmark against redis-server
#
# Works on a fresh Debian machine: missing system packages are installed
# with apt-get (through sudo when not root). Rust (cargo) must be present.
# Everything builds in the release profile only (see Cargo.toml).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

log() { printf '[x.sh] %s\n' "$*" >&2; }

# Runs a command as root: directly when root, through sudo otherwise.
as_root() {
    if [ "$(id -u)" -eq 0 ]; then
        "$@"
    elif command -v sudo >/dev/null 2>&1; then
        sudo "$@"
    else
        log "need root (or sudo) to run: $*"
        return 1
    fi
}

APT_UPDATED=0
# ensure_pkgs PKG...: installs the Debian packages that are not installed
# yet; `apt-get update` runs only when something is missing.
ensure_pkgs() {
    local missing=()
    local p
    for p in "$@"; do
        if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
            missing+=("$p")
        fi
    done
    [ "${#missing[@]}" -eq 0 ] && return 0
    if ! command -v apt-get >/dev/null 2>&1; then
        log "missing packages (${missing[*]}) and no apt-get: install them by hand"
        return 1
    fi
    log "installing: ${missing[*]}"
    if [ "$APT_UPDATED" -eq 0 ]; then
        as_root env DEBIAN_FRONTEND=noninteractive apt-get update -q
        APT_UPDATED=1
    fi
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${missing[@]}"
}

ensure_cargo() {
    if ! command -v cargo >/dev/null 2>&1 && [ -x "$HOME/.cargo/bin/cargo" ]; then
        export PATH="$HOME/.cargo/bin:$PATH"
    fi
    if ! command -v cargo >/dev/null 2>&1; then
        cat >&2 <<'MSG'
[x.sh] cargo was not found. Install the Rust toolchain first, for example:
         apt-get install -y rustup && rustup default stable
       or follow the rustup instructions for your system, then re-run.
MSG
        exit 1
    fi
}

BUILD_PKGS=(clang libclang-dev pkg-config build-essential)
TEST_PKGS=(redis-server redis-tools)

build_release() {
    ensure_cargo
    ensure_pkgs "${BUILD_PKGS[@]}"
    log "cargo build --release"
    cargo build --release --bin strata-server
}

cmd_run() {
    build_release
    local args=("$@")
    if [ "${#args[@]}" -eq 0 ] || [[ "${args[0]}" == --* ]]; then
        # No config file given: use the repository's default one if present.
        if [ -f config/strata.conf ]; then
            args=(config/strata.conf "${args[@]}")
        fi
    fi
    log "exec target/release/strata-server ${args[*]}"
    exec "$ROOT/target/release/strata-server" "${args[@]}"
}

cmd_test() {
    ensure_cargo
    ensure_pkgs "${BUILD_PKGS[@]}" "${TEST_PKGS[@]}"
    # The differential tests start their own redis-server on a free port.
    local out status
    out="$(mktemp)"
    # A CI machine builds once from nothing: incremental state would only
    # take disk there.
    if [ "${CI:-}" = true ]; then
        export CARGO_INCREMENTAL=0
    fi
    log "cargo test --release --workspace --no-fail-fast"
    set +e
    cargo test --release --workspace --no-fail-fast --color never 2>&1 | tee "$out"
    status=${PIPESTATUS[0]}
    set -e
    echo
    echo "=== test summary ==="
    grep -E '^(test result:|     Running|   Doc-tests)' "$out" | sed 's/^ *//' || true
    local passed=0 failed=0 ignored=0
    while read -r p f i; do
        passed=$((passed + p)); failed=$((failed + f)); ignored=$((ignored + i))
    done < <(sed -nE 's/^test result: [A-Za-z]+\. ([0-9]+) passed; ([0-9]+) failed; ([0-9]+) ignored.*/\1 \2 \3/p' "$out")
    echo "total: $passed passed, $failed failed, $ignored skipped"
    echo "disk: target/ holds $(du -sh "$ROOT/target" 2>/dev/null | cut -f1)," \
        "$(df -h "$ROOT" | awk 'NR==2 {print $4}') left"
    rm -f "$out"
    return "$status"
}

cmd_bench() {
    ensure_cargo
    ensure_pkgs "${BUILD_PKGS[@]}" "${TEST_PKGS[@]}"
    exec "$ROOT/tools/bench.sh" "$@"
}

usage() {
    sed -n '2,10p' "$0" | sed 's/^# \{0,1\}//'
}

main() {
    local cmd="${1:-}"
    [ $# -gt 0 ] && shift
    case "$cmd" in
        run) cmd_run "$@" ;;
        test) cmd_test "$@" ;;
        bench) cmd_bench "$@" ;;
        -h | --help | help | "") usage ;;
        *)
            usage
            exit 2
            ;;
    esac
}

main "$@"
