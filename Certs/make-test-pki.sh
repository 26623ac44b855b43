#!/usr/bin/env bash
# Builds a throw-away test PKI in a folder you name: SoftHSM2 tokens whose key pairs are
# generated ON the token (the private keys never leave it), a test root CA whose key lives on
# the "authority" token, and officer certificates for those keys, written back onto each token
# beside its key.
#
#   Certs/make-test-pki.sh DIR
#
# The signing certificates of officer1, officer2 and ministry are made the way paysign makes
# them in production (issue 5): `paysign token request` makes a PKCS #10 request on the holder's
# token, `paysign token issue` has a throw-away paysignd (registry in DIR/work, removed at the end)
# check the holder and sign the certificate ON the authority token, and `paysign token install`
# stores it beside the key. It needs the built `paysign` and `paysignd`: PAYSIGN_BIN_DIR, else
# `swift build --show-bin-path`. The two certificates paysign refuses to issue by design are made
# with the openssl command line instead: the data-entry clerk's (D13: clerks hold no signing key)
# and the one that expired in 2021 (paysign only issues from today).
#
# DIR/softhsm2.conf     point SOFTHSM2_CONF here (tokens live in DIR/tokens)
# DIR/ca/ca.pem         the test root; its key is made as a file, then moved onto the
#                       "authority" token and the file destroyed
# DIR/certs/LABEL.pem   each officer's certificate (also on the token, CKA_ID 01)
# DIR/tokens.tsv        label, key type, user PIN, SO PIN, role, certificate serial, token URI
# DIR/env               `. DIR/env` sets SOFTHSM2_CONF
# DIR/tsa/              a test time-stamping authority (RFC 3161) under the root: tsa.pem (critical
#                       extended key usage timeStamping), tsa-no-eku.pem (the same key, no EKU),
#                       tsa.key (a file: `openssl ts -reply` signs with it), tsa.cnf (its `ts` config)
#
# Tokens: officer1 (RSA-2048, first signer), officer2 (P-256, first signer),
# ministry (RSA-2048, second signer: the Ministry of Finance representative),
# expired (RSA-2048, a certificate that expired in 2021), clerk (P-256, a data-entry
# clerk's certificate: someone who must never sign, rules D5/D13), spare (RSA-2048, a key and no
# certificate: for issuing one in tests), authority (the test root's key and certificate, moved
# onto a token of its own: certificates and CRLs are signed there, D6).
# The PINs are fixed and printed in tokens.tsv: these tokens exist only for tests and demos.
set -euo pipefail

die() { echo "make-test-pki: $*" >&2; exit 2; }
[ $# -eq 1 ] || die "usage: $0 DIR (a new or empty folder)"
dir=$1
if [ -e "$dir" ] && [ -n "$(ls -A "$dir" 2>/dev/null)" ]; then die "$dir is not empty; name a new folder"; fi
for tool in openssl softhsm2-util pkcs11-tool faketime; do
  command -v "$tool" >/dev/null || die "$tool is missing: apt-get install openssl softhsm2 opensc faketime"
done
module=${SOFTHSM2_MODULE:-}
if [ -z "$module" ]; then
  for candidate in /usr/lib/softhsm/libsofthsm2.so /usr/lib/x86_64-linux-gnu/softhsm/libsofthsm2.so \
                   /usr/lib/aarch64-linux-gnu/softhsm/libsofthsm2.so; do
    [ -f "$candidate" ] && { module=$candidate; break; }
  done
fi
[ -n "$module" ] || die "libsofthsm2.so not found: apt-get install softhsm2, or set SOFTHSM2_MODULE"
bin_dir=${PAYSIGN_BIN_DIR:-}
if [ -z "$bin_dir" ]; then
  bin_dir=$(cd "$(dirname "$0")/.." && swift build --show-bin-path 2>/dev/null) || bin_dir=
fi
[ -x "$bin_dir/paysign" ] && [ -x "$bin_dir/paysignd" ] ||
  die "the built paysign and paysignd are needed (they issue the officers' certificates): run swift build, or set PAYSIGN_BIN_DIR"

mkdir -p "$dir"
dir=$(cd "$dir" && pwd)
mkdir -p "$dir/tokens" "$dir/ca" "$dir/certs" "$dir/work"
umask 077
cat > "$dir/softhsm2.conf" <<CONF
directories.tokendir = $dir/tokens
objectstore.backend = file
log.level = ERROR
slots.removable = false
CONF
export SOFTHSM2_CONF="$dir/softhsm2.conf"
printf 'export SOFTHSM2_CONF=%q\n' "$SOFTHSM2_CONF" > "$dir/env"

cat > "$dir/ca/openssl.cnf" <<'CNF'
[req]
distinguished_name = dn
prompt = no
[dn]
CN = unused
[root]
basicConstraints = critical,CA:TRUE
keyUsage = critical,keyCertSign,cRLSign
subjectKeyIdentifier = hash
[officer]
basicConstraints = critical,CA:FALSE
keyUsage = critical,digitalSignature,nonRepudiation
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid:always
[tsa]
basicConstraints = critical,CA:FALSE
keyUsage = critical,digitalSignature,nonRepudiation
extendedKeyUsage = critical,timeStamping
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid:always
[tsa_no_eku]
basicConstraints = critical,CA:FALSE
keyUsage = critical,digitalSignature,nonRepudiation
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid:always
CNF

quiet() { # run a command, show its output only if it fails
  local out
  if ! out=$("$@" 2>&1); then echo "$out" >&2; die "failed: $1 ${2:-}"; fi
}

# The test root CA.
quiet openssl req -x509 -newkey rsa:2048 -nodes -keyout "$dir/ca/ca.key" -sha256 -days 3650 \
  -subj "/C=EG/O=Ministry of Finance (TEST)/OU=e-Certification Unit (TEST)/CN=paysign Test Root CA" \
  -config "$dir/ca/openssl.cnf" -extensions root -out "$dir/ca/ca.pem"
quiet openssl x509 -in "$dir/ca/ca.pem" -outform DER -out "$dir/ca/ca.der"
chmod 644 "$dir/ca/ca.pem" "$dir/ca/ca.der"

printf 'label\tkey\tpin\tso_pin\trole\tserial\turi\n' > "$dir/tokens.tsv"

token_serial_of() { # LABEL
  softhsm2-util --show-slots | awk -v l="$1" '
    /Serial number:/ {s=$3} /Label:/ {sub(/^[ \t]*Label:[ \t]*/, ""); sub(/[ \t]+$/, ""); if ($0 == l) print s}' | head -1
}

# add_row LABEL KEYTYPE PIN ROLE CERT.pem|-
add_row() {
  local label=$1 keytype=$2 pin=$3 role=$4 cert=$5 cert_serial=-
  [ "$cert" = - ] || cert_serial=$(openssl x509 -in "$cert" -noout -serial | cut -d= -f2)
  printf '%s\t%s\t%s\t%s\t%s\t%s\tpkcs11:serial=%s;token=%s\n' "$label" "$keytype" "$pin" "so-$pin" "$role" \
    "$cert_serial" "$(token_serial_of "$label")" "$label" >> "$dir/tokens.tsv"
}

# make_key LABEL KEYTYPE PIN [--always-auth]: a new token and a key pair generated on it (CKA_ID
# 01); --always-auth marks the private key CKA_ALWAYS_AUTHENTICATE (its PIN again at every use, as
# on qualified-signature cards).
make_key() {
  local label=$1 keytype=$2 pin=$3
  shift 3
  quiet softhsm2-util --init-token --free --label "$label" --so-pin "so-$pin" --pin "$pin"
  quiet pkcs11-tool --module "$module" --token-label "$label" --login --pin "$pin" \
    --keypairgen --key-type "$keytype" --id 01 --label sign "$@"
}

# certify_with_openssl LABEL KEYTYPE PIN ROLE ENTITY "COMMON NAME" NATIONAL_ID [expired]: the
# certificates paysign will not issue, made by the openssl command line with the root key file.
certify_with_openssl() {
  local label=$1 keytype=$2 pin=$3 role=$4 entity=$5 cn=$6 nid=$7 expired=${8:-}
  local work="$dir/work/$label"
  mkdir -p "$work"
  quiet pkcs11-tool --module "$module" --token-label "$label" --read-object --type pubkey --id 01 \
    -o "$work/pub.der"
  quiet openssl pkey -pubin -inform DER -in "$work/pub.der" -out "$work/pub.pem"
  # A request made with a throw-away key only carries the subject; -force_pubkey puts the
  # token's public key in the certificate.
  quiet openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$work/throwaway.key" \
    -subj "/C=EG/O=$entity/OU=$role/CN=$cn/serialNumber=$nid" -out "$work/req.csr"
  local sign=(openssl x509 -req -in "$work/req.csr" -force_pubkey "$work/pub.pem" -CA "$dir/ca/ca.pem"
    -CAkey "$dir/ca/ca.key" -set_serial "0x$(openssl rand -hex 8)" -sha256 -extfile "$dir/ca/openssl.cnf"
    -extensions officer -out "$dir/certs/$label.pem")
  if [ -n "$expired" ]; then
    quiet faketime '2020-01-01 00:00:00' "${sign[@]}" -days 365
  else
    quiet "${sign[@]}" -days 730
  fi
  rm -f "$work/throwaway.key"
  chmod 644 "$dir/certs/$label.pem"
  quiet openssl x509 -in "$dir/certs/$label.pem" -outform DER -out "$work/cert.der"
  quiet pkcs11-tool --module "$module" --token-label "$label" --login --pin "$pin" \
    --write-object "$work/cert.der" --type cert --id 01 --label sign
  add_row "$label" "$keytype" "$pin" "$role" "$dir/certs/$label.pem"
}

make_key officer1 rsa:2048      111111
make_key officer2 EC:prime256v1 222222
make_key ministry rsa:2048      333333
make_key expired  rsa:2048      444444
make_key clerk    EC:prime256v1 555555
make_key spare    rsa:2048      777777
make_key qualified rsa:2048     888888 --always-auth
certify_with_openssl expired rsa:2048      444444 first-signature "Test Entity EG-0101" "Officer Expired" 29004040100044 expired
certify_with_openssl clerk   EC:prime256v1 555555 data-entry      "Test Entity EG-0101" "Data Entry Clerk" 29505050100055
add_row spare rsa:2048 777777 none -
# A second entity's signers (the payment center's cluster test: two entities submit at once).
make_key officer-b  EC:prime256v1 141414
make_key ministry-b EC:prime256v1 151515
certify_with_openssl officer-b  EC:prime256v1 141414 first-signature  "Test Entity EG-0202" "Officer B One"         28101010200011
certify_with_openssl ministry-b EC:prime256v1 151515 second-signature "Test Entity EG-0202" "MoF Representative B" 27601010200033

# The test time-stamping authority, issued while the root key is still a file (RFC 3161 2.3: the
# EKU timeStamping, critical); its own key stays a file, as `openssl ts -reply` needs.
make_tsa() {
  local work="$dir/tsa"
  mkdir -p "$work"
  quiet openssl req -new -newkey rsa:2048 -nodes -keyout "$work/tsa.key" -config "$dir/ca/openssl.cnf" \
    -subj "/C=EG/O=Ministry of Finance (TEST)/OU=Time-Stamping (TEST)/CN=paysign Test TSA" -out "$work/tsa.csr"
  quiet openssl x509 -req -in "$work/tsa.csr" -CA "$dir/ca/ca.pem" -CAkey "$dir/ca/ca.key" \
    -set_serial "0x$(openssl rand -hex 8)" -sha256 -days 730 -extfile "$dir/ca/openssl.cnf" -extensions tsa -out "$work/tsa.pem"
  quiet openssl x509 -req -in "$work/tsa.csr" -CA "$dir/ca/ca.pem" -CAkey "$dir/ca/ca.key" \
    -set_serial "0x$(openssl rand -hex 8)" -sha256 -days 730 -extfile "$dir/ca/openssl.cnf" -extensions tsa_no_eku \
    -out "$work/tsa-no-eku.pem"
  rm -f "$work/tsa.csr"
  echo 01 > "$work/serial"
  cat > "$work/tsa.cnf" <<TSACNF
[tsa]
default_tsa = paysign_test_tsa
[paysign_test_tsa]
serial = $work/serial
crypto_device = builtin
signer_digest = sha256
default_policy = 1.3.6.1.4.1.99999.1
digests = sha256, sha384, sha512
accuracy = secs:1
ess_cert_id_alg = sha256
TSACNF
  chmod 644 "$work/tsa.pem" "$work/tsa-no-eku.pem" "$work/tsa.cnf"
}
make_tsa

# The payment center's side (issue 18), made while the root key is still a file:
# - token "center" (RSA-2048): key 01 "receipt" signs receipts (certs/center-receipt.pem), key 02
#   "decrypt" opens envelopes with RSAES-OAEP (certs/center-encryption.pem, keyEncipherment);
# - tokens "submission" (P-256, entity EG-0101) and "submission2" (P-256, EG-0202): each entity's
#   daemon's key for the TLS link, in the submission profile (policy below, id-kp-clientAuth, the
#   entity's code in organizationIdentifier);
# - DIR/tls/: the center's TLS server key and certificate (files; DNS center.paysign.test and
#   127.0.0.1), and client certificates with file keys for the refusal tests: a valid submission
#   certificate, a center operator's (staff profile), one without a profile, an expired one, a
#   revoked one (in DIR/tls/crl.pem, the root's revocation list), one revoked only in the root's
#   next list (DIR/tls/crl-later.pem), and one from another CA.
submission_policy=2.25.308683874879709541138332373844464616789
staff_policy=2.25.264439672940767442065922572086543001833
cat >> "$dir/ca/openssl.cnf" <<CNF
[submission]
basicConstraints = critical,CA:FALSE
keyUsage = critical,digitalSignature
extendedKeyUsage = clientAuth
certificatePolicies = $submission_policy
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid:always
[center_staff]
basicConstraints = critical,CA:FALSE
keyUsage = critical,digitalSignature
extendedKeyUsage = clientAuth
certificatePolicies = $staff_policy
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid:always
[no_profile]
basicConstraints = critical,CA:FALSE
keyUsage = critical,digitalSignature,nonRepudiation
extendedKeyUsage = clientAuth
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid:always
[center_server]
basicConstraints = critical,CA:FALSE
keyUsage = critical,digitalSignature
extendedKeyUsage = serverAuth
subjectAltName = DNS:center.paysign.test,IP:127.0.0.1
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid:always
[center_receipt]
basicConstraints = critical,CA:FALSE
keyUsage = critical,digitalSignature,nonRepudiation
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid:always
[center_encryption]
basicConstraints = critical,CA:FALSE
keyUsage = critical,keyEncipherment
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid:always
[center_encryption_ec]
basicConstraints = critical,CA:FALSE
keyUsage = critical,keyAgreement
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid:always
[ca]
default_ca = test_root
[test_root]
database = $dir/tls/ca-db/index.txt
crlnumber = $dir/tls/ca-db/crlnumber
certificate = $dir/ca/ca.pem
private_key = $dir/ca/ca.key
default_md = sha256
default_crl_days = 30
CNF

# certify_token_key LABEL PIN ID EXTENSIONS SUBJECT OUT: a certificate for the key ID on token LABEL.
certify_token_key() {
  local label=$1 pin=$2 id=$3 ext=$4 subject=$5 out=$6
  local work="$dir/work/$label-$id"
  mkdir -p "$work"
  quiet pkcs11-tool --module "$module" --token-label "$label" --read-object --type pubkey --id "$id" -o "$work/pub.der"
  quiet openssl pkey -pubin -inform DER -in "$work/pub.der" -out "$work/pub.pem"
  quiet openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$work/throwaway.key" \
    -subj "$subject" -out "$work/req.csr"
  quiet openssl x509 -req -in "$work/req.csr" -force_pubkey "$work/pub.pem" -CA "$dir/ca/ca.pem" -CAkey "$dir/ca/ca.key" \
    -set_serial "0x$(openssl rand -hex 8)" -sha256 -days 730 -extfile "$dir/ca/openssl.cnf" -extensions "$ext" -out "$out"
  chmod 644 "$out"
  quiet openssl x509 -in "$out" -outform DER -out "$work/cert.der"
  quiet pkcs11-tool --module "$module" --token-label "$label" --login --pin "$pin" \
    --write-object "$work/cert.der" --type cert --id "$id" --label "$(basename "$out" .pem)"
}

# file_certificate NAME EXTENSIONS SUBJECT [CA_PEM CA_KEY] [expired]: a P-256 key file and its certificate in DIR/tls.
file_certificate() {
  local name=$1 ext=$2 subject=$3 ca=${4:-$dir/ca/ca.pem} cakey=${5:-$dir/ca/ca.key} expired=${6:-}
  quiet openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$dir/tls/$name.key" \
    -subj "$subject" -out "$dir/tls/$name.csr"
  local sign=(openssl x509 -req -in "$dir/tls/$name.csr" -CA "$ca" -CAkey "$cakey" -set_serial "0x$(openssl rand -hex 8)"
    -sha256 -extfile "$dir/ca/openssl.cnf" -extensions "$ext" -out "$dir/tls/$name.pem")
  if [ -n "$expired" ]; then quiet faketime '2020-01-01 00:00:00' "${sign[@]}" -days 365; else quiet "${sign[@]}" -days 730; fi
  rm -f "$dir/tls/$name.csr"
  chmod 644 "$dir/tls/$name.pem"
}

make_center_side() {
  mkdir -p "$dir/tls/ca-db" "$dir/work"
  : > "$dir/tls/ca-db/index.txt"
  echo 1000 > "$dir/tls/ca-db/crlnumber"
  quiet softhsm2-util --init-token --free --label center --so-pin so-999999 --pin 999999
  quiet pkcs11-tool --module "$module" --token-label center --login --pin 999999 \
    --keypairgen --key-type rsa:2048 --id 01 --label receipt --usage-sign
  # The decryption key is made as a file and written onto the token, and a copy is kept
  # (tls/center-encryption.TEST-ONLY.key) so tests can check with `openssl cms -decrypt` that an
  # envelope opens with the center's key alone. A production center's key is made on its HSM.
  quiet openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out "$dir/tls/center-encryption.TEST-ONLY.key"
  quiet openssl pkcs8 -topk8 -nocrypt -in "$dir/tls/center-encryption.TEST-ONLY.key" -outform DER -out "$dir/work/center-decrypt.der"
  quiet openssl pkey -in "$dir/tls/center-encryption.TEST-ONLY.key" -pubout -outform DER -out "$dir/work/center-decrypt-pub.der"
  quiet pkcs11-tool --module "$module" --token-label center --login --pin 999999 \
    --write-object "$dir/work/center-decrypt.der" --type privkey --id 02 --label decrypt --usage-decrypt --sensitive
  quiet pkcs11-tool --module "$module" --token-label center --login --pin 999999 \
    --write-object "$dir/work/center-decrypt-pub.der" --type pubkey --id 02 --label decrypt --usage-decrypt
  rm -f "$dir/work/center-decrypt.der"
  # An EC encryption key too (key 03, P-256; ECDH key agreement, RFC 5753), with its test-only copy.
  quiet openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$dir/tls/center-encryption-ec.TEST-ONLY.key"
  quiet openssl pkcs8 -topk8 -nocrypt -in "$dir/tls/center-encryption-ec.TEST-ONLY.key" -outform DER -out "$dir/work/center-ec.der"
  quiet openssl pkey -in "$dir/tls/center-encryption-ec.TEST-ONLY.key" -pubout -outform DER -out "$dir/work/center-ec-pub.der"
  quiet pkcs11-tool --module "$module" --token-label center --login --pin 999999 \
    --write-object "$dir/work/center-ec.der" --type privkey --id 03 --label decrypt-ec --usage-derive --sensitive
  quiet pkcs11-tool --module "$module" --token-label center --login --pin 999999 \
    --write-object "$dir/work/center-ec-pub.der" --type pubkey --id 03 --label decrypt-ec --usage-derive
  rm -f "$dir/work/center-ec.der"
  certify_token_key center 999999 01 center_receipt \
    "/C=EG/O=Ministry of Finance (TEST)/OU=e-Payment Center (TEST)/CN=paysign Test Payment Center Receipts" "$dir/certs/center-receipt.pem"
  certify_token_key center 999999 02 center_encryption \
    "/C=EG/O=Ministry of Finance (TEST)/OU=e-Payment Center (TEST)/CN=paysign Test Payment Center Encryption" "$dir/certs/center-encryption.pem"
  certify_token_key center 999999 03 center_encryption_ec \
    "/C=EG/O=Ministry of Finance (TEST)/OU=e-Payment Center (TEST)/CN=paysign Test Payment Center Encryption (EC)" "$dir/certs/center-encryption-ec.pem"
  add_row center rsa:2048 999999 payment-center "$dir/certs/center-receipt.pem"
  local label entity pin
  for spec in submission:EG-0101:121212 submission2:EG-0202:131313; do
    IFS=: read -r label entity pin <<<"$spec"
    make_key "$label" EC:prime256v1 "$pin"
    certify_token_key "$label" "$pin" 01 submission \
      "/C=EG/O=Test Entity $entity/organizationIdentifier=$entity/OU=submission/CN=paysignd $entity" "$dir/certs/$label.pem"
    add_row "$label" EC:prime256v1 "$pin" submission "$dir/certs/$label.pem"
  done
  file_certificate center-server center_server "/C=EG/O=Ministry of Finance (TEST)/OU=e-Payment Center (TEST)/CN=center.paysign.test"
  file_certificate submission-file submission "/C=EG/O=Test Entity EG-0101/organizationIdentifier=EG-0101/OU=submission/CN=paysignd EG-0101 (file key)"
  file_certificate submission2-file submission "/C=EG/O=Test Entity EG-0202/organizationIdentifier=EG-0202/OU=submission/CN=paysignd EG-0202 (file key)"
  file_certificate operator center_staff "/C=EG/O=Ministry of Finance (TEST)/OU=e-Payment Center (TEST)/CN=Center Operator/serialNumber=29101010100077"
  file_certificate no-profile no_profile "/C=EG/O=Test Entity EG-0101/OU=first-signature/CN=Officer With Client Auth/serialNumber=28001010100011"
  file_certificate expired-submission submission "/C=EG/O=Test Entity EG-0101/organizationIdentifier=EG-0101/OU=submission/CN=paysignd EG-0101 (expired)" "$dir/ca/ca.pem" "$dir/ca/ca.key" expired
  file_certificate revoked-submission submission "/C=EG/O=Test Entity EG-0101/organizationIdentifier=EG-0101/OU=submission/CN=paysignd EG-0101 (revoked)"
  quiet openssl ca -config "$dir/ca/openssl.cnf" -revoke "$dir/tls/revoked-submission.pem" -crl_reason keyCompromise
  # A certificate valid in crl.pem and revoked in crl-later.pem, the root's next list: a center
  # that re-reads its lists refuses it on a connection it had accepted before.
  file_certificate later-revoked-submission submission "/C=EG/O=Test Entity EG-0202/organizationIdentifier=EG-0202/OU=submission/CN=paysignd EG-0202 (revoked later)"
  quiet openssl ca -config "$dir/ca/openssl.cnf" -gencrl -out "$dir/tls/crl.pem"
  chmod 644 "$dir/tls/crl.pem"
  quiet openssl ca -config "$dir/ca/openssl.cnf" -revoke "$dir/tls/later-revoked-submission.pem" -crl_reason keyCompromise
  quiet openssl ca -config "$dir/ca/openssl.cnf" -gencrl -out "$dir/tls/crl-later.pem"
  chmod 644 "$dir/tls/crl-later.pem"
  # Another CA, and a submission certificate of its own (the same profile, the wrong issuer).
  quiet openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$dir/tls/other-ca.key" -sha256 -days 365 \
    -subj "/C=EG/O=Someone Else/CN=Other Root CA" -config "$dir/ca/openssl.cnf" -extensions root -out "$dir/tls/other-ca.pem"
  file_certificate other-ca-submission submission "/C=EG/O=Test Entity EG-0101/organizationIdentifier=EG-0101/OU=submission/CN=paysignd EG-0101 (other CA)" \
    "$dir/tls/other-ca.pem" "$dir/tls/other-ca.key"
  rm -f "$dir/tls/other-ca.key"
}
make_center_side

# The certification authority's own token (D6: revocation lists are signed on it). The root key is
# moved onto the token with its certificate and public key (same CKA_ID), then the key file is
# destroyed: from here on only the token signs for the authority.
make_authority_token() {
  local label=authority pin=666666 so_pin=so-666666 work="$dir/work/authority"
  mkdir -p "$work"
  quiet softhsm2-util --init-token --free --label "$label" --so-pin "$so_pin" --pin "$pin"
  quiet openssl pkcs8 -topk8 -nocrypt -in "$dir/ca/ca.key" -outform DER -out "$work/key.der"
  quiet openssl pkey -in "$dir/ca/ca.key" -pubout -outform DER -out "$work/pub.der"
  quiet pkcs11-tool --module "$module" --token-label "$label" --login --pin "$pin" \
    --write-object "$work/key.der" --type privkey --id 01 --label authority --usage-sign --sensitive
  quiet pkcs11-tool --module "$module" --token-label "$label" --login --pin "$pin" \
    --write-object "$work/pub.der" --type pubkey --id 01 --label authority
  quiet pkcs11-tool --module "$module" --token-label "$label" --login --pin "$pin" \
    --write-object "$dir/ca/ca.der" --type cert --id 01 --label authority
  shred -u "$dir/ca/ca.key" "$work/key.der" 2>/dev/null || rm -f "$dir/ca/ca.key" "$work/key.der"
  add_row "$label" rsa:2048 "$pin" certification-authority "$dir/ca/ca.pem"
}
make_authority_token

# The officers' certificates, issued the way paysign issues them: a throw-away paysignd holds the
# authority token and a registry of the entity's holders; each holder's token makes its request,
# the authority issues on its token, the holder installs the certificate beside the key.
state="$dir/work/paysignd"
mkdir -p "$state"
socket="$state/paysignd.sock"
me=$(id -un)
"$bin_dir/paysignd" --socket "$socket" --socket-group "$(id -gn)" --state-dir "$state" --module "$module" \
  --administrator "$me" --authority-token pkcs11:token=authority --trust-anchors "$dir/ca/ca.pem" \
  --log-level error 2>"$state/paysignd.log" &
daemon=$!
trap 'kill -TERM $daemon 2>/dev/null || true' EXIT
for _ in $(seq 200); do [ -S "$socket" ] && break; sleep 0.05; done
[ -S "$socket" ] || { cat "$state/paysignd.log" >&2; die "the throw-away paysignd did not start"; }
paysign() { "$bin_dir/paysign" "$@" --socket "$socket"; }
local_paysign() { "$bin_dir/paysign" "$@" --module "$module"; }
quiet paysign entity add --code EG-0101 --name "Test Entity EG-0101"
quiet paysign operator add --user "$me" --national-id 28806060100066 --name "Test Certification Authority" \
  --role certification-authority
quiet paysign holder add pki-officer1 --entity EG-0101 --first --on-site --national-id 28001010100011 --name "Officer One"
quiet paysign holder add pki-officer2 --entity EG-0101 --first --national-id 28502020100022 --name "Officer Two"
quiet paysign holder add pki-ministry --entity EG-0101 --second --national-id 27503030100033 --name "MoF Representative"

# issue_with_paysign LABEL KEYTYPE PIN ROLE "COMMON NAME" HOLDER
issue_with_paysign() {
  local label=$1 keytype=$2 pin=$3 role=$4 cn=$5 holder=$6
  local work="$dir/work/$label"
  mkdir -p "$work"
  quiet local_paysign token request --token "pkcs11:token=$label" --name "$cn" --out "$work/req.pem" --pin-fd 3 3<<<"$pin"
  quiet paysign token issue --csr "$work/req.pem" --holder "$holder" --token "pkcs11:token=$label" \
    --out "$dir/certs/$label.pem" --pin-fd 3 3<<<666666
  quiet local_paysign token install --token "pkcs11:token=$label" --cert "$dir/certs/$label.pem" --pin-fd 3 3<<<"$pin"
  chmod 644 "$dir/certs/$label.pem"
  add_row "$label" "$keytype" "$pin" "$role" "$dir/certs/$label.pem"
}
issue_with_paysign officer1 rsa:2048      111111 first-signature  "Officer One"        pki-officer1
issue_with_paysign officer2 EC:prime256v1 222222 first-signature  "Officer Two"        pki-officer2
issue_with_paysign ministry rsa:2048      333333 second-signature "MoF Representative" pki-ministry
# A second token of officer one's, its key CKA_ALWAYS_AUTHENTICATE (issue 21): the request is signed
# with a context-specific login, as every signature of this key is.
issue_with_paysign qualified rsa:2048     888888 first-signature  "Officer One"        pki-officer1
kill -TERM $daemon 2>/dev/null || true
wait $daemon 2>/dev/null || true
trap - EXIT
rm -rf "$dir/work"
echo "test PKI ready in $dir ($(($(wc -l < "$dir/tokens.tsv") - 1)) tokens)"
