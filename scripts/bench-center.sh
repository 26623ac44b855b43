#!/usr/bin/env bash
# `make bench`, the payment center's part (issue 18): submissions accepted per second by one
# paysign-center node and by two, against what the center's token alone does per submission (one
# raw C_Decrypt plus one raw C_Sign on the same SoftHSM token); PostgreSQL's own rate (pgbench on
# the same throw-away cluster) and the database statements per submission,
# from which the README works out where adding nodes stops helping.
#
#   PAYSIGN_BIN_DIR=DIR scripts/bench-center.sh     (bench.sh calls it with its release build)
#
# Needs root (the throw-away PostgreSQL runs as the postgres user). QUICK=1 submits fewer orders.
set -euo pipefail
cd "$(dirname "$0")/.."
[ "$(id -u)" -eq 0 ] || { echo "bench-center: run as root (PostgreSQL's throw-away cluster); the center's figures are skipped" >&2; exit 0; }
bin=${PAYSIGN_BIN_DIR:?set PAYSIGN_BIN_DIR to the built binaries}
orders=2000
seconds=5
if [ "${QUICK:-0}" = 1 ]; then orders=300; seconds=2; fi
work=$(mktemp -d)
pg=
nodes=()
cleanup() {
  for node in "${nodes[@]}"; do kill -TERM "$node" 2>/dev/null || true; wait "$node" 2>/dev/null || true; done
  [ -n "$pg" ] && Tests/testbed/postgres.sh stop "$pg" >/dev/null 2>&1 || true
  rm -rf "$work"
}
trap cleanup EXIT
module=
for candidate in /usr/lib/softhsm/libsofthsm2.so /usr/lib/x86_64-linux-gnu/softhsm/libsofthsm2.so; do
  [ -f "$candidate" ] && { module=$candidate; break; }
done
PAYSIGN_BIN_DIR="$bin" Certs/make-test-pki.sh "$work/pki" >&2
pki=$work/pki
export SOFTHSM2_CONF=$pki/softhsm2.conf

# The reference: the center's token alone.
"$bin/paysign-bench" center-token "$pki" "$module" "$seconds" | tee "$work/token.txt"
reference=$(awk '$2 == "center_token_decrypt_plus_sign" { print $3 }' "$work/token.txt")

# Orders signed on the test PKI's tokens, for two runs (distinct payroll files).
"$bin/paysign-make-orders" batch --pki "$pki" --count "$orders" --out "$work/orders-1" --payroll --start-at 1 >&2
"$bin/paysign-make-orders" batch --pki "$pki" --count "$orders" --out "$work/orders-2" --payroll --start-at 100001 >&2

mkdir -p "$work/credentials"
awk -F'\t' '$1 == "center" { print $3 }' "$pki/tokens.tsv" > "$work/credentials/token-pin"
fresh_database() {
  [ -n "$pg" ] && Tests/testbed/postgres.sh stop "$pg" >/dev/null
  pg=$(mktemp -d /tmp/paysign-bench-pg.XXXXXX)
  rmdir "$pg"
  read -r pg_port _ < <(Tests/testbed/postgres.sh start "$pg")
}
start_node() { # PORT NAME
  CREDENTIALS_DIRECTORY=$work/credentials "$bin/paysign-center" --listen "127.0.0.1:$1" --node "$2" \
    --operations-listen 127.0.0.1:0 --tls-certificate "$pki/tls/center-server.pem" --tls-key-file "$pki/tls/center-server.key" \
    --trust-anchors "$pki/ca/ca.pem" --revocation-list "$pki/tls/crl.pem" \
    --database-host 127.0.0.1 --database-port "$pg_port" --module "$module" \
    --decryption-key 'pkcs11:token=center;id=%02' --receipt-key 'pkcs11:token=center;id=%01' \
    --log-level warning 2>"$work/$2.log" &
  nodes+=($!)
  for _ in $(seq 200); do
    curl -s -o /dev/null --cacert "$pki/ca/ca.pem" --cert "$pki/tls/submission-file.pem" --key "$pki/tls/submission-file.key" \
      --resolve "center.paysign.test:$1:127.0.0.1" "https://center.paysign.test:$1/health/ready" && return 0
    sleep 0.05
  done
  cat "$work/$2.log" >&2
  echo "bench-center: paysign-center did not start" >&2
  exit 1
}
stop_nodes() {
  for node in "${nodes[@]}"; do kill -TERM "$node" 2>/dev/null || true; wait "$node" 2>/dev/null || true; done
  nodes=()
}
psql_center() { psql -h 127.0.0.1 -p "$pg_port" -U paysign -d center -At -c "$1"; }
load() { # NODES ORDERS-DIR
  "$bin/paysign-center-load" spread --nodes "$1" --server-name center.paysign.test --trust-anchors "$pki/ca/ca.pem" \
    --certificate "$pki/tls/submission-file.pem" --key "$pki/tls/submission-file.key" \
    --encryption-certificate "$pki/certs/center-encryption.pem" --oaep sha1 --orders "$2" --count "$orders" --concurrency 16
}

# One node.
fresh_database
start_node 18443 bench-node-1
# PERF_DATA=FILE: the whole machine recorded by `perf record -a -g` while the one node is loaded
# (then `perf report -i FILE --sort comm,dso`: which process and library the two cores spent on).
perf_wrap=()
[ -n "${PERF_DATA:-}" ] && perf_wrap=(perf record -a -g -q -o "$PERF_DATA" --)
one=$("${perf_wrap[@]}" bash -c "$(declare -f load); bin=$bin pki=$pki orders=$orders; load 127.0.0.1:18443 $work/orders-1" | tee /dev/stderr | awk '/^summary/ { for (i = 1; i <= NF; i++) if ($i ~ /^rate=/) print substr($i, 6) }')
echo "bench center_submissions_1_node $one /s"
echo "ratio center_1_node_vs_token_decrypt_plus_sign $(awk -v a="$one" -v b="$reference" 'BEGIN { printf "%.3f", a / b }')"
stop_nodes

# Two nodes on the same database and token.
fresh_database
start_node 18443 bench-node-1
start_node 18444 bench-node-2
two=$(load 127.0.0.1:18443,127.0.0.1:18444 "$work/orders-2" | tee /dev/stderr | awk '/^summary/ { for (i = 1; i <= NF; i++) if ($i ~ /^rate=/) print substr($i, 6) }')
echo "bench center_submissions_2_nodes $two /s"
echo "ratio center_2_nodes_vs_token_decrypt_plus_sign $(awk -v a="$two" -v b="$reference" 'BEGIN { printf "%.3f", a / b }')"
stop_nodes

# Statements per submission: counted from the server's own log of one submission.
fresh_database
start_node 18443 bench-node-1
psql_center "ALTER SYSTEM SET log_statement = 'all'" >/dev/null
psql_center "SELECT pg_reload_conf()" >/dev/null
sleep 0.5
before=$(grep -cE "LOG:  (statement|execute)" "$pg/server.log" || true)
"$bin/paysign-center-load" spread --nodes 127.0.0.1:18443 --server-name center.paysign.test --trust-anchors "$pki/ca/ca.pem" \
  --certificate "$pki/tls/submission-file.pem" --key "$pki/tls/submission-file.key" \
  --encryption-certificate "$pki/certs/center-encryption.pem" --oaep sha1 --orders "$work/orders-1" --count 10 --concurrency 1 >/dev/null
after=$(grep -cE "LOG:  (statement|execute)" "$pg/server.log" || true)
echo "bench center_statements_per_submission $(awk -v a="$before" -v b="$after" 'BEGIN { printf "%.1f", (b - a) / 10 }') count"
stop_nodes

# PostgreSQL's own rate on this machine: pgbench's TPC-B-like transactions, 16 clients.
if command -v pgbench >/dev/null; then
  pgbench -h 127.0.0.1 -p "$pg_port" -U paysign -i -q center >/dev/null 2>&1
  tps=$(pgbench -h 127.0.0.1 -p "$pg_port" -U paysign -c 16 -j 2 -T "$seconds" center 2>/dev/null | awk '/^tps/ { print $3; exit }')
  echo "bench pgbench_tps ${tps:-0} tx/s"
else
  echo "bench-center: pgbench not found (postgresql-contrib); PostgreSQL's own rate is skipped" >&2
fi
