#!/usr/bin/env bash
# The payment center's batch verification against its references (issues 6 and 7), on this machine:
#
#   scripts/bench-verify.sh [N]      N orders; default 10000, or 2000 with QUICK=1
#
# Makes a throw-away test PKI (Certs/make-test-pki.sh), N two-signature RSA-2048 orders signed on
# its SoftHSM tokens (paysign-make-orders: officer1 first, the ministry second), an empty CRL
# signed on its authority token, then prints, each on one line:
#
#   bench verify_batch_orders N count
#   bench verify_batch VALUE orders/s                   paysign verify --batch, the whole process
#                                                        (start, anchors, CRL, every order and its
#                                                        report), wall clock, best of 2 runs
#   bench openssl_cms_verify_per_process VALUE orders/s openssl cms -verify, one process per order,
#                                                        a sample of 200 (SAMPLE=), best of 2
#   bench rsa2048_verify_bound VALUE orders/s           openssl speed -multi CORES rsa2048: the
#                                                        machine's verify/s over all its cores ÷ 2
#                                                        (two signatures per order)
#   ratio verify_batch_vs_openssl_cms VALUE             goal ≥ 50
#   ratio verify_batch_vs_rsa_bound VALUE               goal ≥ 0.25
#
# Every order must verify valid, or the script fails. A missing openssl is a line on stderr and
# the lines that need it are left out. Uses the release build in PAYSIGN_BIN_DIR when set, else
# builds it (swift build -c release, SCRATCH=DIR for --scratch-path). VERIFY_WORK=DIR keeps the
# PKI and the orders there and reuses them on the next run with the same N (for profiling); the
# reports are left there too (reports-PID-RUN), since deleting thousands of files slows the
# creation of the next run's.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ -n "${QUICK:-}" ] && [ "${QUICK:-0}" != 0 ]; then quick=1; else quick=0; fi
default_count=10000
[ "$quick" = 1 ] && default_count=2000
count=${1:-$default_count}
sample=${SAMPLE:-200}
speed_seconds=3
[ "$quick" = 1 ] && speed_seconds=1
[[ "$count" =~ ^[0-9]+$ ]] && [ "$count" -ge 1 ] || { echo "bench-verify: N must be a positive number" >&2; exit 2; }
for tool in softhsm2-util pkcs11-tool; do
  command -v "$tool" >/dev/null || { echo "bench-verify: $tool is missing (apt-get install softhsm2 opensc); no orders can be signed" >&2; exit 2; }
done
have_openssl=1
command -v openssl >/dev/null || { have_openssl=0; echo "bench-verify: openssl is missing (apt-get install openssl): no reference figures, no ratios" >&2; }

scratch=()
[ -n "${SCRATCH:-}" ] && scratch=(--scratch-path "$SCRATCH")
if [ -z "${PAYSIGN_BIN_DIR:-}" ]; then
  for product in paysign paysignd paysign-make-orders; do
    swift build -c release "${scratch[@]}" --product "$product" 2>&1 | grep -E "error|warning: unre" >&2 || true
  done
  PAYSIGN_BIN_DIR=$(swift build -c release "${scratch[@]}" --show-bin-path)
fi
export PAYSIGN_BIN_DIR
bin=$PAYSIGN_BIN_DIR
for product in paysign paysignd paysign-make-orders; do
  [ -x "$bin/$product" ] || { echo "bench-verify: $bin/$product is not built" >&2; exit 2; }
done

if [ -n "${VERIFY_WORK:-}" ]; then
  work=$VERIFY_WORK
  mkdir -p "$work"
  # The report folders are left there: deleting them at the end slowed the next run's file
  # creation (the ext4 trap below) when it came within minutes, as it does when profiling.
  trap 'echo "bench-verify: the reports are left in $work/reports-* (delete them when done measuring)" >&2' EXIT
else
  work=$(mktemp -d /tmp/paysign-bench-verify.XXXXXX)
  trap 'rm -rf "$work"' EXIT
fi
if [ "$(cat "$work/count" 2>/dev/null)" != "$count" ]; then
  rm -rf "$work/pki" "$work/orders" "$work/crl.der" "$work/count"
  Certs/make-test-pki.sh "$work/pki" >/dev/null
  "$bin/paysign-make-orders" batch --pki "$work/pki" --count "$count" --out "$work/orders" 2>"$work/make.log"
  "$bin/paysign-make-orders" crl --pki "$work/pki" --number 1 --out "$work/crl.der"
  echo "$count" >"$work/count"
fi
ca=$work/pki/ca/ca.pem

now() { date +%s.%N; }
rate() { awk -v n="$1" -v a="$2" -v b="$3" 'BEGIN { d = b - a; if (d <= 0) d = 1e-9; printf "%.1f", n / d }'; }
best() { awk -v a="$1" -v b="$2" 'BEGIN { print (a + 0 > b + 0) ? a : b }'; }

# paysign verify --batch, the whole process (start, anchors, CRL, every order, every report).
# Each run writes into a folder of its own, and nothing is deleted until the end: on an ext4
# without a journal, files created within minutes of deleting thousands of others wait while the
# kernel skips the recently freed inodes, which would time the file system, not the verifier.
batch_rate=0
for run in 1 2; do
  reports=$work/reports-$$-$run
  start=$(now)
  "$bin/paysign" verify --batch "$work/orders" --out "$reports" --trust-anchors "$ca" --crl "$work/crl.der" >"$work/batch.txt"
  end=$(now)
  valid=$(awk '/^batch / { print $5 }' "$work/batch.txt" | tr -d ,)
  [ "$valid" = "$count" ] || { cat "$work/batch.txt" >&2; echo "bench-verify: $valid of $count orders verified valid" >&2; exit 1; }
  written=$(find "$reports" -name '*.json' ! -name summary.json | wc -l)
  [ "$written" = "$count" ] || { echo "bench-verify: $written reports for $count orders" >&2; exit 1; }
  batch_rate=$(best "$batch_rate" "$(rate "$count" "$start" "$end")")
done
lines=("bench verify_batch_orders $count count" "bench verify_batch $batch_rate orders/s")
ratios=()
print_all() { printf '%s\n' "${lines[@]}" "${ratios[@]}"; }
[ "$have_openssl" = 1 ] || { print_all; exit 0; }

# openssl cms -verify, one process per order, on a sample; best of two passes.
[ "$sample" -le "$count" ] || sample=$count
files=("$work/orders"/*.p7s)
printf '%s\n' "${files[@]:0:$sample}" >"$work/sample.txt"
openssl_rate=0
for run in 1 2; do
  start=$(now)
  while read -r p7s; do
    openssl cms -verify -binary -inform DER -content "${p7s%.p7s}.txt" -in "$p7s" -CAfile "$ca" -purpose any \
      -out /dev/null 2>/dev/null || { echo "bench-verify: openssl refused $p7s" >&2; exit 1; }
  done <"$work/sample.txt"
  end=$(now)
  openssl_rate=$(best "$openssl_rate" "$(rate "$sample" "$start" "$end")")
done
lines+=("bench openssl_cms_verify_per_process $openssl_rate orders/s")
ratios+=("$(awk -v a="$batch_rate" -v b="$openssl_rate" 'BEGIN { printf "ratio verify_batch_vs_openssl_cms %.1f", a / b }')")

# The RSA bound: two RSA-2048 verifications per order, on every core of the machine (openssl speed
# -multi runs one process per core and prints the sum of their rates).
cores=$(nproc 2>/dev/null || echo 1)
verify_per_second=$(openssl speed -multi "$cores" -seconds "$speed_seconds" rsa2048 2>/dev/null \
  | awk '/^rsa 2048 bits/ { print $NF }' | tail -1)
if [ -z "$verify_per_second" ]; then
  echo "bench-verify: could not read openssl speed -multi $cores rsa2048; no RSA bound" >&2
else
  bound=$(awk -v v="$verify_per_second" 'BEGIN { printf "%.1f", v / 2 }')
  lines+=("bench rsa2048_verify_bound $bound orders/s")
  ratios+=("$(awk -v a="$batch_rate" -v b="$bound" 'BEGIN { printf "ratio verify_batch_vs_rsa_bound %.3f", a / b }')")
fi
print_all
