#!/usr/bin/env bash
# The payment center's batch verification against its references (issue 7), on this machine:
#
#   scripts/bench-verify.sh [N]      (default 2000 orders)
#
# Makes a throw-away test PKI (Certs/make-test-pki.sh), N two-signature RSA-2048 orders signed on
# its SoftHSM tokens (paysign-make-orders: officer1 first, the ministry second), an empty CRL
# signed on its authority token, then prints, each on one line:
#
#   bench verify-batch VALUE orders/s            paysign verify --batch, whole process, wall clock
#   bench openssl-cms-verify VALUE orders/s      openssl cms -verify once per order (a sample of 200)
#   bench rsa2048-verify-bound VALUE orders/s    openssl speed -seconds 3 rsa2048 verify/s ÷ 2
#   ratio verify-batch-vs-openssl VALUE          goal ≥ 50
#   ratio verify-batch-vs-bound VALUE            goal ≥ 0.25
#
# Uses the release build in PAYSIGN_BIN_DIR when set, else builds it (swift build -c release,
# SCRATCH=DIR for --scratch-path). Every order must verify valid, or the script fails.
set -euo pipefail
cd "$(dirname "$0")/.."
count=${1:-2000}
sample=${SAMPLE:-200}
[ "$count" -ge 1 ] || { echo "bench-verify: N must be a positive number" >&2; exit 2; }
for tool in openssl softhsm2-util pkcs11-tool; do
  command -v "$tool" >/dev/null || { echo "bench-verify: $tool is missing (apt-get install openssl softhsm2 opensc)" >&2; exit 2; }
done

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
for product in paysign paysign-make-orders; do
  [ -x "$bin/$product" ] || { echo "bench-verify: $bin/$product is not built" >&2; exit 2; }
done

work=$(mktemp -d /tmp/paysign-bench-verify.XXXXXX)
trap 'rm -rf "$work"' EXIT
Certs/make-test-pki.sh "$work/pki" >/dev/null
"$bin/paysign-make-orders" batch --pki "$work/pki" --count "$count" --out "$work/orders" 2>"$work/make.log"
"$bin/paysign-make-orders" crl --pki "$work/pki" --number 1 --out "$work/crl.der"
ca=$work/pki/ca/ca.pem

now() { date +%s.%N; }
rate() { awk -v n="$1" -v a="$2" -v b="$3" 'BEGIN { d = b - a; if (d <= 0) d = 1e-9; printf "%.1f", n / d }'; }

# paysign verify --batch, the whole process (start, anchors, CRL, every order, every report).
start=$(now)
"$bin/paysign" verify --batch "$work/orders" --out "$work/reports" --trust-anchors "$ca" --crl "$work/crl.der" >"$work/batch.txt"
end=$(now)
valid=$(awk '/^batch / { print $5 }' "$work/batch.txt" | tr -d ,)
[ "$valid" = "$count" ] || { cat "$work/batch.txt" >&2; echo "bench-verify: $valid of $count orders verified valid" >&2; exit 1; }
batch_rate=$(rate "$count" "$start" "$end")

# openssl cms -verify, one process per order, on a sample.
[ "$sample" -le "$count" ] || sample=$count
files=("$work/orders"/*.p7s)
printf '%s\n' "${files[@]:0:$sample}" > "$work/sample.txt"
start=$(now)
while read -r p7s; do
  openssl cms -verify -binary -inform DER -content "${p7s%.p7s}.txt" -in "$p7s" -CAfile "$ca" -purpose any \
    -out /dev/null 2>/dev/null || { echo "bench-verify: openssl refused $p7s" >&2; exit 1; }
done < "$work/sample.txt"
end=$(now)
openssl_rate=$(rate "$sample" "$start" "$end")

# The RSA bound: two RSA-2048 verifications per order, on one core.
verify_per_second=$(openssl speed -seconds 3 rsa2048 2>/dev/null | awk '/^rsa 2048 bits/ { print $NF }' | tail -1)
[ -n "$verify_per_second" ] || { echo "bench-verify: could not read openssl speed rsa2048" >&2; exit 1; }
bound=$(awk -v v="$verify_per_second" 'BEGIN { printf "%.1f", v / 2 }')

echo "bench verify-batch $batch_rate orders/s"
echo "bench openssl-cms-verify $openssl_rate orders/s"
echo "bench rsa2048-verify-bound $bound orders/s"
awk -v a="$batch_rate" -v b="$openssl_rate" 'BEGIN { printf "ratio verify-batch-vs-openssl %.1f\n", a / b }'
awk -v a="$batch_rate" -v b="$bound" 'BEGIN { printf "ratio verify-batch-vs-bound %.3f\n", a / b }'
