#!/usr/bin/env bash
# Unix accounts for the people of a payment order, so that the daemon's peer-credential checks
# (SO_PEERCRED → user name → operator) meet real, distinct users in the demo and the tests:
#   paysign-clerk     data entry (D13)          paysign-reviewer  reviewer (D9)
#   paysign-officer1  first signer, on site     paysign-officer2  first signer (D3)
#   paysign-officer3  a would-be third first signer (refused, D3)
#   paysign-ministry  second signer (D2)        paysign-authority the certification authority (D6)
# System accounts with no home, no shell and no password; created only when missing (needs root).
# Usage: users.sh ensure | list
set -euo pipefail
users=(paysign-clerk paysign-reviewer paysign-officer1 paysign-officer2 paysign-officer3 paysign-ministry paysign-authority)
case "${1:-ensure}" in
  list) printf '%s\n' "${users[@]}" ;;
  ensure)
    [ "$(id -u)" -eq 0 ] || { echo "users.sh: creating accounts needs root" >&2; exit 1; }
    for user in "${users[@]}"; do
      getent passwd "$user" >/dev/null || useradd --system --no-create-home --shell /usr/sbin/nologin "$user"
    done ;;
  *) echo "usage: $0 ensure|list" >&2; exit 2 ;;
esac
