#!/usr/bin/env bash
# The real PC/SC stack for the tests: pcscd with the vsmartcard virtual reader (vpcd gives it
# "Virtual PCD 00 00" on port 35963 and "Virtual PCD 00 01" on port 35964) and the vicc card
# emulator (both from the vsmartcard project; scripts/deps.sh installs them).
#
#   pcsc.sh start          start `pcscd -f` unless it runs; wait (at most 5 s) until it answers
#   pcsc.sh stop           stop pcscd (by the PID in its pid file) and wait until it is gone
#   pcsc.sh insert [PORT]  insert a card: start vicc against PORT (default 35963), print its PID
#                          once it is connected to vpcd
#   pcsc.sh remove PID     remove that card: kill the vicc started by `insert`, wait until gone
#
# Exit status: 0 done, 1 failed (one sentence on stderr), 2 not root or bad usage.
set -euo pipefail

readonly SOCKET=/run/pcscd/pcscd.comm
readonly PIDFILE=/run/pcscd/pcscd.pid
readonly STATE_DIR=${TMPDIR:-/tmp}
readonly PCSCD_LOG=$STATE_DIR/paysign-pcscd.log

fail() { echo "pcsc.sh: $*" >&2; exit 1; }

usage() {
    echo "usage: pcsc.sh start | stop | insert [PORT] | remove PID" >&2
    exit 2
}

if [ "$(id -u)" -ne 0 ]; then
    echo "pcsc.sh must run as root because it starts and stops pcscd; run the tests as root (e.g. with sudo)." >&2
    exit 2
fi

# The PID of the running pcscd, or nothing. A pcscd that has exited but is not yet reaped (PID 1
# reaps orphans lazily here) is a zombie that pgrep still lists: it does not count.
pcscd_pid() {
    local pid
    if [ -r "$PIDFILE" ]; then
        pid=$(tr -dc '0-9' <"$PIDFILE")
        if [ -n "$pid" ] && [ "$(cat "/proc/$pid/comm" 2>/dev/null || true)" = pcscd ] && alive "$pid"; then
            echo "$pid"
            return
        fi
    fi
    # No (or a stale) pid file: look for the process by its exact name.
    for pid in $(pgrep -x pcscd || true); do
        if alive "$pid"; then
            echo "$pid"
            return
        fi
    done
}

# True while process $1 exists and is not a zombie.
alive() {
    local state
    state=$(sed -n 's/^[0-9]* (.*) \([A-Z]\).*/\1/p' "/proc/$1/stat" 2>/dev/null || true)
    [ -n "$state" ] && [ "$state" != Z ] && [ "$state" != X ]
}

# Runs "$@" in the background as a clean daemon. Whatever calls this script may leave it
# descriptors and a signal mask that must not reach pcscd or vicc:
#  - Foundation's Process (Linux) learns that its child exited when a socket it passed down is
#    closed, so a daemon that inherits it makes the caller wait until the daemon dies;
#  - a Swift test process blocks most signals in its threads, and children inherit the mask: a
#    pcscd or vicc with SIGTERM blocked ignores `kill`. Bash cannot unblock signals, Python can.
spawn() {
    /usr/bin/python3 -c '
import os, signal, sys
for number in range(1, signal.NSIG):
    if number in (signal.SIGKILL, signal.SIGSTOP):
        continue
    try:
        signal.signal(number, signal.SIG_DFL)
    except (OSError, ValueError, RuntimeError):
        pass
signal.pthread_sigmask(signal.SIG_SETMASK, [])
os.closerange(3, os.sysconf("SC_OPEN_MAX"))
os.execvp(sys.argv[1], sys.argv[1:])
' "$@" &
}

# Waits up to $2 tenths of a second for the shell condition $1.
wait_for() {
    local condition=$1 tenths=$2 i
    for ((i = 0; i < tenths * 5; i++)); do
        if eval "$condition"; then return 0; fi
        sleep 0.02
    done
    eval "$condition"
}

answers() {
    [ -S "$SOCKET" ] || return 1
    # Readers come from reader.conf at start-up; one listed means pcscd serves clients.
    if command -v pcsc_scan >/dev/null 2>&1; then
        timeout 2 pcsc_scan -r 2>/dev/null | grep -q '^[0-9]*: ' || return 1
    fi
}

cmd_start() {
    if [ -z "$(pcscd_pid)" ]; then
        rm -f "$SOCKET" "$PIDFILE"  # left behind by a pcscd that was killed hard
        spawn pcscd -f </dev/null >>"$PCSCD_LOG" 2>&1
    fi
    wait_for answers 50 && return
    if [ -S "$SOCKET" ]; then
        fail "pcscd runs but lists no reader after 5 s: is vsmartcard-vpcd installed (/etc/reader.conf.d/vpcd)?"
    fi
    fail "pcscd did not start within 5 s (log: $PCSCD_LOG)"
}

cmd_stop() {
    local pid
    pid=$(pcscd_pid)
    [ -n "$pid" ] || return 0
    kill -TERM "$pid" 2>/dev/null || true
    if ! wait_for "! alive $pid" 30; then
        kill -KILL "$pid" 2>/dev/null || true
        wait_for "! alive $pid" 10 || fail "pcscd (PID $pid) does not stop"
        rm -f "$SOCKET" "$PIDFILE"
    fi
}

# The PIDs connected to vpcd's port $1 (established TCP connections to it).
connected_pids() {
    ss -Htnp state established "( dport = :$1 )" 2>/dev/null | grep -o 'pid=[0-9]*' | cut -d= -f2 || true
}

cmd_insert() {
    local port=${1:-35963} dir pid others
    case $port in '' | *[!0-9]*) usage ;; esac
    [ -S "$SOCKET" ] || fail "pcscd is not running; start it with 'pcsc.sh start' first"
    others=$(connected_pids "$port" | tr '\n' ' ')
    [ -z "$others" ] || fail "a card emulator (PID ${others% }) already sits in the reader on port $port"
    # Debian's vicc needs the long-gone `sha` module: a shim that maps it to hashlib.
    dir=$(mktemp -d "$STATE_DIR/paysign-vicc.XXXXXX")
    printf 'import hashlib\ndef new(data=b""):\n    return hashlib.sha1(data)\ndigest_size=20\n' >"$dir/sha.py"
    spawn env PYTHONPATH="$dir:/usr/lib/python3/site-packages/virtualsmartcard" /usr/bin/python3 /usr/bin/vicc -t iso7816 -P "$port" </dev/null >"$dir/vicc.log" 2>&1
    pid=$!
    echo "$pid" >"$dir/pid"
    if ! wait_for "connected_pids $port | grep -qx $pid" 50; then
        kill "$pid" 2>/dev/null || true
        tail -n 3 "$dir/vicc.log" >&2 || true
        rm -rf "$dir"
        fail "vicc did not connect to vpcd on port $port within 5 s (its last words are above)"
    fi
    echo "$pid"
}

cmd_remove() {
    local pid=${1:-} dir
    case $pid in '' | *[!0-9]*) usage ;; esac
    for dir in "$STATE_DIR"/paysign-vicc.*; do
        [ -f "$dir/pid" ] && [ "$(cat "$dir/pid")" = "$pid" ] || continue
        kill -TERM "$pid" 2>/dev/null || true
        wait_for "! alive $pid" 30 || kill -KILL "$pid" 2>/dev/null || true
        rm -rf "$dir"
        return 0
    done
    fail "PID $pid is not a card emulator started by 'pcsc.sh insert'"
}

case ${1:-} in
    start) cmd_start ;;
    stop) cmd_stop ;;
    insert) shift; cmd_insert "$@" ;;
    remove) shift; cmd_remove "$@" ;;
    *) usage ;;
esac
