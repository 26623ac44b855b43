#!/usr/bin/env bash
# Builds a throw-away test PKI in a folder you name: SoftHSM2 tokens whose key pairs are
# generated ON the token (the private keys never leave it), a test root CA, and officer
# certificates for those keys, written back onto each token beside its key.
#
#   Certs/make-test-pki.sh DIR
#
# DIR/softhsm2.conf     point SOFTHSM2_CONF here (tokens live in DIR/tokens)
# DIR/ca/ca.pem         the test root; its key is made as a file, then moved onto the
#                       "authority" token and the file destroyed
# DIR/certs/LABEL.pem   each officer's certificate (also on the token, CKA_ID 01)
# DIR/tokens.tsv        label, key type, user PIN, SO PIN, role, certificate serial, token URI
# DIR/env               `. DIR/env` sets SOFTHSM2_CONF
#
# Tokens: officer1 (RSA-2048, first signer), officer2 (P-256, first signer),
# ministry (RSA-2048, second signer: the Ministry of Finance representative),
# expired (RSA-2048, a certificate that expired in 2021), clerk (P-256, a data-entry
# clerk's certificate: someone who must never sign, rules D5/D13), authority (the test root's
# key and certificate, moved onto a token of its own: CRLs are signed there, D6).
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

# make_token LABEL KEYTYPE PIN ROLE ENTITY "COMMON NAME" NATIONAL_ID [expired]
make_token() {
  local label=$1 keytype=$2 pin=$3 role=$4 entity=$5 cn=$6 nid=$7 expired=${8:-}
  local so_pin="so-$pin" work="$dir/work/$label"
  mkdir -p "$work"
  quiet softhsm2-util --init-token --free --label "$label" --so-pin "$so_pin" --pin "$pin"
  quiet pkcs11-tool --module "$module" --token-label "$label" --login --pin "$pin" \
    --keypairgen --key-type "$keytype" --id 01 --label sign
  quiet pkcs11-tool --module "$module" --token-label "$label" --read-object --type pubkey --id 01 \
    -o "$work/pub.der"
  quiet openssl pkey -pubin -inform DER -in "$work/pub.der" -out "$work/pub.pem"
  # A request made with a throw-away key only carries the subject; -force_pubkey puts the
  # token's public key in the certificate.
  quiet openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$work/throwaway.key" \
    -subj "/C=EG/O=$entity/OU=$role/CN=$cn/serialNumber=$nid" -out "$work/req.csr"
  local serial
  serial=$(openssl rand -hex 8)
  local sign=(openssl x509 -req -in "$work/req.csr" -force_pubkey "$work/pub.pem" -CA "$dir/ca/ca.pem"
    -CAkey "$dir/ca/ca.key" -set_serial "0x$serial" -sha256 -extfile "$dir/ca/openssl.cnf" -extensions officer
    -out "$dir/certs/$label.pem")
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
  local token_serial
  token_serial=$(softhsm2-util --show-slots | awk -v l="$label" '
    /Serial number:/ {s=$3} /Label:/ {sub(/^[ \t]*Label:[ \t]*/, ""); sub(/[ \t]+$/, ""); if ($0 == l) print s}' | head -1)
  local cert_serial
  cert_serial=$(openssl x509 -in "$dir/certs/$label.pem" -noout -serial | cut -d= -f2)
  printf '%s\t%s\t%s\t%s\t%s\t%s\tpkcs11:serial=%s;token=%s\n' "$label" "$keytype" "$pin" "$so_pin" "$role" \
    "$cert_serial" "$token_serial" "$label" >> "$dir/tokens.tsv"
}

make_token officer1 rsa:2048        111111 first-signature  "Test Entity EG-0101" "Officer One"   28001010100011
make_token officer2 EC:prime256v1   222222 first-signature  "Test Entity EG-0101" "Officer Two"   28502020100022
make_token ministry rsa:2048        333333 second-signature "Test Entity EG-0101" "MoF Representative" 27503030100033
make_token expired  rsa:2048        444444 first-signature  "Test Entity EG-0101" "Officer Expired" 29004040100044 expired
make_token clerk    EC:prime256v1   555555 data-entry       "Test Entity EG-0101" "Data Entry Clerk" 29505050100055

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
  local token_serial cert_serial
  token_serial=$(softhsm2-util --show-slots | awk -v l="$label" '
    /Serial number:/ {s=$3} /Label:/ {sub(/^[ \t]*Label:[ \t]*/, ""); sub(/[ \t]+$/, ""); if ($0 == l) print s}' | head -1)
  cert_serial=$(openssl x509 -in "$dir/ca/ca.pem" -noout -serial | cut -d= -f2)
  printf '%s\t%s\t%s\t%s\t%s\t%s\tpkcs11:serial=%s;token=%s\n' "$label" rsa:2048 "$pin" "$so_pin" \
    certification-authority "$cert_serial" "$token_serial" "$label" >> "$dir/tokens.tsv"
}
make_authority_token
rm -rf "$dir/work"
echo "test PKI ready in $dir ($(($(wc -l < "$dir/tokens.tsv") - 1)) tokens)"
