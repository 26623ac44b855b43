#!/usr/bin/env bash
# The packaged paysign under a real systemd: systemd 252 as PID 1 of a systemd-nspawn container
# booted from a Debian 12 root, the daemon signing on a SoftHSM token with the unit's full
# hardening. The stage of `make test` after the Swift suites; alone: `make systemd-test`.
#
#   Tests/testbed/systemd.sh [PACKAGE.deb CENTER-PACKAGE.deb]
#
# Without arguments it builds both packages (paysign and paysign-center) with scripts/deb.sh
# (make deb). Steps:
#   1. The root: `debootstrap --variant=minbase bookworm` with systemd, pcscd, p11-kit, OpenSC,
#      SoftHSM and the libraries paysign links, made once and kept in $PAYSIGN_TESTBED_CACHE
#      (default /var/cache/paysign-testbed, outside the clone) under a name that hashes its
#      recipe; each run boots an overlay of it (its changes are thrown away at the end).
#   2. A test PKI on SoftHSM tokens, made on this machine by Certs/make-test-pki.sh with the
#      package's own binaries; the tokens are copied into the container.
#   3. Boot: systemd-nspawn -b in a cgroup of its own, --private-network, the system calls and
#      capabilities that let IPAddressDeny=, DevicePolicy= and KeyringMode= be enforced; commands
#      run inside with nsenter.
#   4. `apt-get install ./paysign_….deb` inside, then the checks, each printing what it checked:
#      the user and folders; socket activation on the first connection; Type=notify; the unit as
#      packaged with no drop-in and `systemd-analyze security` (online) at MAX_EXPOSURE or lower;
#      MemoryMax=, TasksMax= and the start limit as the unit says; an order uploaded, reviewed and
#      signed first and second through the daemon on SoftHSM tokens, checked by OpenSSL here; /run
#      and /etc/paysign read-only in the daemon's mount namespace; SIGKILL then a restart; a
#      reinstall (the postinst's upgrade path); a clean stop; a daemon that cannot start (a missing shared library) given up after the start limit,
#      and a waiting client refused at once; a reboot with the audit journal's hash chain intact;
#      `apt-get purge`.
#   5. The payment center's package beside it (issue 18): paysign-center.service as packaged, with
#      a drop-in that only points SoftHSM at the service's StateDirectory; its PostgreSQL is a
#      throw-away cluster on this machine (Tests/testbed/postgres.sh) whose Unix socket folder is
#      bound into the container; a dynamic user, Type=notify, the exposure online, the operations
#      port's readiness; then the whole road under systemd: the daemon, given the packaged
#      delivery drop-in, delivers a newly signed order to the center over mutual TLS, the receipt
#      comes back, the center's operator marks it paid, the daemon learns it; a clean stop
#      (SIGTERM drains) and `apt-get purge paysign-center`.
#   6. SIGTERM to nspawn (the container powers off), the overlay and the cgroups removed: also on
#      failure or Ctrl-C.
#
# Where this machine cannot boot a container (no cgroup it may create, no overlayfs, no nspawn),
# the test says so and FAILS: it never skips.
#
# Where the tokens live inside: SoftHSM keeps a token as files, which it opens for writing; the
# only folder paysignd.service lets the daemon write is its StateDirectory, so the test points
# SoftHSM's own configuration (/etc/softhsm/softhsm2.conf) at /var/lib/paysign/softhsm, and adds
# the user paysign to Debian's group softhsm, which may read that configuration. The unit itself
# is the packaged one, without any drop-in (checked). A USB token needs neither: the daemon
# reaches it through pcscd's socket.
#
# Exit status: 0 every check passed; 1 a check failed or the container could not be booted (one
# sentence and the evidence on stderr); 2 not root or a tool is missing.
set -euo pipefail
cd "$(dirname "$0")/../.."
repo=$PWD

readonly MAX_EXPOSURE=1.0          # systemd-analyze security, online
readonly MAX_CENTER_EXPOSURE=1.5   # the same for paysign-center.service, which needs the network
readonly SUITE=bookworm
readonly CACHE=${PAYSIGN_TESTBED_CACHE:-/var/cache/paysign-testbed}
# What the root holds. The package's Depends must all be here: apt installs it with no network.
readonly ROOT_PACKAGES=systemd,systemd-sysv,dbus,init-system-helpers,pcscd,p11-kit,opensc-pkcs11,softhsm2,libsqlite3-0,libssl3,libpcsclite1,libp11-kit0,libstdc++6,libffi8,tzdata,util-linux,passwd
readonly ROOT_RECIPE_VERSION=1     # bump when the recipe below changes in a way the list does not show
readonly BOOT_TIMEOUT=60           # seconds for systemd to reach multi-user.target
readonly STOP_TIMEOUT=30           # seconds for the container to power off after SIGTERM

started=$(date +%s)
passed=0
say() { printf '%s\n' "$*"; }
step() { printf '\n== %s\n' "$*"; }
ok() { passed=$((passed + 1)); printf 'ok %d: %s\n' "$passed" "$*"; }
elapsed() { echo $(($(date +%s) - started)); }

if [ "$(id -u)" -ne 0 ]; then
    echo "systemd.sh: booting a container needs root (sudo make test)." >&2
    exit 2
fi
for tool in debootstrap systemd-nspawn nsenter dpkg-deb openssl softhsm2-util pkcs11-tool faketime python3 mount; do
    command -v "$tool" >/dev/null || {
        echo "systemd.sh: $tool is missing; scripts/deps.sh installs it (make deps)." >&2
        exit 2
    }
done

# --- Booting and stopping the container ----------------------------------------------------------
cpid=
# Runs a command inside the container (all its namespaces), with a clean environment.
cexec() {
    nsenter -t "$cpid" -a -- env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin HOME=/root LANG=C.UTF-8 "$@"
}
boot() { # LOG
    local log=$1 t0 state i child
    t0=$(date +%s%N)
    (
        for dir in "${cgroup_dirs[@]}"; do echo "$BASHPID" >"$dir/cgroup.procs"; done
        exec env SYSTEMD_NSPAWN_UNIFIED_HIERARCHY=1 systemd-nspawn -D "$merged" -b -M "$name" \
            --register=no --keep-unit --private-network --console=read-only --link-journal=no \
            --resolv-conf=off --timezone=off \
            --system-call-filter="bpf keyctl add_key request_key" --capability=CAP_BPF,CAP_PERFMON \
            --bind="$pg_dir/socket:/srv/postgresql"
    ) </dev/null >"$log" 2>&1 &
    nspawn_pid=$!
    cpid=
    # The container's PID 1 is nspawn's child running systemd.
    for ((i = 0; i < 100; i++)); do
        for child in $(pgrep -P "$nspawn_pid" || true); do
            [ "$(cat "/proc/$child/comm" 2>/dev/null)" = systemd ] && cpid=$child
        done
        [ -n "$cpid" ] && break
        kill -0 "$nspawn_pid" 2>/dev/null || break
        sleep 0.1
    done
    [ -n "$cpid" ] || fail_with "systemd-nspawn did not start systemd in the container within 10 s." "$(tail -n 20 "$log")"
    # systemctl answers only once systemd has made its private socket; until then it says it
    # cannot connect, and is asked again.
    for ((i = 0; i < BOOT_TIMEOUT * 10; i++)); do
        state=$(cexec timeout "$BOOT_TIMEOUT" systemctl is-system-running --wait 2>&1 || true)
        [[ $state == *"Failed to connect"* ]] || break
        kill -0 "$nspawn_pid" 2>/dev/null || break
        sleep 0.1
    done
    boot_ms=$((($(date +%s%N) - t0) / 1000000))
    case $state in
        running) ;;
        degraded)
            say "note: the container booted 'degraded'; failed units:"
            cexec systemctl --no-pager --failed --plain --no-legend | sed 's/^/  /' ;;
        *) fail_with "systemd in the container did not reach multi-user.target within $BOOT_TIMEOUT s (state: '$state')." "$(tail -n 20 "$log")" ;;
    esac
}
stop_container() { # [quiet]
    local i
    [ -n "$nspawn_pid" ] || return 0
    if kill -0 "$nspawn_pid" 2>/dev/null; then
        kill -TERM "$nspawn_pid" 2>/dev/null || true
        for ((i = 0; i < STOP_TIMEOUT * 10; i++)); do
            kill -0 "$nspawn_pid" 2>/dev/null || break
            sleep 0.1
        done
        if kill -0 "$nspawn_pid" 2>/dev/null; then
            [ "${1:-}" = quiet ] || echo "systemd.sh: the container did not power off within $STOP_TIMEOUT s of SIGTERM; killing it" >&2
            kill -KILL "$nspawn_pid" 2>/dev/null || true
        fi
    fi
    wait "$nspawn_pid" 2>/dev/null || true
    nspawn_pid=
    cpid=
}

# The cgroups this run made, removed deepest first (the container's systemd made its own below).
remove_cgroups() {
    local dir
    for dir in "${cgroups[@]}"; do
        # Deepest first: the container's systemd made its own below ours.
        [ -d "$dir" ] && find "$dir" -depth -type d -exec rmdir {} + 2>/dev/null
    done
    cgroups=()
}

# --- Clean-up, on every exit -------------------------------------------------------------------
work=
nspawn_pid=
cgroups=()
merged=
pg_dir=
cleanup() {
    local status=$?
    set +e
    # PAYSIGN_TESTBED_HOLD=SECONDS: after a failure, keep the container up that long, to look
    # inside with `nsenter -t PID -a` (its PID is printed).
    if [ "$status" -ne 0 ] && [ "$status" -ne 130 ] && [ "$status" -ne 143 ] && [ -n "${PAYSIGN_TESTBED_HOLD:-}" ] && [ -n "$cpid" ]; then
        echo "systemd.sh: holding the container for $PAYSIGN_TESTBED_HOLD s: nsenter -t $cpid -a -- bash" >&2
        sleep "$PAYSIGN_TESTBED_HOLD"
    fi
    stop_container quiet
    [ -n "$pg_dir" ] && Tests/testbed/postgres.sh stop "$pg_dir" >/dev/null 2>&1
    if [ -n "$merged" ] && mountpoint -q "$merged"; then
        umount "$merged" || umount -l "$merged"
    fi
    remove_cgroups
    [ -n "$work" ] && rm -rf "$work"
    if [ "$status" -ne 0 ]; then
        echo "systemd.sh: FAILED after $(elapsed) s, $passed checks passed before the failure." >&2
        echo "$passed passed, 1 failed" >&2
    fi
    exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# One clear sentence, then the evidence: the daemon's journal inside the container, when it runs.
fail() {
    echo >&2
    echo "FAIL: $*" >&2
    if [ -n "$nspawn_pid" ] && [ -n "${cpid:-}" ]; then
        echo "evidence: the last lines of journalctl -u paysignd.socket -u paysignd.service -u paysign-center.service in the container:" >&2
        cexec journalctl --no-pager -o short-monotonic -n 25 -u paysignd.socket -u paysignd.service -u paysign-center.service 2>&1 | sed 's/^/  | /' >&2 || true
    fi
    exit 1
}
# Like fail, with the evidence given: fail_with "sentence" "evidence text".
fail_with() {
    echo >&2
    echo "FAIL: $1" >&2
    printf '%s\n' "$2" | sed 's/^/  | /' >&2
    exit 1
}

# --- The package ---------------------------------------------------------------------------------
step "the packages"
deb=${1:-}
center_deb=${2:-}
if [ -z "$deb" ]; then
    debs=$(scripts/deb.sh) || fail "make deb failed (its output is above)"
    deb=$(tail -n 2 <<<"$debs" | head -n 1)
    center_deb=$(tail -n 1 <<<"$debs")
fi
[ -n "$center_deb" ] || fail "give both packages: $0 PACKAGE.deb CENTER-PACKAGE.deb"
[ -f "$deb" ] || fail "no package at '$deb'"
[ -f "$center_deb" ] || fail "no package at '$center_deb'"
deb=$(cd "$(dirname "$deb")" && pwd)/$(basename "$deb")
center_deb=$(cd "$(dirname "$center_deb")" && pwd)/$(basename "$center_deb")
package_version=$(dpkg-deb --field "$deb" Version)
say "package: $deb ($(du -h "$deb" | cut -f1), version $package_version)"
say "package: $center_deb ($(du -h "$center_deb" | cut -f1), version $(dpkg-deb --field "$center_deb" Version))"

# --- Can this machine boot a container? ---------------------------------------------------------
step "cgroups and overlayfs"
name=paysign-testbed-$$
if [ -e /sys/fs/cgroup/cgroup.controllers ]; then
    cgroup_dirs=("/sys/fs/cgroup/$name")                                  # cgroup v2 only
else
    cgroup_dirs=("/sys/fs/cgroup/unified/$name" "/sys/fs/cgroup/systemd/$name") # hybrid: v2 + name=systemd
fi
for dir in "${cgroup_dirs[@]}"; do
    if ! err=$(mkdir "$dir" 2>&1); then
        fail_with "this machine cannot boot a container: nspawn needs a cgroup of its own and $dir cannot be created, so the systemd test cannot run (it does not skip)." "$err"
    fi
    cgroups+=("$dir")
done
grep -qw overlay /proc/filesystems || modprobe overlay 2>/dev/null || true
grep -qw overlay /proc/filesystems \
    || fail "this machine cannot boot the test's container: the kernel has no overlayfs (grep overlay /proc/filesystems is empty)."
if [ -d /run/systemd/system ]; then
    say "note: this machine runs systemd itself; nspawn still runs unregistered (--register=no --keep-unit), in the cgroup made here"
fi
ok "cgroups ${cgroup_dirs[*]} created; overlayfs available"

# --- The root, cached --------------------------------------------------------------------------
step "the Debian 12 root (cached in $CACHE)"
mirror=$(sed -n 's/^URIs: *\([^ ]*\).*/\1/p' /etc/apt/sources.list.d/*.sources 2>/dev/null | grep -v security | head -n 1 || true)
[ -n "$mirror" ] || mirror=$(awk '$1 == "deb" && $3 ~ /^'"$SUITE"'$/ { print $2; exit }' /etc/apt/sources.list 2>/dev/null || true)
[ -n "$mirror" ] || mirror=http://deb.debian.org/debian
arch=$(dpkg --print-architecture)
key=$(printf '%s\n' "$SUITE" "$arch" "$ROOT_PACKAGES" "$ROOT_RECIPE_VERSION" | sha256sum | cut -c1-16)
root=$CACHE/root-$key
mkdir -p "$CACHE"
exec 9>"$CACHE/lock"
flock -w 600 9 || fail "another run holds $CACHE/lock for more than 10 minutes"
if [ -f "$root/.paysign-testbed-complete" ]; then
    say "reusing $root (made $(date -r "$root/.paysign-testbed-complete" '+%F %T'))"
else
    t0=$(date +%s)
    say "making $root with debootstrap from $mirror (once; about a minute)"
    rm -rf "$root.tmp"
    if ! debootstrap --variant=minbase --include="$ROOT_PACKAGES" "$SUITE" "$root.tmp" "$mirror" \
        >"$CACHE/debootstrap.log" 2>&1; then
        fail_with "debootstrap could not make the Debian 12 root from $mirror." "$(tail -n 15 "$CACHE/debootstrap.log")"
    fi
    # A persistent journal (the reboot check reads the previous boot), a host name, no apt lists
    # (the package is installed offline, from the file), nothing cached.
    mkdir -p "$root.tmp/var/log/journal"
    echo paysign-testbed >"$root.tmp/etc/hostname"
    rm -rf "$root.tmp"/var/lib/apt/lists/* "$root.tmp"/var/cache/apt/*.bin "$root.tmp"/var/cache/apt/archives/*.deb
    : >"$root.tmp/etc/machine-id"
    touch "$root.tmp/.paysign-testbed-complete"
    # Older roots of other recipes go.
    for old in "$CACHE"/root-*; do
        [ "$old" != "$root.tmp" ] && [ -d "$old" ] && rm -rf "$old"
    done
    mv "$root.tmp" "$root"
    say "made in $(($(date +%s) - t0)) s ($(du -sh "$root" | cut -f1))"
fi
flock -u 9

# Each run boots an overlay: the cached root stays as debootstrap left it.
work=$(mktemp -d "$CACHE/run.XXXXXX")
mkdir -p "$work/upper" "$work/overlay-work" "$work/merged" "$work/out"
mount -t overlay overlay -o "lowerdir=$root,upperdir=$work/upper,workdir=$work/overlay-work" "$work/merged" \
    || fail "cannot mount an overlay of $root on $work/merged"
merged=$work/merged
ok "root $root, mounted as an overlay on $merged"

# --- The test PKI, made here with the package's binaries ------------------------------------------
step "a test PKI on SoftHSM tokens (Certs/make-test-pki.sh, with the package's paysign and paysignd)"
dpkg-deb -x "$deb" "$work/pkg"
PAYSIGN_BIN_DIR=$work/pkg/usr/bin Certs/make-test-pki.sh "$work/pki" >"$work/pki.log" 2>&1 \
    || fail_with "Certs/make-test-pki.sh could not make the test PKI." "$(tail -n 15 "$work/pki.log")"
pin_of() { awk -F'\t' -v l="$1" '$1 == l { print $3 }' "$work/pki/tokens.tsv"; }
ok "tokens officer1, officer2, ministry, authority… in $work/pki/tokens"

# Files the container needs, copied into its root before it boots.
mkdir -p "$merged/var/tmp/paysign-test"
cp "$deb" "$center_deb" "$merged/var/tmp/paysign-test/"
chmod 0755 "$merged/var/tmp/paysign-test"
chmod 0644 "$merged/var/tmp/paysign-test/$(basename "$deb")" "$merged/var/tmp/paysign-test/$(basename "$center_deb")"
cp Tests/testbed/users.sh "$merged/var/tmp/paysign-test/users.sh"
python3 scripts/make-payroll.py 20 >"$merged/var/tmp/paysign-test/payroll.csv"
chmod 0644 "$merged/var/tmp/paysign-test/payroll.csv"
# The next salary date the D10 calendar allows (24th-28th, not a weekend day), as the demo finds it.
value_date=
for offset in 0 1 2; do
    for day in 24 25 26 27 28; do
        candidate=$(date -u -d "$(date -u +%Y-%m-01) +$offset month" +%Y-%m)-$day
        if "$work/pkg/usr/bin/paysign" order validate "$merged/var/tmp/paysign-test/payroll.csv" --entity EG-0101 \
            --kind salary --value-date "$candidate" >/dev/null 2>&1; then
            value_date=$candidate
            break 2
        fi
    done
done
[ -n "$value_date" ] || fail "no valid salary date in the next three months for the test order"

# The payment center's PostgreSQL: a throw-away cluster on this machine; its Unix socket's folder
# is bound into the container at /srv/postgresql (boot), where the center's unit reaches it.
step "PostgreSQL for the payment center (Tests/testbed/postgres.sh, its socket bound into the container)"
pg_dir=$(mktemp -d /tmp/paysign-systemd-pg.XXXXXX)
out=$(Tests/testbed/postgres.sh start "$pg_dir" 2>"$work/postgres.err") \
    || { pg_dir_failed=$pg_dir; pg_dir=; rm -rf "$pg_dir_failed"; fail_with "the throw-away PostgreSQL did not start." "$(cat "$work/postgres.err")"; }
read -r pg_port _ <<<"$out"
ok "PostgreSQL $(ls -d /usr/lib/postgresql/*/ | sort -V | tail -n 1 | xargs basename) on $pg_dir/socket (port $pg_port), bound to /srv/postgresql in the container"

step "boot"
boot "$work/console-1.log"
ok "systemd $(cexec systemctl --version | awk 'NR == 1 { print $2 }') is PID 1 of the container and reached multi-user.target $boot_ms ms after nspawn started ($(cexec systemd-analyze time 2>/dev/null | sed -n 's/^Startup finished in //p'))"

# --- Install -------------------------------------------------------------------------------------
step "apt-get install ./$(basename "$deb")"
t0=$(date +%s)
if ! out=$(cexec apt-get install -y "/var/tmp/paysign-test/$(basename "$deb")" 2>&1); then
    fail_with "apt-get could not install the package in the container (its dependencies must all be in the root: ROOT_PACKAGES)." "$(tail -n 15 <<<"$out")"
fi
cexec dpkg-query -W -f='${Status}' paysign | grep -q 'install ok installed' \
    || fail_with "dpkg does not list paysign as installed after apt-get install." "$(tail -n 15 <<<"$out")"
ok "installed in $(($(date +%s) - t0)) s: $(cexec dpkg-query -W -f='${Package} ${Version} ${Architecture}' paysign)"

# SoftHSM's tokens, where the daemon may write them (see the header), owned by the daemon's user.
mkdir -p "$merged/var/lib/paysign/softhsm"
cp -a "$work/pki/tokens/." "$merged/var/lib/paysign/softhsm/"
cexec chown -R paysign:paysign /var/lib/paysign/softhsm
cexec chmod -R go-rwx /var/lib/paysign/softhsm
printf 'directories.tokendir = /var/lib/paysign/softhsm/\nobjectstore.backend = file\nlog.level = ERROR\nslots.removable = false\n' \
    >"$merged/etc/softhsm/softhsm2.conf"
# Debian's softhsm2 lets the members of group softhsm read its configuration (/etc/softhsm is
# 0750 root:softhsm); systemd gives User=paysign its groups from /etc/group.
out=$(cexec usermod -aG softhsm paysign 2>&1) || fail_with "usermod -aG softhsm paysign failed in the container." "$out"
# The test PKI's root as the daemon's trust anchor: a token is registered only with a
# certificate that chains to one (D6). Root-owned and read-only for the daemon, like the file.
install -m 0640 "$work/pki/ca/ca.pem" "$merged/etc/paysign/trust-anchors.pem"
cexec chown root:paysign /etc/paysign/trust-anchors.pem
printf '\n# The test PKI (Tests/testbed/systemd.sh)\ntrust-anchors: /etc/paysign/trust-anchors.pem\n' >>"$merged/etc/paysign/paysignd.yaml"

# --- The user and the folders --------------------------------------------------------------------
step "the user, the group and the folders (sysusers.d, tmpfiles.d)"
passwd_line=$(cexec getent passwd paysign || true)
[[ $passwd_line == paysign:x:*:*:paysign\ signing\ daemon:/var/lib/paysign:/usr/sbin/nologin ]] \
    || fail_with "the system user paysign is missing or not as paysign.sysusers.conf says." "getent passwd paysign: '$passwd_line'"
uid=$(cut -d: -f3 <<<"$passwd_line")
[ "$uid" -lt 1000 ] || fail "paysign has uid $uid, not a system user's"
shadow=$(cexec getent shadow paysign | cut -d: -f2)
[[ $shadow == '!'* || $shadow == '*' ]] || fail_with "the account paysign is not locked." "password field: $shadow"
expect_stat() { # PATH "MODE OWNER GROUP"
    local got
    got=$(cexec stat -c '%a %U %G' "$1" 2>&1 || true)
    [ "$got" = "$2" ] || fail_with "$1 should be '$2' (mode owner group)." "stat: $got"
}
expect_stat /etc/paysign "750 root paysign"
expect_stat /etc/paysign/paysignd.yaml "640 root paysign"
expect_stat /var/lib/paysign "700 paysign paysign"
expect_stat /run/paysign "755 root root"
expect_stat /run/paysign/paysign.sock "660 root paysign"
ok "user paysign (uid $uid, locked, nologin, home /var/lib/paysign); /etc/paysign 0750 root:paysign," \
    "paysignd.yaml 0640 root:paysign, /var/lib/paysign 0700 paysign, /run/paysign 0755 root, socket 0660 root:paysign"

# --- Socket activation ---------------------------------------------------------------------------
step "socket activation"
show() { cexec systemctl show -P "$2" "$1"; }
[ "$(show paysignd.socket ActiveState)" = active ] || fail "paysignd.socket is not active after the installation."
[ "$(show paysignd.socket UnitFileState)" = enabled ] || fail "paysignd.socket is not enabled after the installation (postinst)."
[ "$(show paysignd.service ActiveState)" = inactive ] \
    || fail "paysignd.service is '$(show paysignd.service ActiveState)' before any connection; socket activation should start it on the first."
t0=$(date +%s%N)
out=$(cexec timeout 30 paysign health 2>&1) || fail_with "paysign health (the first connection) failed." "$out"
ms=$((($(date +%s%N) - t0) / 1000000))
[ "$(show paysignd.service ActiveState)" = active ] || fail "paysignd.service is not active after the first connection."
triggered=$(show paysignd.service TriggeredBy)
[ "$triggered" = paysignd.socket ] || fail "paysignd.service is triggered by '$triggered', not paysignd.socket."
main_pid=$(show paysignd.service MainPID)
ok "the service was inactive until the first connection; 'paysign health' started it through paysignd.socket and was answered in $ms ms ($out); MainPID $main_pid"
# The daemon adopted the socket systemd passed, it did not bind its own.
adopted=$(cexec journalctl --no-pager -o cat -u paysignd.service | grep -i -m1 'systemd\|LISTEN_FDS\|inherit' || true)
say "   daemon's own words: ${adopted:-(none about the socket)}"

# --- Type=notify ---------------------------------------------------------------------------------
step "Type=notify"
[ "$(show paysignd.service Type)" = notify ] || fail "paysignd.service is Type=$(show paysignd.service Type), not notify."
[ "$(show paysignd.service NotifyAccess)" = main ] || fail "paysignd.service has NotifyAccess=$(show paysignd.service NotifyAccess), not main."
# With Type=notify, systemctl restart returns only once the new process sent READY=1: a daemon that
# never sent it would leave the unit 'activating' until TimeoutStartSec and fail the restart.
t0=$(date +%s%N)
out=$(cexec timeout 30 systemctl restart paysignd.service 2>&1) || fail_with "systemctl restart paysignd.service failed or took 30 s: no READY=1?" "$out"
ms=$((($(date +%s%N) - t0) / 1000000))
[ "$(show paysignd.service SubState)" = running ] || fail "paysignd.service is '$(show paysignd.service SubState)' after the restart, not running."
bad_notify=$(cexec journalctl --no-pager -o cat -u paysignd.service | grep -i 'notification message\|reception only permitted' || true)
[ -z "$bad_notify" ] || fail_with "systemd refused a notification from paysignd." "$bad_notify"
ok "Type=notify, NotifyAccess=main: 'systemctl restart' returned after READY=1 in $ms ms, unit active (running); no refused notification"

# --- The unit as packaged, its exposure and its limits --------------------------------------------
step "the unit as packaged: exposure (online), resources, start limit"
dropins=$(show paysignd.service DropInPaths)
[ -z "$dropins" ] || fail "paysignd.service has drop-ins ($dropins); the test must run the packaged unit alone."
fragment=$(show paysignd.service FragmentPath)
cexec cmp -s "$fragment" /dev/stdin <"$repo/systemd/paysignd.service" \
    || fail "the unit systemd loaded ($fragment) is not systemd/paysignd.service of this clone."
cexec systemd-analyze security --no-pager paysignd.service >"$work/out/security.txt" 2>&1 \
    || fail_with "systemd-analyze security failed in the container." "$(tail -n 5 "$work/out/security.txt")"
overall=$(grep 'Overall exposure level for paysignd.service' "$work/out/security.txt" || true)
score=$(sed -n 's/.*Overall exposure level for paysignd.service: \([0-9.]*\).*/\1/p' <<<"$overall")
[ -n "$score" ] || fail_with "systemd-analyze security printed no overall exposure." "$(tail -n 5 "$work/out/security.txt")"
awk '$NF ~ /^[0-9]+\.[0-9]+$/ && !/Overall exposure/' "$work/out/security.txt" | sed 's/^/   /'
awk -v s="$score" -v m="$MAX_EXPOSURE" 'BEGIN { exit !(s <= m) }' \
    || fail_with "paysignd.service scores an exposure of $score online, above $MAX_EXPOSURE." "$(grep '✗' "$work/out/security.txt" | head -n 20)"
security_score_online=$score
ok "no drop-in, the loaded unit is systemd/paysignd.service; systemd-analyze security (online): $score (at most $MAX_EXPOSURE)"
memory_max=$(show paysignd.service MemoryMax)
tasks_max=$(show paysignd.service TasksMax)
[ "$memory_max" = $((512 * 1024 * 1024)) ] || fail "MemoryMax is '$memory_max', not 512M as the unit says."
[ "$tasks_max" = 256 ] || fail "TasksMax is '$tasks_max', not 256 as the unit says."
[ "$(show paysignd.service StartLimitBurst)" = 5 ] || fail "StartLimitBurst is $(show paysignd.service StartLimitBurst), not 5."
[ "$(show paysignd.service StartLimitIntervalUSec)" = 1min ] || fail "StartLimitIntervalSec is $(show paysignd.service StartLimitIntervalUSec), not 60s."
memory_now=$(show paysignd.service MemoryCurrent)
tasks_now=$(show paysignd.service TasksCurrent)
controllers=$(cat "$(dirname "${cgroup_dirs[0]}")/cgroup.controllers" 2>/dev/null || true)
ok "MemoryMax=512M, TasksMax=256, StartLimitBurst=5 in 60 s in force for systemd (now: memory $memory_now, tasks $tasks_now)"
if ! grep -qw memory <<<"$controllers" || ! grep -qw pids <<<"$controllers"; then
    say "   note: this machine's cgroup v2 offers no memory or pids controller ('${controllers:-none}'), so inside the container"
    say "   the kernel does not enforce them; systemd applies them on a machine that has them."
fi

# --- A signature through the daemon under the full hardening --------------------------------------
step "an order uploaded, reviewed and signed first and second through the daemon, on SoftHSM tokens"
out=$(cexec bash /var/tmp/paysign-test/users.sh ensure 2>&1) || fail_with "Tests/testbed/users.sh could not make the Unix users of the flow in the container." "$out"
# The README's way to let people in: membership of the socket's group.
for user in $(bash Tests/testbed/users.sh list); do
    out=$(cexec usermod -aG paysign "$user" 2>&1) || fail_with "usermod -aG paysign $user failed in the container." "$out"
done
admin() { # the administrator (root), through the daemon
    local out
    out=$(cexec timeout 60 paysign "$@" 2>&1) || fail_with "paysign $* (as root) failed." "$out"
    printf '%s\n' "$out" | sed 's/^/   /'
}
as() { # USER ARGS…: the client as that Unix user, its groups from /etc/group (paysign among them)
    local user=$1
    shift
    cexec setpriv --reuid="$user" --regid="$user" --init-groups timeout 120 paysign "$@"
}
admin entity add --code EG-0101 --name "Test Entity EG-0101"
admin operator add --user paysign-clerk --national-id 29505050100055 --name "Data Entry Clerk" --entity EG-0101 --role data-entry
admin operator add --user paysign-reviewer --national-id 29912120100066 --name "Accounts Reviewer" --entity EG-0101 --role reviewer
admin holder add paysign-officer1 --entity EG-0101 --first --on-site --national-id 28001010100011 --name "Officer One"
admin holder add paysign-ministry --entity EG-0101 --second --national-id 27503030100033 --name "MoF Representative"
# The certification authority binds the tokens to their holders (an administrator's registration
# would start issued, D6).
admin operator add --user paysign-authority --national-id 28806060100066 --name "e-Certification Unit" --role certification-authority
for pair in officer1:paysign-officer1 ministry:paysign-ministry; do
    out=$(as paysign-authority token register --token "pkcs11:token=${pair%%:*}" --holder "${pair#*:}" 2>&1) \
        || fail_with "the authority could not register token ${pair%%:*}." "$out"
    printf '%s\n' "$out" | sed 's/^/   /'
done
sign_order() { # KEY: uploads, reviews and signs first and second an order; sets order and file_number
    local out
    out=$(as paysign-clerk order create /var/tmp/paysign-test/payroll.csv --entity EG-0101 --kind salary --value-date "$value_date" \
        --idempotency-key "$1" 2>&1) || fail_with "the clerk could not upload the order." "$out"
    order=$(awk '/^order / { print $2; exit }' <<<"$out")
    file_number=$(awk '/^file number / { print $3; exit }' <<<"$out")
    [ -n "$order" ] && [ -n "$file_number" ] || fail_with "order create printed no order id or file number." "$out"
    out=$(as paysign-reviewer order review "$order" --file-number "$file_number" 2>&1) || fail_with "the reviewer could not review the order." "$out"
    out=$(as paysign-officer1 sign "$order" --first --token pkcs11:token=officer1 --pin-fd 3 3<<<"$(pin_of officer1)" 2>&1) \
        || fail_with "the first signature on the officer1 SoftHSM token through the daemon failed." "$out"
    printf '%s\n' "$out" | sed 's/^/   /'
    out=$(as paysign-ministry sign "$order" --second --file-number "$file_number" --token pkcs11:token=ministry --pin-fd 3 3<<<"$(pin_of ministry)" 2>&1) \
        || fail_with "the second signature on the ministry SoftHSM token through the daemon failed." "$out"
    printf '%s\n' "$out" | sed 's/^/   /'
}
sign_order systemd-first
as paysign-reviewer order export "$order" --format document >"$work/out/order.txt" 2>"$work/out/export.err" \
    || fail_with "exporting the order document failed." "$(cat "$work/out/export.err")"
as paysign-reviewer order export "$order" --format p7s >"$work/out/order.p7s" 2>"$work/out/export.err" \
    || fail_with "exporting the signatures failed." "$(cat "$work/out/export.err")"
if ! out=$(openssl cms -verify -binary -inform DER -content "$work/out/order.txt" -in "$work/out/order.p7s" \
    -CAfile "$work/pki/ca/ca.pem" -out /dev/null 2>&1); then
    fail_with "OpenSSL does not verify the signatures the daemon made in the container." "$out"
fi
# One SignerIdentifier (the CHOICE OpenSSL prints as d.issuerAndSerialNumber or
# d.subjectKeyIdentifier) per SignerInfo.
signers=$(openssl cms -cmsout -print -inform DER -in "$work/out/order.p7s" | grep -cE '^ *d\.(issuerAndSerialNumber|subjectKeyIdentifier):' || true)
[ "$signers" -eq 2 ] || fail "the exported order carries $signers SignerInfos, not 2."
ok "order $order signed first (officer1, RSA) and second (ministry) by the daemon in the container; 'openssl cms -verify' here: $out, $signers signers"
# Threads and memory of the daemon after the flow, from /proc (TasksCurrent and MemoryCurrent
# need the cgroup controllers): the figures MemoryMax= and TasksMax= are set against.
daemon_pid=$(show paysignd.service MainPID)
threads=$(cexec sh -c "ls /proc/$daemon_pid/task | wc -l")
rss_kb=$(cexec awk '/^VmRSS/ { print $2 }' "/proc/$daemon_pid/status")
hwm_kb=$(cexec awk '/^VmHWM/ { print $2 }' "/proc/$daemon_pid/status")
[ "$threads" -lt 256 ] || fail "the daemon runs $threads threads, at TasksMax=256 or above."
[ "$hwm_kb" -lt $((512 * 1024)) ] || fail "the daemon's peak resident memory is $((hwm_kb / 1024)) MiB, at MemoryMax=512M or above."
ok "after the flow the daemon runs $threads threads (TasksMax=256) and holds $((rss_kb / 1024)) MiB resident, peak $((hwm_kb / 1024)) MiB (MemoryMax=512M)"

# --- /run and /etc/paysign are read-only for the daemon --------------------------------------------
step "/run and /etc/paysign read-only inside the daemon's mount namespace"
daemon_pid=$(show paysignd.service MainPID)
probe() { # AS-USER PATH: try to create PATH in the daemon's mount namespace; prints the error or "created"
    local user=$1 path=$2
    cexec nsenter -t "$daemon_pid" -m -- setpriv --reuid="$user" --regid="$user" --clear-groups \
        sh -c 'if ( : >"$1" ) 2>/tmp/probe.err; then rm -f "$1"; echo created; else cat /tmp/probe.err; fi' probe "$path" 2>&1
}
# A probe that must succeed first: the state directory is writable, so the method can tell.
out=$(probe paysign /var/lib/paysign/.probe)
[ "$out" = created ] || fail_with "the daemon's user cannot create a file in /var/lib/paysign within its namespace: the probe is broken." "$out"
for target in paysign:/run/lock/paysign-probe root:/run/lock/paysign-probe root:/run/paysign/probe root:/etc/paysign/probe paysign:/tmp/../run/systemd/probe; do
    user=${target%%:*}
    path=${target#*:}
    out=$(probe "$user" "$path")
    [[ $out == *"Read-only file system"* ]] || fail_with "$path is writable (as $user) in the daemon's mount namespace; ReadOnlyPaths=/run /etc/paysign should forbid it." "$out"
done
# Outside the daemon's namespace, the same places are writable: the read-only mount is the unit's.
out=$(cexec sh -c ': >/run/lock/paysign-probe && rm /run/lock/paysign-probe && echo created' 2>&1)
[ "$out" = created ] || fail_with "the control probe outside the daemon's namespace failed." "$out"
mounts=$(cexec findmnt --task "$daemon_pid" -n -o TARGET,OPTIONS /run; cexec findmnt --task "$daemon_pid" -n -o TARGET,OPTIONS /etc/paysign)
grep -q '^/run .*\bro\b' <<<"$mounts" || fail_with "/run is not mounted ro in the daemon's namespace." "$mounts"
grep -q '^/etc/paysign .*\bro\b' <<<"$mounts" || fail_with "/etc/paysign is not mounted ro in the daemon's namespace." "$mounts"
ok "in the daemon's namespace /run/lock (as paysign and root), /run/paysign, /run/systemd and /etc/paysign refuse new files (EROFS), /var/lib/paysign takes them; outside, /run/lock is writable"
say "   $(tr '\n' ';' <<<"$mounts")"

# --- SIGKILL and the restart ---------------------------------------------------------------------
step "SIGKILL, then the restart"
before_restarts=$(show paysignd.service NRestarts)
old_pid=$(show paysignd.service MainPID)
cexec systemctl kill --signal=SIGKILL --kill-whom=main paysignd.service
new_pid=
for ((i = 0; i < 150; i++)); do
    sleep 0.1
    pid=$(show paysignd.service MainPID)
    if [ "$pid" != 0 ] && [ "$pid" != "$old_pid" ] && [ "$(show paysignd.service SubState)" = running ]; then
        new_pid=$pid
        break
    fi
done
[ -n "$new_pid" ] || fail "paysignd.service was not running again within 15 s of a SIGKILL (Restart=on-failure)."
after_restarts=$(show paysignd.service NRestarts)
[ "$after_restarts" -eq $((before_restarts + 1)) ] || fail "NRestarts went from $before_restarts to $after_restarts after one SIGKILL."
out=$(cexec timeout 30 paysign audit verify 2>&1) || fail_with "the audit journal does not verify after the SIGKILL." "$out"
killed_line=$(cexec journalctl --no-pager -o cat -u paysignd.service | grep -m1 'status=9/KILL' || true)
ok "PID $old_pid killed ($killed_line); restarted as PID $new_pid after RestartSec=2s (NRestarts $before_restarts -> $after_restarts); $out"

# --- Reinstalling: the postinst's upgrade path ------------------------------------------------
step "apt-get install --reinstall (the postinst's upgrade path)"
old_pid=$(show paysignd.service MainPID)
out=$(cexec apt-get install -y --reinstall "/var/tmp/paysign-test/$(basename "$deb")" 2>&1) \
    || fail_with "apt-get install --reinstall failed in the container." "$(tail -n 15 <<<"$out")"
new_pid=$(show paysignd.service MainPID)
[ "$(show paysignd.service SubState)" = running ] && [ "$new_pid" != "$old_pid" ] \
    || fail "after the reinstall paysignd.service should run again on the new binary (MainPID $old_pid before, $new_pid after, $(show paysignd.service SubState))."
[ "$(show paysignd.socket ActiveState)" = active ] || fail "paysignd.socket is not listening after the reinstall."
expect_stat /etc/paysign/paysignd.yaml "640 root paysign"
out=$(cexec timeout 30 paysign audit verify 2>&1) || fail_with "the audit journal does not verify after the reinstall." "$out"
ok "reinstalled: the running daemon was restarted on the new binary (PID $old_pid -> $new_pid), the socket kept listening, paysignd.yaml 0640 root:paysign again; $out"

# --- A clean stop --------------------------------------------------------------------------------
step "a clean stop"
t0=$(date +%s%N)
out=$(cexec timeout 30 systemctl stop paysignd.service 2>&1) || fail_with "systemctl stop paysignd.service failed or took 30 s." "$out"
ms=$((($(date +%s%N) - t0) / 1000000))
result=$(show paysignd.service Result)
status=$(show paysignd.service ExecMainStatus)
[ "$result" = success ] || fail "paysignd.service stopped with Result=$result, not success."
[ "$status" = 0 ] || fail "paysignd exited with status $status on SIGTERM, not 0."
[ "$(show paysignd.socket ActiveState)" = active ] || fail "paysignd.socket is not listening after the service stopped."
stopping=$(cexec journalctl --no-pager -o cat -u paysignd.service | grep -c 'paysignd stopping' || true)
ok "stopped in $ms ms, Result=success, exit status 0 (the daemon logged 'paysignd stopping' $stopping times so far); the socket still listens"

# --- A daemon that cannot start stops at the start limit ------------------------------------------
step "a daemon that cannot start (a missing shared library): the start limit"
# libsqlite3: the daemon links it, the client (which must still run to wait on the socket) does not.
library=$(cexec ldd /usr/bin/paysignd | awk '/libsqlite3/ { print $1; exit }')
library_path=$(cexec ldd /usr/bin/paysignd | awk '/libsqlite3/ { print $3; exit }')
[ -n "$library_path" ] || fail "ldd /usr/bin/paysignd names no libsqlite3 to hide."
if cexec ldd /usr/bin/paysign | grep -q libsqlite3; then fail "the client links libsqlite3 too; hide another library of the daemon's."; fi
restore_library() { cexec sh -c "[ -e '$library_path.hidden' ] && mv '$library_path.hidden' '$library_path' || true"; }
cexec systemctl reset-failed paysignd.service paysignd.socket
cexec mv "$library_path" "$library_path.hidden"
since=$(date +%s)
sleep 1   # journalctl --since has a resolution of a second
t0=$(date +%s%N)
set +e
client_out=$(cexec timeout 150 paysign health 2>&1)
client_status=$?
set -e
client_ms=$((($(date +%s%N) - t0) / 1000000))
restore_library
result=$(show paysignd.service Result)
socket_result=$(show paysignd.socket Result)
tries=$(cexec journalctl --no-pager -o cat --since="@$since" -u paysignd.service | grep -c "$library: cannot open shared object file" || true)
journal=$(cexec journalctl --no-pager -o short-monotonic --since="@$since" -u paysignd.service -u paysignd.socket | tail -n 12)
journal="$journal
client (exit $client_status after $client_ms ms): $client_out"
[ "$client_status" -ne 0 ] || fail_with "paysign health succeeded although the daemon cannot start." "$journal"
[ "$client_status" -ne 124 ] || fail_with "the client waited 150 s for a daemon that cannot start." "$journal"
# systemd 252 keeps the last failure as the service's Result (exit-code) and says "Start request
# repeated too quickly"; the socket fails with service-start-limit-hit and closes its descriptor.
[ "$(show paysignd.service ActiveState)" = failed ] || fail_with "paysignd.service is $(show paysignd.service ActiveState), not failed, after the start limit." "$journal"
grep -q 'Start request repeated too quickly' <<<"$journal" || fail_with "systemd did not give up on paysignd.service (no 'Start request repeated too quickly')." "$journal"
[ "$socket_result" = service-start-limit-hit ] || fail_with "paysignd.socket ended with Result=$socket_result, not service-start-limit-hit." "$journal"
[ "$tries" -eq 5 ] || fail_with "the daemon was started $tries times, not StartLimitBurst=5." "$journal"
[ "$client_ms" -lt 30000 ] || fail_with "the client waited $client_ms ms before it was refused." "$journal"
ok "$library hidden: $tries starts, each 'cannot open shared object file', then 'Start request repeated too quickly', service failed (Result=$result), socket Result=$socket_result;" \
    "the waiting client was refused after $client_ms ms (exit $client_status: $(head -n 1 <<<"$client_out"))"
printf '%s\n' "$journal" | grep -E 'repeated too quickly|start-limit|Failed' | sed 's/^/   | /'
# The way back, as the unit's comment says.
cexec systemctl reset-failed paysignd.service paysignd.socket
cexec systemctl start paysignd.socket
out=$(cexec timeout 30 paysign health 2>&1) || fail_with "after reset-failed and starting the socket, the daemon does not answer." "$out"
ok "after restoring the library: systemctl reset-failed, start paysignd.socket, and the next connection is served ($out)"

# --- A reboot with the audit journal intact -------------------------------------------------------
step "a reboot, then the audit journal's hash chain"
before=$(cexec timeout 30 paysign audit verify 2>&1) || fail_with "the audit journal does not verify before the reboot." "$before"
entries_before=$(sed -n 's/^journal intact: \([0-9]*\) entries.*/\1/p' <<<"$before")
cexec systemctl reboot
for ((i = 0; i < STOP_TIMEOUT * 10; i++)); do
    kill -0 "$nspawn_pid" 2>/dev/null || break
    sleep 0.1
done
kill -0 "$nspawn_pid" 2>/dev/null && fail "the container did not go down within $STOP_TIMEOUT s of 'systemctl reboot'."
set +e
wait "$nspawn_pid"
reboot_status=$?
set -e
nspawn_pid=
[ "$reboot_status" -eq 133 ] || fail_with "systemd-nspawn exited with $reboot_status after 'systemctl reboot', not 133 (reboot)." "$(tail -n 10 "$work/console-1.log")"
first_boot_ms=$boot_ms
boot "$work/console-2.log"
[ "$(show paysignd.socket ActiveState)" = active ] || fail "paysignd.socket is not listening after the reboot."
[ "$(show paysignd.service ActiveState)" = inactive ] || fail "paysignd.service runs after the reboot before any connection."
after=$(cexec timeout 30 paysign audit verify 2>&1) || fail_with "the audit journal's chain does not verify after the reboot." "$after"
entries_after=$(sed -n 's/^journal intact: \([0-9]*\) entries.*/\1/p' <<<"$after")
[ -n "$entries_before" ] && [ -n "$entries_after" ] && [ "$entries_after" -ge "$entries_before" ] \
    || fail_with "the journal had $entries_before entries before the reboot and $entries_after after." "$before / $after"
shown=$(as paysign-reviewer order show "$order" 2>&1) || fail_with "order $order cannot be read after the reboot." "$shown"
grep -qw payable <<<"$shown" || fail_with "order $order is no longer payable after the reboot." "$shown"
# Lines of --list-boots that are boots (the legend is not): the previous boot's journal was kept.
boots=$(cexec journalctl --list-boots --no-pager 2>/dev/null | grep -cE '^ *-?[0-9]+ ' || true)
[ "$boots" -ge 2 ] || fail "journalctl lists $boots boots after the reboot; the previous boot's journal was lost."
ok "nspawn exited 133 on 'systemctl reboot' and booted again in $boot_ms ms; the audit journal before: $before; after: $after;" \
    "order $order still payable; journalctl keeps $boots boots"

# --- The payment center's package, and the whole road under systemd -------------------------------
step "apt-get install ./$(basename "$center_deb") (the payment center's node)"
out=$(cexec apt-get install -y "/var/tmp/paysign-test/$(basename "$center_deb")" 2>&1) \
    || fail_with "apt-get could not install paysign-center in the container." "$(tail -n 15 <<<"$out")"
[ "$(show paysign-center.service UnitFileState)" = disabled ] \
    || fail "paysign-center.service is '$(show paysign-center.service UnitFileState)' after the installation; the package leaves it disabled until it is configured."
[ "$(show paysign-center.service ActiveState)" = inactive ] || fail "paysign-center.service runs before it is configured."
expect_stat /etc/paysign-center "755 root root"
expect_stat /etc/paysign-center/center.yaml "644 root root"
expect_stat /etc/paysign-center/credentials "700 root root"
fragment=$(show paysign-center.service FragmentPath)
cexec cmp -s "$fragment" /dev/stdin <"$repo/systemd/paysign-center.service" \
    || fail "the unit systemd loaded ($fragment) is not systemd/paysign-center.service of this clone."
ok "installed $(cexec dpkg-query -W -f='${Package} ${Version}' paysign-center): unit disabled and inactive until configured; /etc/paysign-center 0755 root," \
    "center.yaml 0644, credentials/ 0700 root"

# Its configuration, as an administrator fills it in: public files in /etc/paysign-center, the
# secrets as credentials in /etc/paysign-center/credentials. The HSM is the test PKI's 'center'
# SoftHSM token; SoftHSM keeps a token as files it writes, so a drop-in gives the service a
# StateDirectory and points SoftHSM there (a network or USB HSM needs neither).
install -m 0644 "$work/pki/ca/ca.pem" "$merged/etc/paysign-center/trust-anchors.pem"
install -m 0644 "$work/pki/tls/crl.pem" "$merged/etc/paysign-center/authority.crl"
install -m 0644 "$work/pki/tls/center-server.pem" "$merged/etc/paysign-center/tls-chain.pem"
install -m 0600 "$work/pki/tls/center-server.key" "$merged/etc/paysign-center/credentials/tls-key"
printf '%s' "$(pin_of center)" >"$merged/etc/paysign-center/credentials/token-pin"
chmod 0600 "$merged/etc/paysign-center/credentials/token-pin"
install -d -m 0700 "$merged/var/lib/private"
install -d -m 0700 "$merged/var/lib/private/paysign-center/softhsm"
cp -a "$work/pki/tokens/." "$merged/var/lib/private/paysign-center/softhsm/"
printf 'directories.tokendir = /var/lib/paysign-center/softhsm/\nobjectstore.backend = file\nlog.level = ERROR\nslots.removable = false\n' \
    >"$merged/etc/paysign-center/softhsm2.conf"
chmod 0644 "$merged/etc/paysign-center/softhsm2.conf"
mkdir -p "$merged/etc/systemd/system/paysign-center.service.d"
printf '[Service]\nStateDirectory=paysign-center\nEnvironment=SOFTHSM2_CONF=/etc/paysign-center/softhsm2.conf\n' \
    >"$merged/etc/systemd/system/paysign-center.service.d/softhsm.conf"
cat >"$merged/etc/paysign-center/center.yaml" <<YAML
# Tests/testbed/systemd.sh
listen: 127.0.0.1:8443
operations-listen: 127.0.0.1:9464
tls-certificate: /etc/paysign-center/tls-chain.pem
trust-anchors: /etc/paysign-center/trust-anchors.pem
revocation-lists: [/etc/paysign-center/authority.crl]
database-host: /srv/postgresql
database-port: $pg_port
database-user: paysign
database-name: center
module: /usr/lib/softhsm/libsofthsm2.so
decryption-key: "pkcs11:token=center;id=%02"
receipt-key: "pkcs11:token=center;id=%01"
node: testbed-center-1
log-level: info
YAML

step "paysign-center.service: a dynamic user, Type=notify, its exposure online, ready on its operations port"
cexec systemctl daemon-reload
t0=$(date +%s%N)
out=$(cexec timeout 60 systemctl enable --now paysign-center.service 2>&1) \
    || fail_with "systemctl enable --now paysign-center.service failed (no READY=1 within 60 s?)." "$out
$(cexec journalctl --no-pager -o cat -n 20 -u paysign-center.service)"
ms=$((($(date +%s%N) - t0) / 1000000))
[ "$(show paysign-center.service SubState)" = running ] || fail "paysign-center.service is '$(show paysign-center.service SubState)' after its start, not running."
[ "$(show paysign-center.service Type)" = notify ] || fail "paysign-center.service is Type=$(show paysign-center.service Type), not notify."
center_pid=$(show paysign-center.service MainPID)
# The uid systemd allotted (the root's nsswitch.conf has no nss-systemd to name it).
center_uid=$(cexec stat -c '%u' "/proc/$center_pid")
center_user=$(show paysign-center.service User)
[ "$center_user" = paysign-center ] && [ "$center_uid" -ge 61184 ] && [ "$center_uid" -le 65519 ] \
    || fail "paysign-center runs as uid $center_uid (User=$center_user), not a dynamic user paysign-center (uid 61184-65519)."
ready_line=$(cexec journalctl --no-pager -o cat -u paysign-center.service | grep -m1 ' ready on ' || true)
[ -n "$ready_line" ] || fail "the center did not log that it is ready."
# The operations port, as a load balancer asks it (bash's /dev/tcp: the root has no curl).
http_get() { # PORT PATH: the status line and body
    cexec timeout 10 bash -c 'exec 3<>/dev/tcp/127.0.0.1/$1 && printf "GET %s HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n" "$2" >&3 && cat <&3' get "$1" "$2" 2>&1
}
ready=$(http_get 9464 /health/ready)
grep -q '^HTTP/1.1 200' <<<"$ready" || fail_with "GET /health/ready on the operations port is not 200." "$ready"
cexec systemd-analyze security --no-pager paysign-center.service >"$work/out/center-security.txt" 2>&1 \
    || fail_with "systemd-analyze security paysign-center.service failed in the container." "$(tail -n 5 "$work/out/center-security.txt")"
center_score=$(sed -n 's/.*Overall exposure level for paysign-center.service: \([0-9.]*\).*/\1/p' "$work/out/center-security.txt")
[ -n "$center_score" ] || fail_with "systemd-analyze security printed no overall exposure for the center." "$(tail -n 5 "$work/out/center-security.txt")"
awk -v s="$center_score" -v m="$MAX_CENTER_EXPOSURE" 'BEGIN { exit !(s <= m) }' \
    || fail_with "paysign-center.service scores an exposure of $center_score online, above $MAX_CENTER_EXPOSURE." "$(grep '✗' "$work/out/center-security.txt" | head -n 20)"
ok "enabled and started in $ms ms (READY=1 sent: '$ready_line'); PID $center_pid runs as the dynamic user $center_user (uid $center_uid);" \
    "GET /health/ready on the operations port: $(head -n 1 <<<"$ready" | tr -d '\r'); exposure online $center_score (at most $MAX_CENTER_EXPOSURE)"

step "the whole road under systemd: paysignd delivers the signed order to the center, the receipt comes back, the center pays it"
# The center's people: an operator, by the certificate the center will see at the handshake.
cp "$work/pki/tls/operator.pem" "$work/pki/tls/operator.key" "$merged/var/tmp/paysign-test/"
out=$(cexec timeout 60 paysign-center staff add --config /etc/paysign-center/center.yaml \
    --certificate /var/tmp/paysign-test/operator.pem --name "Center Operator" --role operator 2>&1) \
    || fail_with "paysign-center staff add failed in the container." "$out"
printf '%s\n' "$out" | sed 's/^/   /'
# The entity's side: the daemon's settings for the center, the submission token's PIN as the
# credential, and the packaged delivery drop-in with the center's address (here, loopback).
install -m 0644 "$work/pki/certs/center-encryption.pem" "$merged/etc/paysign/center-encryption.pem"
install -m 0644 "$work/pki/certs/center-receipt.pem" "$merged/etc/paysign/center-receipt.pem"
install -d -m 0700 "$merged/etc/paysign/credentials"
printf '%s' "$(pin_of submission)" >"$merged/etc/paysign/credentials/submission-pin"
chmod 0600 "$merged/etc/paysign/credentials/submission-pin"
cat >>"$merged/etc/paysign/paysignd.yaml" <<YAML
# The payment center (Tests/testbed/systemd.sh)
center: 127.0.0.1:8443
center-name: center.paysign.test
center-encryption-certificate: /etc/paysign/center-encryption.pem
center-receipt-certificate: /etc/paysign/center-receipt.pem
# SoftHSM 2.6 decrypts OAEP with SHA-1 only.
center-oaep-hash: sha1
submission-key: "pkcs11:token=submission"
delivery-interval-seconds: 1
YAML
mkdir -p "$merged/etc/systemd/system/paysignd.service.d"
cexec test -f /usr/share/doc/paysign/examples/paysignd-delivery.conf \
    || fail "the package does not ship the delivery drop-in (/usr/share/doc/paysign/examples/paysignd-delivery.conf)."
cexec sed 's/^IPAddressAllow=.*/IPAddressAllow=127.0.0.1/' /usr/share/doc/paysign/examples/paysignd-delivery.conf \
    >"$merged/etc/systemd/system/paysignd.service.d/delivery.conf"
cexec systemctl daemon-reload
out=$(cexec timeout 30 systemctl restart paysignd.service 2>&1) || fail_with "paysignd.service did not restart with the delivery drop-in." "$out"
# The order signed above was queued in the outbox in the transaction of its second signature, and
# has waited there through the SIGKILL, the reinstall and the reboot; now it has a center to go to.
# (A second order of the same payroll file would be refused: its file number was accepted, D9.)
shown=
for ((i = 0; i < 120; i++)); do
    shown=$(as paysign-reviewer order show "$order" 2>&1 || true)
    grep -q 'accepted' <<<"$shown" && grep -q 'receipt verified' <<<"$shown" && break
    sleep 0.5
done
grep -q 'receipt verified' <<<"$shown" || fail_with "order $order was not accepted by the center within 60 s of the delivery's start." "$shown
the daemon's journal:
$(cexec journalctl --no-pager -o cat -n 8 -u paysignd.service)
the center's journal (NRestarts $(show paysign-center.service NRestarts)):
$(cexec journalctl --no-pager -o cat -n 25 -u paysign-center.service)"
center_line=$(grep -m1 'center' <<<"$shown" | sed 's/^ *//')
submission=$(cexec timeout 30 paysign order show "$order" --json | python3 -c 'import json, sys; print(json.load(sys.stdin)["delivery"]["submissionID"])')
cexec timeout 30 paysign order export "$order" --format receipt >"$work/out/receipt.p7m" 2>"$work/out/export.err" \
    || fail_with "exporting the center's receipt failed." "$(cat "$work/out/export.err")"
receipt=$(openssl cms -verify -inform DER -in "$work/out/receipt.p7m" -CAfile "$work/pki/ca/ca.pem" -purpose any 2>/dev/null) \
    || fail "OpenSSL does not verify the center's receipt against the test root."
[ "$(python3 -c 'import json, sys; print(json.load(sys.stdin)["submission"])' <<<"$receipt")" = "$submission" ] \
    || fail_with "the receipt does not name submission $submission." "$receipt"
operator=(--center 127.0.0.1:8443 --center-name center.paysign.test --trust-anchors /etc/paysign-center/trust-anchors.pem
    --certificate /var/tmp/paysign-test/operator.pem --key /var/tmp/paysign-test/operator.key)
out=$(cexec timeout 60 paysign center pay "$submission" "${operator[@]}" 2>&1) || fail_with "the operator's 'paysign center pay $submission' failed." "$out"
printf '%s\n' "$out" | sed 's/^/   /'
for ((i = 0; i < 120; i++)); do
    shown=$(as paysign-reviewer order show "$order" 2>&1 || true)
    grep -q 'paid by the center' <<<"$shown" && break
    sleep 0.5
done
grep -q 'paid by the center' <<<"$shown" || fail_with "the daemon did not learn within 60 s that the center paid order $order." "$shown"
ok "order $order, signed before the reboot, delivered by paysignd (its drop-in: IP to 127.0.0.1 only, submission-pin as a credential) and accepted: '$center_line';" \
    "the receipt verifies with 'openssl cms -verify'; the operator paid submission $submission; the daemon says: $(grep -m1 'paid by the center' <<<"$shown" | sed 's/^ *//')"

step "the center stops cleanly (SIGTERM drains), then apt-get purge paysign-center"
t0=$(date +%s%N)
out=$(cexec timeout 60 systemctl stop paysign-center.service 2>&1) || fail_with "systemctl stop paysign-center.service failed or took 60 s." "$out"
ms=$((($(date +%s%N) - t0) / 1000000))
[ "$(show paysign-center.service Result)" = success ] || fail "paysign-center.service stopped with Result=$(show paysign-center.service Result), not success."
[ "$(show paysign-center.service ExecMainStatus)" = 0 ] || fail "paysign-center exited with status $(show paysign-center.service ExecMainStatus) on SIGTERM, not 0."
# The administrator's own files (certificates, credentials, SoftHSM's configuration, the drop-in)
# are not the package's: they go first, as they would by hand; the folders the postinst made
# (/etc/paysign-center/credentials) are the postrm's to remove once empty.
cexec rm -rf /etc/paysign-center/trust-anchors.pem /etc/paysign-center/authority.crl /etc/paysign-center/tls-chain.pem \
    /etc/paysign-center/softhsm2.conf /etc/paysign-center/credentials/token-pin /etc/paysign-center/credentials/tls-key \
    /etc/systemd/system/paysign-center.service.d
out=$(cexec apt-get purge -y paysign-center 2>&1) || fail_with "apt-get purge paysign-center failed." "$(tail -n 15 <<<"$out")"
left=$(cexec sh -c 'for p in /usr/bin/paysign-center /lib/systemd/system/paysign-center.service /etc/paysign-center /etc/systemd/system/multi-user.target.wants/paysign-center.service; do [ -e "$p" ] && echo "$p"; done; true')
[ -z "$left" ] || fail_with "apt-get purge paysign-center left files behind." "$left"
ok "stopped in $ms ms (Result=success, exit status 0); purged: binary, unit, its enablement and /etc/paysign-center gone"
cexec rm -rf /etc/systemd/system/paysignd.service.d /etc/paysign/center-encryption.pem /etc/paysign/center-receipt.pem /etc/paysign/credentials

# --- Purge ---------------------------------------------------------------------------------------
step "apt-get purge paysign"
# The trust anchor this test put in /etc/paysign is the administrator's file, not the package's:
# dpkg leaves such files (and so the folder) behind, so the administrator removes it first.
cexec rm -f /etc/paysign/trust-anchors.pem
out=$(cexec apt-get purge -y paysign 2>&1) || fail_with "apt-get purge paysign failed." "$(tail -n 15 <<<"$out")"
left=$(cexec sh -c 'for p in /usr/bin/paysign /usr/bin/paysignd /lib/systemd/system/paysignd.service /lib/systemd/system/paysignd.socket /usr/lib/sysusers.d/paysign.conf /usr/lib/tmpfiles.d/paysign.conf /etc/paysign /run/paysign/paysign.sock /etc/systemd/system/sockets.target.wants/paysignd.socket; do [ -e "$p" ] && echo "$p"; done; true')
[ -z "$left" ] || fail_with "apt-get purge left files of the package behind." "$left"
units=$(cexec systemctl list-units --all --no-legend --plain 'paysignd*' 2>&1 | grep -v 'not-found' || true)
[ -z "$units" ] || fail_with "systemd still knows paysignd units after the purge." "$units"
cexec test -f /var/lib/paysign/paysign.sqlite || fail "the purge deleted /var/lib/paysign/paysign.sqlite; the README says it stays."
cexec getent passwd paysign >/dev/null || fail "the purge deleted the user paysign; Debian keeps system users."
ok "purged: binaries, units, their enablement, sysusers/tmpfiles files and /etc/paysign gone; /var/lib/paysign (the registry and journal) and the user paysign kept, as the README says"

# --- Power off -----------------------------------------------------------------------------------
step "power off"
t0=$(date +%s%N)
stop_container
ok "SIGTERM to systemd-nspawn: the container powered off in $((($(date +%s%N) - t0) / 1000000)) ms"

say ""
say "systemd.sh: boot to multi-user.target $first_boot_ms ms (after the reboot $boot_ms ms); exposure online $security_score_online;" \
    "whole run $(elapsed) s"
say "$passed passed, 0 failed"
