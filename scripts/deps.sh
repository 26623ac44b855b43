#!/usr/bin/env bash
# Checks the Debian packages paysign needs to build, test and run its demo. As root it installs
# the missing ones; otherwise it prints the exact apt-get line and fails.
set -euo pipefail
packages=(
  # build: the C libraries the bridges link
  libssl-dev libp11-kit-dev libpcsclite-dev pkg-config
  # PKCS#11: p11-kit's registry, SoftHSM2 tokens, OpenSC's pkcs11-tool
  p11-kit softhsm2 opensc
  # PC/SC: pcscd with the virtual reader (vpcd) and card (vicc)
  pcscd vsmartcard-vpcd vsmartcard-vpicc python3-virtualsmartcard pcsc-tools
  # the independent judge of signatures, and a clock for the expired test certificate
  openssl faketime
  # setpriv (run clients as another user), procps (pgrep)
  util-linux procps
  # make deb: dpkg-deb, dpkg-shlibdeps, strip, lintian
  dpkg-dev binutils lintian
  # the systemd stage of make test (Tests/testbed/systemd.sh): a Debian 12 root booted with
  # systemd-nspawn; nsenter and overlayfs need nothing more
  debootstrap debian-archive-keyring systemd-container
  # the conformance stage (Tests/conformance/run.sh): each caller's loopback port relayed to the
  # daemon's socket; schemathesis (pinned, from PyPI) in a venv of its own
  socat python3-venv
  # the payment center (issue 18): a throw-away PostgreSQL cluster (Tests/testbed/postgres.sh);
  # network namespaces for its cluster test (ip); curl for its operations port; second opinions on
  # its receipts (GnuTLS certtool) and envelopes (Python's cryptography)
  postgresql iproute2 curl gnutls-bin python3-cryptography
  # the documents people read (issue 19): Chromium prints the review sheet to PDF, qpdf joins
  # and numbers its pages, the Noto fonts shape Arabic, openpyxl writes the workbook; poppler
  # (pdftotext), LibreOffice's converter and PIL read them back in the tests
  chromium qpdf fonts-noto-core python3-openpyxl poppler-utils libreoffice-calc-nogui python3-pil
)
missing=()
for p in "${packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done
[ ${#missing[@]} -eq 0 ] && exit 0
if [ "$(id -u)" -eq 0 ]; then
  echo "deps: installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq >/dev/null
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  exit 0
fi
echo "deps: missing Debian packages; install them with:" >&2
echo "  sudo apt-get install -y ${missing[*]}" >&2
exit 1
