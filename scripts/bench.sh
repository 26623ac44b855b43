#!/usr/bin/env bash
# `make bench`: figures as `bench NAME VALUE UNIT`, comparisons as `ratio NAME VALUE` (ours divided
# by the reference, higher is better), all measured in this run on this machine.
# QUICK=1 shortens every measurement.
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=3
[ "${QUICK:-0}" = 1 ] && seconds=1
echo "== build (release)" >&2
for product in paysign-bench paysignd; do
  swift build -c release --product "$product" 2>&1 | grep -Ev '^\[[0-9]+/[0-9]+\]|prohibited flag' >&2 || true
done
bin=$(swift build -c release --show-bin-path)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
Certs/make-test-pki.sh "$work/pki" >&2
module=
for candidate in /usr/lib/softhsm/libsofthsm2.so /usr/lib/x86_64-linux-gnu/softhsm/libsofthsm2.so; do
  [ -f "$candidate" ] && { module=$candidate; break; }
done
"$bin/paysign-bench" "$work/pki" "$module" "$seconds" | tee "$work/ours.txt"

# The daemon: start to socket ready, GET /v1/health round trips, idle memory.
export SOFTHSM2_CONF=$work/pki/softhsm2.conf
start_ns=$(date +%s%N)
"$bin/paysignd" --socket "$work/paysign.sock" --state-dir "$work/state" --module "$module" --socket-group "" \
  --log-level warning 2>"$work/paysignd.log" &
daemon=$!
trap 'kill -TERM "$daemon" 2>/dev/null || true; rm -rf "$work"' EXIT
while ! [ -S "$work/paysign.sock" ]; do
  kill -0 "$daemon" 2>/dev/null || { echo "bench: paysignd did not start: $(cat "$work/paysignd.log")" >&2; exit 1; }
  sleep 0.005
done
echo "bench daemon_ready $(( ($(date +%s%N) - start_ns) / 1000000 )) ms"
sleep 1
echo "bench daemon_idle_rss $(awk '/VmRSS/ { printf "%.1f", $2 / 1024 }' /proc/$daemon/status) MB"
"$bin/paysign-bench" health "$work/paysign.sock" "$seconds"
echo "bench daemon_rss_after_health $(awk '/VmRSS/ { printf "%.1f", $2 / 1024 }' /proc/$daemon/status) MB"
kill -TERM "$daemon"; wait "$daemon" || true

# The hardware reference: OpenSSL signing in one process, one core.
if command -v openssl >/dev/null; then
  openssl speed -seconds "$seconds" -mr rsa2048 ecdsap256 2>/dev/null > "$work/speed.txt" || true
  rsa_sign=$(awk -F: '/^\+F2:/ && $3 == 2048 { printf "%.1f", $4 }' "$work/speed.txt")
  ec_sign=$(awk -F: '/^\+F4:/ && $3 == 256 { printf "%.1f", $4 }' "$work/speed.txt")
  ours() { awk -v n="$1" '$1 == "bench" && $2 == n { print $3 }' "$work/ours.txt"; }
  if [ -n "$rsa_sign" ]; then
    echo "bench openssl_speed_rsa2048_sign $rsa_sign sig/s"
    echo "ratio c_sign_raw_vs_openssl_speed_rsa2048 $(awk -v a="$(ours c_sign_raw_rsa2048)" -v b="$rsa_sign" 'BEGIN { printf "%.3f", a / b }')"
  else
    echo "bench: openssl speed gave no rsa2048 figure; ratio skipped" >&2
  fi
  if [ -n "$ec_sign" ]; then
    echo "bench openssl_speed_p256_sign $ec_sign sig/s"
    echo "ratio c_sign_raw_vs_openssl_speed_p256 $(awk -v a="$(ours c_sign_raw_p256)" -v b="$ec_sign" 'BEGIN { printf "%.3f", a / b }')"
  else
    echo "bench: openssl speed gave no ecdsap256 figure; ratio skipped" >&2
  fi
else
  echo "bench: openssl not found; the openssl speed ratios are skipped" >&2
fi
