#!/usr/bin/env bash
# Checks the systemd files in systemd/ offline, with no running systemd (Debian 12's `systemd`
# package, systemd 252, is all it needs):
#
#   1. `systemd-analyze security --offline=true systemd/paysignd.service`: prints the settings
#      that still cost exposure and the overall line; fails above MAX_EXPOSURE (1.5).
#   2. `systemd-analyze verify` on paysignd.socket and paysignd.service: fails on ANY complaint
#      (verify exits 0 even for unknown keys or values it ignores, so its output is the verdict).
#      Before `make install`, /usr/bin/paysignd does not exist and verify would only say that
#      ExecStart is not executable: then both units are verified as copies in a temporary folder
#      whose ExecStart names a stub executable there, arguments unchanged.
#   3. paysign.sysusers.conf and paysign.tmpfiles.conf applied to a temporary root with
#      `systemd-sysusers --root` and `systemd-tmpfiles --root`: the user and group exist and the
#      directories get their owners and modes (as root only, because it chowns; skipped otherwise).
#
# Run from anywhere: `Tests/testbed/unit-security.sh`.
# Exit status: 0 all checks passed; 1 a check failed (one sentence on stderr); 2 a tool is missing.
set -euo pipefail
cd "$(dirname "$0")/../.."

readonly MAX_EXPOSURE=1.5
readonly UNITS=systemd

fail() { echo "unit-security.sh: $*" >&2; exit 1; }

for tool in systemd-analyze systemd-sysusers systemd-tmpfiles; do
    command -v "$tool" >/dev/null || {
        echo "unit-security.sh: $tool is missing; install Debian's systemd package (apt-get install systemd)." >&2
        exit 2
    }
done

work=$(mktemp -d "${TMPDIR:-/tmp}/paysign-units.XXXXXX")
trap 'rm -rf "$work"' EXIT

# --- 1. Exposure ---------------------------------------------------------------------------------
# --threshold= counts in tenths (15 = 1.5): systemd-analyze itself then exits non-zero above it.
threshold=$(awk -v m="$MAX_EXPOSURE" 'BEGIN { printf "%d", m * 10 + 0.5 }')
set +e
systemd-analyze security --no-pager --offline=true --threshold="$threshold" "$UNITS/paysignd.service" \
    >"$work/security.out" 2>"$work/security.err"
security_status=$?
set -e
if [ -s "$work/security.err" ]; then
    fail "systemd-analyze security complained about paysignd.service: $(head -n 1 "$work/security.err")"
fi
overall=$(grep 'Overall exposure level for' "$work/security.out" || true)
[ -n "$overall" ] || fail "systemd-analyze security printed no overall exposure level for paysignd.service."
# The settings that still cost exposure: the rows whose last column is a number.
awk '$NF ~ /^[0-9]+\.[0-9]+$/ && !/Overall exposure/' "$work/security.out"
echo "$overall"
score=$(sed -n 's/.*Overall exposure level for [^:]*: \([0-9][0-9.]*\).*/\1/p' <<<"$overall")
[ -n "$score" ] || fail "cannot read the exposure score from: $overall"
if ! awk -v s="$score" -v m="$MAX_EXPOSURE" 'BEGIN { exit !(s <= m) }' || [ "$security_status" -ne 0 ]; then
    fail "paysignd.service scores an exposure of $score, above the allowed $MAX_EXPOSURE:" \
        "restore the hardening in systemd/paysignd.service."
fi

# --- 2. Verify -----------------------------------------------------------------------------------
# The payment center's node (issue 18): the same bound, though it must have the network.
set +e
systemd-analyze security --no-pager --offline=true --threshold="$threshold" "$UNITS/paysign-center.service" \
    >"$work/center.out" 2>"$work/center.err"
center_status=$?
set -e
[ -s "$work/center.err" ] && fail "systemd-analyze security complained about paysign-center.service: $(head -n 1 "$work/center.err")"
center_overall=$(grep 'Overall exposure level for' "$work/center.out" || true)
echo "$center_overall"
center_score=$(sed -n 's/.*Overall exposure level for [^:]*: \([0-9][0-9.]*\).*/\1/p' <<<"$center_overall")
[ -n "$center_score" ] || fail "cannot read paysign-center.service's exposure from: $center_overall"
if ! awk -v s="$center_score" -v m="$MAX_EXPOSURE" 'BEGIN { exit !(s <= m) }' || [ "$center_status" -ne 0 ]; then
    fail "paysign-center.service scores an exposure of $center_score, above the allowed $MAX_EXPOSURE: restore its hardening."
fi

if [ -x /usr/bin/paysignd ]; then
    socket_unit=$UNITS/paysignd.socket
    service_unit=$UNITS/paysignd.service
    note="(with the installed /usr/bin/paysignd)"
else
    # The unit names must stay paysignd.{socket,service}: the socket finds its service by name.
    printf '#!/bin/sh\nexit 0\n' >"$work/paysignd"
    chmod 0755 "$work/paysignd"
    cp "$UNITS/paysignd.socket" "$work/paysignd.socket"
    sed "s|^ExecStart=/usr/bin/paysignd\\b|ExecStart=$work/paysignd|" "$UNITS/paysignd.service" \
        >"$work/paysignd.service"
    grep -q "^ExecStart=$work/paysignd " "$work/paysignd.service" \
        || fail "paysignd.service has no 'ExecStart=/usr/bin/paysignd …' line to check."
    socket_unit=$work/paysignd.socket
    service_unit=$work/paysignd.service
    note="(/usr/bin/paysignd is not installed: ExecStart pointed at a stub)"
fi
set +e
systemd-analyze verify "$socket_unit" "$service_unit" >"$work/verify.out" 2>&1
verify_status=$?
set -e
if [ "$verify_status" -ne 0 ] || [ -s "$work/verify.out" ]; then
    fail "systemd-analyze verify complained about the units: $(head -n 1 "$work/verify.out")"
fi
echo "systemd-analyze verify: paysignd.socket and paysignd.service are clean $note"

# --- 3. sysusers.d and tmpfiles.d ----------------------------------------------------------------
if [ "$(id -u)" -ne 0 ]; then
    echo "sysusers/tmpfiles check skipped: it sets owners in a temporary root, which needs root."
    exit 0
fi
root=$work/root
mkdir -p "$root/etc" "$root/usr/lib/sysusers.d" "$root/usr/lib/tmpfiles.d" "$root/etc/paysign"
cp "$UNITS/paysign.sysusers.conf" "$root/usr/lib/sysusers.d/paysign.conf"
cp "$UNITS/paysign.tmpfiles.conf" "$root/usr/lib/tmpfiles.d/paysign.conf"
# A configuration file with a careless mode, for the `z` line to correct.
echo "# test" >"$root/etc/paysign/paysignd.yaml"
chmod 0666 "$root/etc/paysign/paysignd.yaml"
systemd-sysusers --root="$root" paysign.conf >"$work/sysusers.out" 2>&1 \
    || fail "systemd-sysusers rejected paysign.sysusers.conf: $(head -n 1 "$work/sysusers.out")"
grep -q '^paysign:x:[0-9]*:[0-9]*:paysign signing daemon:/var/lib/paysign:' "$root/etc/passwd" \
    || fail "systemd-sysusers did not create the system user paysign with home /var/lib/paysign."
grep -q '^paysign:x:[0-9]*:' "$root/etc/group" || fail "systemd-sysusers did not create the group paysign."
tmpfiles_out=$(systemd-tmpfiles --root="$root" --create paysign.conf 2>&1) \
    || fail "systemd-tmpfiles rejected paysign.tmpfiles.conf: $(head -n 1 <<<"$tmpfiles_out")"
[ -z "$tmpfiles_out" ] \
    || fail "systemd-tmpfiles complained about paysign.tmpfiles.conf: $(head -n 1 <<<"$tmpfiles_out")"
uid=$(awk -F: '$1 == "paysign" { print $3 }' "$root/etc/passwd")
gid=$(awk -F: '$1 == "paysign" { print $3 }' "$root/etc/group")
expect() { # path mode uid gid
    local got
    got=$(stat -c '%a %u %g' "$root$1" 2>/dev/null || echo missing)
    [ "$got" = "$2 $3 $4" ] || fail "$1 should be mode $2 owned by $3:$4 after tmpfiles, but is: $got."
}
expect /etc/paysign 750 0 "$gid"
expect /etc/paysign/paysignd.yaml 640 0 "$gid"
expect /var/lib/paysign 700 "$uid" "$gid"
expect /run/paysign 755 0 0
echo "sysusers.d and tmpfiles.d: user and group paysign, /etc/paysign 0750 root:paysign," \
    "/var/lib/paysign 0700 paysign, /run/paysign 0755 root"
