#!/bin/sh
# Crash torture for the AOF: SIGKILLs strata-server under a mixed write load
# and checks every acknowledged write survives (see src/bin/strata-torture.rs).
#
#   tools/torture.sh [cycles] [extra strata-torture options...]
#
# Runs the campaign for appendfsync always, everysec and everysec with
# rewrites racing the kills. Exit status non-zero on the first failure
# (the seed is printed so the run can be replayed with --seed).
set -e
root="$(cd "$(dirname "$0")/.." && pwd)"
cycles="${1:-50}"
[ $# -gt 0 ] && shift
(cd "$root" && cargo build --release --bin strata-server --bin strata-torture)
bin="$root/target/release"
for mode in "always" "everysec" "everysec --rewrites"; do
    # shellcheck disable=SC2086
    "$bin/strata-torture" --server "$bin/strata-server" --fsync $mode --cycles "$cycles" "$@"
done
