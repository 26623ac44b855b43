#!/usr/bin/env bash
# The walk-through behind `make demo`: throw-away SoftHSM tokens and a test PKI, the tokens as
# paysign sees them, a signature with each officer's token, each checked by OpenSSL, and the
# refusals a user meets (wrong PIN, expired certificate, unknown token, a PIN inside a URI).
set -euo pipefail
cd "$(dirname "$0")/.."
out=demo-out
bold() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
run() { printf '$ %s\n' "${*/#$bin/paysign}"; "$@"; }

bold "Building paysign and paysignd"
swift build --product paysign 2>&1 | tail -1
swift build --product paysignd 2>&1 | tail -1
bin=$(swift build --show-bin-path)/paysign
daemon_bin=$(swift build --show-bin-path)/paysignd

bold "A throw-away test PKI on SoftHSM2 tokens (keys generated on the tokens)"
rm -rf "$out"
mkdir -p "$out"
Certs/make-test-pki.sh "$out/pki"
cp "$out/pki/ca/ca.pem" "$out/ca.pem"
export SOFTHSM2_CONF=$PWD/$out/pki/softhsm2.conf
column -t -s $'\t' "$out/pki/tokens.tsv" | cut -c1-150

readers=--no-readers
if [ "$(id -u)" -eq 0 ]; then
  Tests/testbed/pcsc.sh start >/dev/null && readers=
else
  echo "(not root: pcscd is not started, readers are not listed)"
fi

bold "paysign tokens: every module p11-kit registers"
run "$bin" tokens --local $readers

if [ -z "$readers" ]; then
  bold "paysign readers --watch: a virtual card inserted into 'Virtual PCD 00 00', then pulled out"
  "$bin" readers --watch --duration 3 &
  watcher=$!
  sleep 0.5
  card=$(Tests/testbed/pcsc.sh insert 35963)
  sleep 1
  Tests/testbed/pcsc.sh remove "$card"
  wait "$watcher"
fi

bold "paysign tokens --json (first token)"
"$bin" tokens --local --json --no-readers | python3 -c 'import json,sys; d=json.load(sys.stdin); print(json.dumps(d["tokens"][0], indent=2)[:1500])'

printf 'Payment order 2026/11/0001: 1,000 salaries, 4,250,000.00 EGP\n' > "$out/sample.txt"
pin_of() { awk -F'\t' -v l="$1" '$1 == l {print $3}' "$out/pki/tokens.tsv"; }

sign_and_verify() { # LABEL ALGORITHM [openssl dgst options…]
  local label=$1 algorithm=$2; shift 2
  local sig="$out/$label.$algorithm.sig" cert="$out/$label.pem"
  bold "Sign with $label ($algorithm), then verify with OpenSSL"
  printf '$ %s\n' "paysign sign --key 'pkcs11:token=$label' --algorithm $algorithm --in $out/sample.txt --out $sig --pin-fd 3 3<<<PIN"
  "$bin" sign --key "pkcs11:token=$label" --algorithm "$algorithm" --in "$out/sample.txt" --out "$sig" \
    --cert-out "$cert" --pin-fd 3 3<<<"$(pin_of "$label")"
  openssl x509 -in "$cert" -pubkey -noout > "$out/$label.pub.pem"
  run openssl verify -CAfile "$out/ca.pem" "$cert"
  run openssl dgst -sha256 -verify "$out/$label.pub.pem" "$@" -signature "$sig" "$out/sample.txt"
}
sign_and_verify officer1 rsa-pkcs1-sha256
sign_and_verify officer1 rsa-pss-sha256 -sigopt rsa_padding_mode:pss -sigopt rsa_pss_saltlen:32
sign_and_verify officer2 ecdsa-sha256
sign_and_verify ministry rsa-pkcs1-sha256

refuse() { # DESCRIPTION, then the command; it must fail
  bold "Refused: $1"; shift
  printf '$ %s\n' "${*/#$bin/paysign}"
  set +e
  "$@"
  local status=$?
  set -e
  [ $status -ne 0 ] || { echo "demo: expected a refusal, got success" >&2; exit 1; }
  echo "(exit status $status)"
}
refuse "a wrong PIN (never retried; the token's PIN state is reported)" \
  "$bin" sign --key pkcs11:token=ministry --in "$out/sample.txt" --out "$out/x.sig" --pin-fd 3 3<<<"000000"
refuse "a token whose certificate has expired" \
  "$bin" sign --key pkcs11:token=expired --in "$out/sample.txt" --out "$out/x.sig" --pin-fd 3 3<<<"$(pin_of expired)"
refuse "a token that is not present" \
  "$bin" sign --key pkcs11:token=nobody --in "$out/sample.txt" --out "$out/x.sig" --pin-fd 3 3<<<"1"
refuse "a PIN inside the URI (rule D5)" \
  "$bin" sign --key 'pkcs11:token=officer1?pin-value=111111' --in "$out/sample.txt" --out "$out/x.sig"
refuse "a PKCS#11 module that does not exist" "$bin" tokens --local --module /nonexistent/libnothing.so
rm -f "$out/x.sig"

bold "A payment-order file checked before upload: every problem by line and rule, and its file number (D9)"
printf 'beneficiary_id,id_type,name,account,amount_piasters\n28001010100011,national-id,"Salem, Ahmed",1234567890123456,500000\n29502020100022,national-id,Mona Ali,EG380019000500000000263180002,1250000\n' > "$out/payroll.csv"
run "$bin" order validate "$out/payroll.csv" --entity EG-0101 --kind salary --value-date 2026-07-26 --today 2026-07-01
printf '28001010100011,national-id,Salem again,1234567890123456,3000000\n12345,passport,,12,0\n' >> "$out/payroll.csv"
refuse "a payroll file with a duplicate, an amount over the D12 maximum and a bad line" \
  "$bin" order validate "$out/payroll.csv" --entity EG-0101 --kind salary --value-date 2026-07-24 --today 2026-07-01

bold "paysignd: the daemon, on a socket of its own, with its registry and journal in $out/state"
mkdir -p "$out/run"
chmod 755 "$out/run"
module=
for candidate in /usr/lib/softhsm/libsofthsm2.so /usr/lib/x86_64-linux-gnu/softhsm/libsofthsm2.so; do
  [ -f "$candidate" ] && { module=$candidate; break; }
done
export PAYSIGN_SOCKET=$PWD/$out/run/paysign.sock
group=""
getent group nogroup >/dev/null && group=nogroup
printf '$ paysignd --socket %s --state-dir %s --module %s --socket-group "%s" &\n' "$out/run/paysign.sock" "$out/state" "$module" "$group"
"$daemon_bin" --socket "$PAYSIGN_SOCKET" --state-dir "$PWD/$out/state" --module "$module" --socket-group "$group" \
  --bind "Virtual PCD 00 00=pkcs11:token=officer1" 2>"$out/paysignd.log" &
daemon=$!
trap 'kill -TERM $daemon 2>/dev/null || true' EXIT
for _ in $(seq 100); do [ -S "$PAYSIGN_SOCKET" ] && break; sleep 0.05; done
run "$bin" health
run "$bin" entity add --code EG-0101 --name "Test Entity EG-0101"
run "$bin" operator add --user root --national-id 28001010100011 --name "Demo Auditor" --role auditor
run "$bin" tokens
if [ "$(id -u)" -eq 0 ]; then
  bold "Events over the socket while a virtual card comes and goes"
  "$bin" events --count 2 &
  listener=$!
  sleep 0.5
  card=$(Tests/testbed/pcsc.sh insert 35963)
  sleep 1
  Tests/testbed/pcsc.sh remove "$card"
  wait "$listener" || true
  if [ -n "$group" ]; then
    refuse "a local user with no role in the registry (nobody, run with setpriv)" \
      setpriv --reuid=65534 --regid=65534 --clear-groups "$bin" tokens
  fi
fi
run "$bin" audit
run "$bin" audit verify
kill -TERM "$daemon"
wait "$daemon" || true
trap - EXIT
echo "(paysignd stopped on SIGTERM; its log is in $out/paysignd.log)"

bold "Done"
echo "Signatures, certificates and the test root are in $out/ (test root: $out/ca.pem)."
