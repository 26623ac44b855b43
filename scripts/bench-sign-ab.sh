#!/usr/bin/env bash
# An A/B of one figure of `make bench`, the one most sensitive to the daemon's own work: RSA-2048
# signatures through paysignd by 8 signers with the login kept (--pin-cache-seconds), against raw
# C_Sign measured beside each round. Two builds' paysignd alternate on one test PKI, so the
# machine's drift falls on both alike.
#
#   scripts/bench-sign-ab.sh BIN_A BIN_B [ROUNDS=4] [SECONDS=5]
#
# BIN_A, BIN_B: folders holding paysignd and paysign-bench (e.g. two release builds, `swift build
# -c release --static-swift-stdlib --show-bin-path` of each checkout). Needs root (the flow's Unix
# users, Tests/testbed/users.sh). Prints one line per round and build.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ $# -lt 2 ]; then echo "usage: scripts/bench-sign-ab.sh BIN_A BIN_B [ROUNDS] [SECONDS]" >&2; exit 2; fi
A=$(cd "$1" && pwd); B=$(cd "$2" && pwd); rounds=${3:-4}; seconds=${4:-5}
for bin in "$A" "$B"; do
  for tool in paysignd paysign-bench; do
    [ -x "$bin/$tool" ] || { echo "bench-sign-ab: $bin/$tool is missing; build it first" >&2; exit 2; }
  done
done
[ "$(id -u)" -eq 0 ] || { echo "bench-sign-ab: run as root (the signers are Unix users of their own)" >&2; exit 2; }
Tests/testbed/users.sh ensure
work=$(mktemp -d)
flow=$(mktemp -d /tmp/paysign-ab.XXXXXX)
daemon=
cleanup() {
  if [ -n "$daemon" ]; then kill -TERM "$daemon" 2>/dev/null || true; wait "$daemon" 2>/dev/null || true; fi
  rm -rf "$work" "$flow"
}
trap cleanup EXIT
chmod 755 "$flow"
PAYSIGN_BIN_DIR="$B" Certs/make-test-pki.sh "$work/pki" >/dev/null 2>&1
export SOFTHSM2_CONF=$work/pki/softhsm2.conf
module=
for candidate in /usr/lib/softhsm/libsofthsm2.so /usr/lib/x86_64-linux-gnu/softhsm/libsofthsm2.so; do
  [ -f "$candidate" ] && { module=$candidate; break; }
done
cp "$B/paysign-bench" "$flow/paysign-bench"
python3 scripts/make-payroll.py 1 > "$flow/order.csv"
chmod 644 "$flow/order.csv"
socket=$flow/paysign.sock
pin=$(awk -F'\t' '$1 == "officer1" {print $3}' "$work/pki/tokens.tsv")
as() { local user=$1; shift; setpriv --reuid="$user" --regid=nogroup --clear-groups "$flow/paysign-bench" "$@"; }
pool=$((seconds * 1200 + 200))
for round in $(seq 1 "$rounds"); do
  for side in A B; do
    bin=${!side}
    rm -f "$socket"
    "$bin/paysignd" --socket "$socket" --state-dir "$work/state-$side-$round" --module "$module" --socket-group nogroup \
      --log-level warning --pin-cache-seconds 60 2>>"$work/paysignd.log" &
    daemon=$!
    while ! [ -S "$socket" ]; do
      kill -0 "$daemon" 2>/dev/null || { echo "bench-sign-ab: paysignd did not start: $(tail -3 "$work/paysignd.log")" >&2; exit 1; }
      sleep 0.01
    done
    "$flow/paysign-bench" setup "$socket" >/dev/null
    as paysign-clerk orders "$socket" "$pool" "$flow/order.csv" > "$work/orders.txt" 2>/dev/null
    as paysign-reviewer review "$socket" < "$work/orders.txt" > "$work/ids.txt" 2>/dev/null
    raw=$("$B/paysign-bench" "$work/pki" "$module" 1 raw rsa2048 | awk '$2 == "c_sign_raw_rsa2048" { print $3 }')
    rate=$(as paysign-officer1 sign "$socket" ab 8 "pkcs11:token=officer1" "$pin" "$seconds" --cached-login < "$work/ids.txt" 2>/dev/null \
      | awk '$2 == "daemon_sign_ab" { print $3 }')
    echo "round $round $side: $rate sig/s, raw C_Sign $raw sig/s, ratio $(awk -v a="$rate" -v b="$raw" 'BEGIN { printf "%.3f", a / b }')"
    kill -TERM "$daemon"; wait "$daemon" || true; daemon=
  done
done
