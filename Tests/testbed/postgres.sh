#!/usr/bin/env bash
# A throw-away PostgreSQL server for the payment center's tests and demo (issue 18): Debian's
# postgresql package, a cluster made with initdb in a folder of the caller's, listening on its own
# Unix socket in that folder and on a loopback port, stopped and removed by the same script.
#
#   postgres.sh start DIR    make the cluster in DIR (a new or empty folder), start it, print
#                            "PORT SOCKET_DIR" once it accepts connections (database "center",
#                            user "paysign", trust authentication on the socket and loopback only)
#   postgres.sh stop DIR     stop it (fast shutdown) and remove DIR
#   postgres.sh restart DIR  stop it and start it again on the same data and port
#
# The server runs as the postgres system user (initdb refuses root). Exit status: 0 done, 1 failed
# (one sentence on stderr), 2 bad usage or not root.
#
# PAYSIGN_PG_LISTEN=ADDR (at start): also listen on ADDR, and trust its /24 (the cluster test's
# network namespaces reach the server on a bridge address of the test's own).
set -euo pipefail
# The server outlives this script: it must not keep any descriptor of the caller's but 0-2 (a
# caller reading this script's output to its end would wait for the server to exit).
for fd in $(ls /proc/$$/fd); do
  [ "$fd" -gt 2 ] && eval "exec $fd>&-" 2>/dev/null || true
done

fail() { echo "postgres.sh: $*" >&2; exit 1; }
usage() { echo "usage: $0 start|stop|restart DIR" >&2; exit 2; }
[ $# -eq 2 ] || usage
[ "$(id -u)" -eq 0 ] || { echo "postgres.sh: run as root (the server runs as the postgres user)" >&2; exit 2; }
command=$1
dir=$2
bin=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1)
[ -n "$bin" ] && [ -x "$bin/initdb" ] || fail "PostgreSQL's server is not installed (apt-get install postgresql)"
as_postgres() { runuser -u postgres -- "$@"; }

start_server() {
  local port
  port=$(cat "$dir/port")
  as_postgres "$bin/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w -t 30 \
    -o "-p $port -k $dir/socket -c listen_addresses=$(cat "$dir/listen") -c fsync=off -c full_page_writes=off -c max_connections=200" \
    start >/dev/null || { tail -n 5 "$dir/server.log" >&2; fail "the server did not start (its last words are above)"; }
  echo "$port $dir/socket"
}

case $command in
  start)
    mkdir -p "$dir"
    [ -z "$(ls -A "$dir")" ] || fail "$dir is not empty"
    mkdir "$dir/socket"
    chown postgres:postgres "$dir" "$dir/socket"
    chmod 755 "$dir"
    as_postgres "$bin/initdb" -D "$dir/data" -U paysign -A trust --no-instructions -E UTF8 --locale C.UTF-8 >"$dir/initdb.log" 2>&1 \
      || { tail -n 5 "$dir/initdb.log" >&2; fail "initdb failed (its last words are above)"; }
    listen=127.0.0.1
    if [ -n "${PAYSIGN_PG_LISTEN:-}" ]; then
      listen="127.0.0.1,$PAYSIGN_PG_LISTEN"
      echo "host all all ${PAYSIGN_PG_LISTEN%.*}.0/24 trust" >> "$dir/data/pg_hba.conf"
    fi
    echo "$listen" > "$dir/listen"
    # A free loopback port, chosen by the kernel.
    python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])' > "$dir/port"
    start_server
    as_postgres "$bin/createdb" -h "$dir/socket" -p "$(cat "$dir/port")" -U paysign center
    ;;
  restart)
    [ -d "$dir/data" ] || fail "no cluster in $dir"
    as_postgres "$bin/pg_ctl" -D "$dir/data" -m fast -w stop >/dev/null || fail "the server did not stop"
    start_server
    ;;
  stop)
    if [ -d "$dir/data" ]; then
      as_postgres "$bin/pg_ctl" -D "$dir/data" -m fast -w stop >/dev/null 2>&1 || true
    fi
    rm -rf "$dir"
    ;;
  *) usage ;;
esac
