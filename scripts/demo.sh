#!/usr/bin/env bash
# The walk-through behind `make demo`: throw-away SoftHSM tokens and a test PKI, the tokens as
# paysign sees them, a signature with each officer's token, each checked by OpenSSL, and the
# refusals a user meets (wrong PIN, expired certificate, unknown token, a PIN inside a URI); as root,
# the whole payment-order flow and its road to the payment center (delivery, receipt, payment, D8).
set -euo pipefail
cd "$(dirname "$0")/.."
out=demo-out
bold() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
# Every command is echoed as it can be pasted: each argument quoted for the shell, the built
# binaries as `paysign` and `paysignd` (on PATH once installed, see the end), and a PIN read from
# a file with its redirection shown (`pin_file=FILE run …` adds `--pin-fd 3 3<FILE`).
show() {
  local line='$' arg
  for arg in "$@"; do
    case $arg in
      "$bin"|"${tmp:-/nonexistent}/paysign") arg=paysign ;;
      "${daemon_bin:-/nonexistent}") arg=paysignd ;;
      "${center_bin:-/nonexistent}") arg=paysign-center ;;
    esac
    arg=${arg//$PWD\//}
    line+=" $(printf '%q' "$arg")"
  done
  [ -z "${pin_file:-}" ] || line+=" --pin-fd 3 3<$(printf '%q' "${pin_file//$PWD\//}")"
  printf '%s\n' "$line"
}
# Runs a command, with the PIN file on descriptor 3 when pin_file is set.
with_pin() { if [ -n "${pin_file:-}" ]; then "$@" --pin-fd 3 3<"$pin_file"; else "$@"; fi; }
run() { show "$@"; with_pin "$@"; }

bold "Building paysign and paysignd"
swift build --product paysign 2>&1 | tail -1
swift build --product paysignd 2>&1 | tail -1
swift build --product paysign-center 2>&1 | tail -1
bin=$(swift build --show-bin-path)/paysign
daemon_bin=$(swift build --show-bin-path)/paysignd
center_bin=$(swift build --show-bin-path)/paysign-center

bold "A throw-away test PKI on SoftHSM2 tokens (keys generated on the tokens)"
rm -rf "$out"
mkdir -p "$out"
Certs/make-test-pki.sh "$out/pki"
cp "$out/pki/ca/ca.pem" "$out/ca.pem"
export SOFTHSM2_CONF=$PWD/$out/pki/softhsm2.conf
# Label, key, role and the whole URI (a URI cut short cannot be pasted).
awk -F'\t' 'BEGIN { OFS = "\t"; print "TOKEN", "KEY", "ROLE", "URI" } { print $1, $2, $5, $7 }' "$out/pki/tokens.tsv" | column -t -s $'\t' 

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
# Each token's PIN in a file of its own (and two wrong ones), for the commands to read on
# descriptor 3 as a user would paste them; demo-out is a throw-away folder.
mkdir -p "$out/pins"
chmod 700 "$out/pins"
for label in $(cut -f1 "$out/pki/tokens.tsv"); do (umask 077; pin_of "$label" > "$out/pins/$label.pin"); done
(umask 077; echo 000000 > "$out/pins/wrong.pin"; echo 1 > "$out/pins/any.pin")
pin_path() { printf '%s/%s/pins/%s.pin' "$PWD" "$out" "$1"; }

sign_and_verify() { # LABEL ALGORITHM [openssl dgst options…]
  local label=$1 algorithm=$2; shift 2
  local sig="$out/$label.$algorithm.sig" cert="$out/$label.pem"
  bold "Sign with $label ($algorithm), then verify with OpenSSL"
  pin_file=$(pin_path "$label") run "$bin" sign-file --key "pkcs11:token=$label" --algorithm "$algorithm" --in "$out/sample.txt" \
    --out "$sig" --cert-out "$cert"
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
  show "$@"
  set +e
  with_pin "$@"
  local status=$?
  set -e
  [ $status -ne 0 ] || { echo "demo: expected a refusal, got success" >&2; exit 1; }
  echo "(exit status $status)"
}
pin_file="$(pin_path wrong)" refuse "a wrong PIN (never retried; the token's PIN state is reported)" \
  "$bin" sign-file --key pkcs11:token=ministry --in "$out/sample.txt" --out "$out/x.sig"
pin_file="$(pin_path expired)" refuse "a token whose certificate has expired" \
  "$bin" sign-file --key pkcs11:token=expired --in "$out/sample.txt" --out "$out/x.sig"
pin_file="$(pin_path any)" refuse "a token that is not present" \
  "$bin" sign-file --key pkcs11:token=nobody --in "$out/sample.txt" --out "$out/x.sig"
refuse "a PIN inside the URI (rule D5)" \
  "$bin" sign-file --key 'pkcs11:token=officer1?pin-value=111111' --in "$out/sample.txt" --out "$out/x.sig"
refuse "a PKCS#11 module that does not exist" "$bin" tokens --local --module /nonexistent/libnothing.so
rm -f "$out/x.sig"

bold "A payment-order file checked before upload: every problem by line and rule, and its file number (D9)"
printf 'beneficiary_id,id_type,name,account,amount_piasters\n28001010100011,national-id,"Salem, Ahmed",1234567890123456,500000\n29502020100022,national-id,Mona Ali,EG380019000500000000263180002,1250000\n' > "$out/payroll.csv"
run "$bin" order validate "$out/payroll.csv" --entity EG-0101 --kind salary --value-date 2026-07-26 --today 2026-07-01
printf '28001010100011,national-id,Salem again,1234567890123456,3000000\n12345,passport,,12,0\n' >> "$out/payroll.csv"
refuse "a payroll file with a duplicate, an amount over the D12 maximum and a bad line" \
  "$bin" order validate "$out/payroll.csv" --entity EG-0101 --kind salary --value-date 2026-07-24 --today 2026-07-01

if [ "$(id -u)" -ne 0 ]; then
  bold "Done (not root: the payment-order walk-through needs the Unix accounts of Tests/testbed/users.sh; run make demo as root)"
  exit 0
fi

bold "The payment center (D8): a throw-away PostgreSQL and one paysign-center node, its keys on the 'center' token"
# The center's and the entity's token PINs reach the servers as systemd credentials would: a file
# in $CREDENTIALS_DIRECTORY (LoadCredential= in a unit), never a flag, a setting or the environment.
module=
for candidate in /usr/lib/softhsm/libsofthsm2.so /usr/lib/x86_64-linux-gnu/softhsm/libsofthsm2.so; do
  [ -f "$candidate" ] && { module=$candidate; break; }
done
pg=$(mktemp -d /tmp/paysign-demo-pg.XXXXXX)
rmdir "$pg"
read -r pg_port _ < <(Tests/testbed/postgres.sh start "$pg")
mkdir -p "$out/center-credentials" "$out/entity-credentials"
chmod 700 "$out/center-credentials" "$out/entity-credentials"
cp "$out/pins/center.pin" "$out/center-credentials/token-pin"
cp "$out/pins/submission.pin" "$out/entity-credentials/submission-pin"
center_port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
center_arguments=(--listen "127.0.0.1:$center_port" --tls-certificate "$PWD/$out/pki/tls/center-server.pem"
  --tls-key-file "$PWD/$out/pki/tls/center-server.key" --trust-anchors "$PWD/$out/ca.pem"
  --revocation-list "$PWD/$out/pki/tls/crl.pem" --database-host 127.0.0.1 --database-port "$pg_port" --module "$module"
  --decryption-key 'pkcs11:token=center;id=%02' --receipt-key 'pkcs11:token=center;id=%01' --node demo-center-1)
printf 'CREDENTIALS_DIRECTORY=%q %s 2>%s &\n' "$PWD/$out/center-credentials" "$(show "$center_bin" "${center_arguments[@]}")" "$out/center.log"
CREDENTIALS_DIRECTORY="$PWD/$out/center-credentials" "$center_bin" "${center_arguments[@]}" 2>"$out/center.log" &
center=$!
stop_center() {
  kill -TERM "$center" 2>/dev/null || true
  wait "$center" 2>/dev/null || true
  Tests/testbed/postgres.sh stop "$pg" || true
}
trap stop_center EXIT
for _ in $(seq 300); do grep -q " ready on " "$out/center.log" && break; sleep 0.1; done
grep " ready on " "$out/center.log" || { cat "$out/center.log" >&2; echo "demo: paysign-center did not start" >&2; exit 1; }
center_link=(--center "127.0.0.1:$center_port" --center-name center.paysign.test --trust-anchors "$PWD/$out/ca.pem")

bold "paysignd: the daemon, with its registry and journal in $out/state, delivering to the center"
# The people of the flow are distinct Unix users, and the daemon tells them apart by the socket's
# peer credentials; the clients run as them with setpriv, from a folder every user can reach.
Tests/testbed/users.sh ensure
tmp=$(mktemp -d /tmp/paysign-demo.XXXXXX)
chmod 755 "$tmp"
cp "$bin" "$tmp/paysign"
export PAYSIGN_SOCKET=$tmp/paysign.sock
daemon_arguments=(--socket "$PAYSIGN_SOCKET" --state-dir "$PWD/$out/state" --module "$module" --socket-group nogroup
  --holiday 2026-12-25 --bind "Virtual PCD 00 00=pkcs11:token=officer1"
  --authority-token pkcs11:token=authority --trust-anchors "$PWD/$out/ca.pem"
  --center "127.0.0.1:$center_port" --center-name center.paysign.test
  --center-encryption-certificate "$PWD/$out/pki/certs/center-encryption.pem"
  --center-receipt-certificate "$PWD/$out/pki/certs/center-receipt.pem" --center-oaep-hash sha1
  --submission-key pkcs11:token=submission --delivery-interval-seconds 1)
printf 'CREDENTIALS_DIRECTORY=%q %s 2>%s &\n' "$PWD/$out/entity-credentials" "$(show "$daemon_bin" "${daemon_arguments[@]}")" "$out/paysignd.log"
CREDENTIALS_DIRECTORY="$PWD/$out/entity-credentials" "$daemon_bin" "${daemon_arguments[@]}" 2>"$out/paysignd.log" &
daemon=$!
trap 'kill -TERM $daemon 2>/dev/null || true; rm -rf "$tmp"; stop_center' EXIT
for _ in $(seq 100); do [ -S "$PAYSIGN_SOCKET" ] && break; sleep 0.05; done
run "$bin" health

# as USER paysign …: the client as that Unix user (group nogroup, which owns the socket).
as() {
  local user=$1; shift
  show setpriv --reuid="$user" --regid=nogroup --clear-groups "$tmp/paysign" "$@" >&2
  with_pin setpriv --reuid="$user" --regid=nogroup --clear-groups "$tmp/paysign" "$@"
}
refuse_as() { # DESCRIPTION USER ARGS…: must fail
  bold "Refused: $1"; shift
  set +e
  as "$@"
  local status=$?
  set -e
  [ $status -ne 0 ] || { echo "demo: expected a refusal, got success" >&2; exit 1; }
  echo "(exit status $status)"
}

bold "The administrator (root) registers the entity, its people and their tokens"
run "$bin" entity add --code EG-0101 --name "Test Entity EG-0101"
run "$bin" operator add --user paysign-clerk --national-id 29505050100055 --name "Data Entry Clerk" --entity EG-0101 --role data-entry
run "$bin" operator add --user paysign-reviewer --national-id 29912120100066 --name "Accounts Reviewer" --entity EG-0101 --role reviewer
run "$bin" holder add paysign-officer1 --entity EG-0101 --first --on-site --national-id 28001010100011 --name "Officer One"
run "$bin" holder add paysign-officer2 --entity EG-0101 --first --national-id 28502020100022 --name "Officer Two"
run "$bin" holder add paysign-ministry --entity EG-0101 --second --national-id 27503030100033 --name "MoF Representative"
refuse "a third first-signature holder for the entity (D3: at most two)" \
  "$bin" holder add paysign-officer3 --entity EG-0101 --first --national-id 29004040100044 --name "Officer Three"
# Tokens are bound to their holders by the certification authority (D6): an administrator's
# registration starts issued, and only the authority activates a token.
run "$bin" operator add --user paysign-authority --national-id 28806060100066 --name "e-Certification Unit" --role certification-authority
as paysign-authority token register --token pkcs11:token=officer1 --holder paysign-officer1
as paysign-authority token register --token pkcs11:token=officer2 --holder paysign-officer2
as paysign-authority token register --token pkcs11:token=ministry --holder paysign-ministry
run "$bin" holder list

bold "The clerk uploads a 1,000-line payroll (every line checked: national IDs, amounts, D10 calendar, D12 maximum)"
python3 scripts/make-payroll.py 1000 > "$tmp/payroll.csv"
chmod 644 "$tmp/payroll.csv"
cp "$tmp/payroll.csv" "$out/payroll-1000.csv"
# The next salary date the D10 calendar allows (24th-28th, not a weekend day or holiday).
value_date=
for offset in 0 1 2; do
  for day in 24 25 26 27 28; do
    candidate=$(date -u -d "$(date -u +%Y-%m-01) +$offset month" +%Y-%m)-$day
    if "$bin" order validate "$tmp/payroll.csv" --entity EG-0101 --kind salary --value-date "$candidate" --holiday 2026-12-25 >/dev/null 2>&1; then
      value_date=$candidate; break 2
    fi
  done
done
[ -n "$value_date" ] || { echo "demo: no valid salary date in the next three months" >&2; exit 1; }
as paysign-clerk order create "$tmp/payroll.csv" --entity EG-0101 --kind salary --value-date "$value_date" --idempotency-key demo-upload-1 | tee "$out/create.txt"
order=$(awk '/^order /{print $2; exit}' "$out/create.txt")
file_number=$(awk '/^file number /{print $3; exit}' "$out/create.txt")
pin_file="$(pin_path officer1)" refuse_as "signing before the file number is reviewed (D9)" \
  paysign-officer1 sign "$order" --first --token pkcs11:token=officer1

bold "The reviewer exports the review sheet, checks it, and confirms the file number (D9)"
as paysign-reviewer order export "$order" --format html > "$out/order-review.html"
as paysign-reviewer order export "$order" --format csv > "$out/order-review.csv"
echo "(review sheet: $out/order-review.html, $out/order-review.csv)"
bold "The clerk prints the review sheet in Arabic as a PDF and an Excel workbook, as the circular asks (D9)"
mkdir -p "$tmp/documents" && chmod 1777 "$tmp/documents"
as paysign-clerk order export "$order" --format pdf --lang ar --out "$tmp/documents/order-review.pdf"
as paysign-clerk order export "$order" --format xlsx --lang ar --out "$tmp/documents/order-review.xlsx"
cp "$tmp/documents/order-review.pdf" "$tmp/documents/order-review.xlsx" "$out/"
echo "(printed: $out/order-review.pdf, $out/order-review.xlsx)"
as paysign-reviewer order review "$order" --file-number "$file_number"

pin_file="$(pin_path officer1)" refuse_as "the clerk, with the officer's token and the right PIN (D5, D13)" \
  paysign-clerk sign "$order" --first --token pkcs11:token=officer1
pin_file="$(pin_path officer1)" refuse_as "an officer with another officer's token and its PIN (D5)" \
  paysign-officer2 sign "$order" --first --token pkcs11:token=officer1

bold "The first signature: Officer One, on the officer1 token (D2)"
pin_file="$(pin_path officer1)" as paysign-officer1 sign "$order" --first --token pkcs11:token=officer1
pin_file="$(pin_path officer1)" refuse_as "the same officer signing again" \
  paysign-officer1 sign "$order" --first --token pkcs11:token=officer1
pin_file="$(pin_path officer1)" refuse_as "the first signer applying the second signature (D2)" \
  paysign-officer1 sign "$order" --second --file-number "$file_number" --token pkcs11:token=officer1
pin_file="$(pin_path ministry)" refuse_as "the Ministry representative with a file number that is not the uploaded file's (D9)" \
  paysign-ministry sign "$order" --second --file-number 0000-1111-2222-3333-4444-5555-6666-7777-8888-9999-aaaa-bbbb-cccc-dddd-eeee-ffff \
  --token pkcs11:token=ministry

bold "The second signature: the Ministry of Finance representative checks the file number and signs (D2, D9)"
pin_file="$(pin_path ministry)" as paysign-ministry sign "$order" --second --file-number "$file_number" --token pkcs11:token=ministry
as paysign-reviewer order show "$order"

bold "The road to the payment center (D8): sealed to its certificate, sent over mutual TLS 1.3, accepted once"
# The delivery service seals the order (CMS AuthEnvelopedData, AES-256-GCM, RSAES-OAEP) and signs
# the TLS handshake with the entity's submission key on its token; the center opens it on its HSM,
# verifies it as paysign verify does, records it in PostgreSQL and signs a receipt on its token.
for _ in $(seq 60); do "$bin" order show "$order" | grep -q "center       accepted" && break; sleep 0.5; done
as paysign-reviewer order show "$order"
run "$bin" order export "$order" --format receipt --out "$out/receipt.p7m"
echo "The receipt, verified by OpenSSL against the root (it prints what the center signed):"
run openssl cms -verify -inform DER -in "$out/receipt.p7m" -CAfile "$out/ca.pem" -purpose any
echo

bold "The center's operator marks the order paid; the entity's daemon learns it"
run "$center_bin" staff add --database-host 127.0.0.1 --database-port "$pg_port" \
  --certificate "$PWD/$out/pki/tls/operator.pem" --name "Center Operator" --role operator
operator_link=("${center_link[@]}" --certificate "$PWD/$out/pki/tls/operator.pem" --key "$PWD/$out/pki/tls/operator.key")
run "$bin" center submissions "${operator_link[@]}"
submission=$("$bin" order show "$order" --json | python3 -c 'import json, sys; print(json.load(sys.stdin)["delivery"]["submissionID"])')
run "$bin" center pay "$submission" "${operator_link[@]}"
run "$bin" center totals --month "${value_date:0:7}" "${operator_link[@]}"
for _ in $(seq 60); do "$bin" order show "$order" | grep -q "paid by the center" && break; sleep 0.5; done
as paysign-reviewer order show "$order"

bold "The signed order, checked by OpenSSL alone: both signers, over the order document"
as paysign-reviewer order export "$order" --format document > "$out/order.txt"
as paysign-reviewer order export "$order" --format p7s > "$out/order.p7s"
cat "$out/order.txt"
run openssl cms -verify -binary -inform DER -content "$out/order.txt" -in "$out/order.p7s" -CAfile "$out/ca.pem" -out /dev/null
echo "The signers and their signed attributes (0.4.0.19122.1.1: the claimed role; 1.3.6.1.4.1.99999.1.1: the second binds the first, D2):"
openssl cms -cmsout -print -inform DER -in "$out/order.p7s" \
  | grep -E "^ *subject:|^ {12}object: " | sed 's/^ */  /' | sort | uniq -c

bold "The certification authority revokes Officer Two's token (reported lost) and signs a revocation list on its own token (D6)"
officer2_serial=$(awk -F'\t' '$1 == "officer2" { sub(/.*serial=/, "", $7); sub(/;.*/, "", $7); print $7 }' "$out/pki/tokens.tsv")
officer2_cert=$(awk -F'\t' '$1 == "officer2" { print $6 }' "$out/pki/tokens.tsv")
refuse_as "a first signer trying to revoke a token (only the authority may)" \
  paysign-officer1 token revoke "$officer2_serial" --cause loss
as paysign-authority token revoke "$officer2_serial" --cause loss --invalidity-date "$(date -u +%Y-%m-%d)" --note "reported lost by the holder"
pin_file="$(pin_path authority)" as paysign-authority crl issue
as paysign-authority crl get > "$out/crl.der"
run openssl crl -inform DER -in "$out/crl.der" -CAfile "$out/ca.pem" -noout
echo "Officer Two's certificate serial is $officer2_cert; the list says:"
openssl crl -inform DER -in "$out/crl.der" -text -noout | grep -E "CRL Number|Serial Number|Key Compromise|Invalidity|^ +[0-9]+$" | sed 's/^ */  /'
openssl crl -inform DER -in "$out/crl.der" -text -noout | grep -q "Serial Number: $officer2_cert" \
  || { echo "demo: the CRL does not list $officer2_cert" >&2; exit 1; }

bold "A new order: Officer Two's revoked token can no longer sign it (D6)"
as paysign-clerk order create "$tmp/payroll.csv" --entity EG-0101 --kind salary --value-date "$value_date" | tee "$out/create2.txt"
order2=$(awk '/^order /{print $2; exit}' "$out/create2.txt")
as paysign-reviewer order review "$order2" --file-number "$file_number"
pin_file="$(pin_path officer2)" refuse_as "a signature with the revoked token, right PIN and all" \
  paysign-officer2 sign "$order2" --first --token pkcs11:token=officer2
as paysign-authority report holders --entity EG-0101

bold "The payment center verifies the signed order offline: every check by name (D2, D3, D6, D9, D13)"
run "$bin" verify "$out/order.txt" "$out/order.p7s" --file "$out/payroll-1000.csv" --trust-anchors "$out/ca.pem" --crl "$out/crl.der" \
  --html "$out/verification.html"
cp "$out/order.txt" "$out/order-tampered.txt"
# One byte changed: the total's last digit.
python3 - "$out/order-tampered.txt" <<'PY'
import sys
path = sys.argv[1]
data = bytearray(open(path, "rb").read())
data[-2] = ord("1") if data[-2] != ord("1") else ord("2")
open(path, "wb").write(bytes(data))
PY
bold "Refused: the same signatures over a document with one byte changed (exit 1, invalid)"
set +e
"$bin" verify "$out/order-tampered.txt" "$out/order.p7s" --trust-anchors "$out/ca.pem" --crl "$out/crl.der" | grep -E "FAIL|fail|invalid" | head -5
status=${PIPESTATUS[0]}
set -e
[ "$status" -eq 1 ] || { echo "demo: verify of a changed document exited $status, not 1" >&2; exit 1; }
echo "(exit status $status)"

run "$bin" audit verify
kill -TERM "$daemon"
wait "$daemon" || true
trap - EXIT
rm -rf "$tmp"
stop_center
echo "(paysignd and paysign-center stopped on SIGTERM; their logs are $out/paysignd.log and $out/center.log)"

bold "The echoed commands can be pasted: two of them replayed from this transcript"
# A line echoed above, run again through the shell exactly as printed (paysign on PATH).
export PATH="$(dirname "$bin"):$PATH"
replay=$(show "$bin" verify "$out/order.txt" "$out/order.p7s" --trust-anchors "$out/ca.pem" --crl "$out/crl.der")
echo "$replay"
bash -c "${replay#\$ } > /dev/null" && echo "(replayed: exit 0)"
replay=$(pin_file=$(pin_path officer1) show "$bin" sign-file --key "pkcs11:token=officer1" --in "$out/sample.txt" --out "$out/replayed.sig")
echo "$replay"
bash -c "${replay#\$ }" > /dev/null && echo "(replayed: exit 0)"

bold "Done"
echo "The binaries are in $(dirname "$bin") (paysign, paysignd, paysign-center); put them on PATH to paste the commands above:"
echo "  export PATH=\"$(dirname "$bin"):\$PATH\"   # or install them: install -m 0755 $(dirname "$bin")/paysign $(dirname "$bin")/paysignd $(dirname "$bin")/paysign-center /usr/local/bin/"
echo "The test PINs are in $out/pins/ (throw-away tokens only)."
echo "In $out/: the order document order.txt, its signatures order.p7s, the test root ca.pem, the review sheet, the revocation list crl.der, the verification report verification.html."
echo "Verify again with: paysign verify $out/order.txt $out/order.p7s --trust-anchors $out/ca.pem --crl $out/crl.der"
echo "Check them again with: openssl cms -verify -binary -inform DER -content $out/order.txt -in $out/order.p7s -CAfile $out/ca.pem"
echo "                   and: openssl crl -inform DER -in $out/crl.der -CAfile $out/ca.pem -noout -text"
