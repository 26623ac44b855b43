#!/usr/bin/env bash
# The payment center's conformance stage: the real paysign-center (a throw-away PostgreSQL, the
# test PKI's SoftHSM "center" token, mutual TLS 1.3), with recorded submissions in every state,
# tested against its own OpenAPI document by schemathesis, once for each kind of caller the
# handshake tells apart: an entity's submission certificate (EG-0101), another entity's (EG-0202:
# what it must not see has to be answered as documented too) and a center operator's staff
# certificate. The daemon's stage is Tests/conformance/run.sh; this one keeps its conventions.
#
#   Tests/conformance/center.sh           (as root; about 25 s on 2 cores while a build runs, and
#                                          about 2 s more for each crash of the center, 6 s for the
#                                          first five, which print a backtrace; the first run of
#                                          either stage installs schemathesis)
#
# Environment:
#   PAYSIGN_BIN_DIR                     the built paysign, paysignd (the test PKI issues with them),
#                                       paysign-center and paysign-make-orders (default: swift build
#                                       --show-bin-path, built there when missing). They are copied
#                                       first, so a rebuild during the run does not change them.
#   CENTER_CONFORMANCE_MAX_EXAMPLES     schemathesis --max-examples per operation (default 20)
#   CENTER_CONFORMANCE_SEED             schemathesis --seed (default 20260101)
#   CENTER_CONFORMANCE_CALLERS          a subset of "entity other operator" (default: all)
#   CENTER_CONFORMANCE_SCHEMA           test against this document instead of the center's GET
#                                       /v1/openapi.json (the server serves the copy built into its
#                                       binary: this tests a corrected document without a rebuild)
#   CENTER_CONFORMANCE_REPORT_DIR       keep the summary, schemathesis' reports and logs, the
#                                       document, the schemathesis configurations, the center's
#                                       configuration and log there
#   CENTER_CONFORMANCE_STRICT_POSITIVE  1: positive_data_acceptance findings fail the stage too
#   PYTHON                              the interpreter the venv is made with (default python3)
#   XDG_CACHE_HOME                      the venv is ${XDG_CACHE_HOME:-/var/cache}/paysign-testbed/
#                                       schemathesis-venv, shared with run.sh
#
# Everything else (test PKI, SoftHSM tokens, PostgreSQL's cluster, the center's configuration,
# credentials and log, orders, envelopes, reports) lives in one temporary folder under /tmp, removed
# on exit, also on failure or interrupt; PostgreSQL and the center are stopped. The whole stage runs
# at nice 10. Exit status: 0 all checks passed, 1 failures (the summary on stdout says which: a
# conformance failure, a crash of the center, an operation no caller reached, a probe answered
# otherwise), 2 the stage could not run (missing tool, the center did not start, seeding
# failed).
set -euo pipefail
cd "$(dirname "$0")/../.."
repo=$PWD
here=$repo/Tests/conformance

# No __pycache__ beside the helpers in the work tree.
export PYTHONDONTWRITEBYTECODE=1
die() { echo "center conformance: $*" >&2; exit 2; }
step() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
started=$(date +%s)

[ "$(id -u)" -eq 0 ] || die "run as root: PostgreSQL's throw-away cluster runs as the postgres user (Tests/testbed/postgres.sh)"
# Everything below (the PKI, PostgreSQL, the center, schemathesis) at a lower priority: the stage
# shares its cores with builds.
renice -n 10 -p $$ >/dev/null

# --- Tools ---------------------------------------------------------------------------------------
missing=()
for tool in softhsm2-util:softhsm2 pkcs11-tool:opensc openssl:openssl faketime:faketime runuser:util-linux; do
  command -v "${tool%%:*}" >/dev/null || missing+=("${tool#*:}")
done
ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || missing+=(postgresql)
python=${PYTHON:-python3}
"$python" -c 'import venv, ensurepip' 2>/dev/null || missing+=(python3-venv)
[ ${#missing[@]} -eq 0 ] || die "missing Debian packages; install them with:
  apt-get install -y --no-install-recommends ${missing[*]}"
module=
for candidate in /usr/lib/softhsm/libsofthsm2.so /usr/lib/x86_64-linux-gnu/softhsm/libsofthsm2.so \
                 /usr/lib/aarch64-linux-gnu/softhsm/libsofthsm2.so; do
  [ -f "$candidate" ] && { module=$candidate; break; }
done
[ -n "$module" ] || die "libsofthsm2.so not found"

# --- schemathesis, pinned, in a cached venv (the same as run.sh's) -------------------------------
cache=${XDG_CACHE_HOME:-/var/cache}/paysign-testbed
venv=$cache/schemathesis-venv
stamp=$(sha256sum "$here/requirements.txt" | cut -d' ' -f1)
if [ "$(cat "$venv/.paysign-requirements" 2>/dev/null)" != "$stamp" ] || ! "$venv/bin/python" -c 'import schemathesis' 2>/dev/null; then
  step "Installing schemathesis into $venv"
  rm -rf "$venv"
  mkdir -p "$cache"
  "$python" -m venv "$venv"
  "$venv/bin/pip" install --quiet --disable-pip-version-check --no-input -r "$here/requirements.txt" \
    || die "pip install -r Tests/conformance/requirements.txt failed"
  echo "$stamp" > "$venv/.paysign-requirements"
fi
vpython=$venv/bin/python
schemathesis_version=$("$venv/bin/schemathesis" --version | awk '{print $NF}')
helper() { "$vpython" "$here/conformance.py" "$@"; }

# --- The binaries --------------------------------------------------------------------------------
products=(paysign paysignd paysign-center paysign-make-orders)
bin_dir=${PAYSIGN_BIN_DIR:-}
if [ -z "$bin_dir" ]; then
  bin_dir=$(swift build --show-bin-path)
  for product in "${products[@]}"; do
    if [ ! -x "$bin_dir/$product" ]; then
      step "Building $product"
      swift build --product "$product" 2>&1 | tail -1
    fi
  done
fi
for product in "${products[@]}"; do
  [ -x "$bin_dir/$product" ] || die "no $product in $bin_dir"
done

# --- One temporary folder for everything ---------------------------------------------------------
tmp=$(mktemp -d /tmp/paysign-center-conformance.XXXXXX)
# PostgreSQL (the postgres user) reaches its cluster in here; nothing else is listed.
chmod 711 "$tmp"
supervisor=
pg_started=
cleanup() {
  local status=$?
  set +e
  # The center: no restart from here on, SIGTERM (it drains in at most drain-seconds), then KILL.
  touch "$tmp/center.stop"
  if [ -n "$supervisor" ]; then
    for _ in $(seq 100); do
      kill -0 "$supervisor" 2>/dev/null || break
      [ -s "$tmp/center.pid" ] && kill -TERM "$(cat "$tmp/center.pid")" 2>/dev/null
      sleep 0.1
    done
    if kill -0 "$supervisor" 2>/dev/null; then
      [ -s "$tmp/center.pid" ] && kill -KILL "$(cat "$tmp/center.pid")" 2>/dev/null
      kill -KILL "$supervisor" 2>/dev/null
    fi
  fi
  wait 2>/dev/null
  [ -z "$pg_started" ] || Tests/testbed/postgres.sh stop "$tmp/pg"
  if [ -n "${CENTER_CONFORMANCE_REPORT_DIR:-}" ] && [ -d "$tmp/reports" ]; then
    mkdir -p "$CENTER_CONFORMANCE_REPORT_DIR"
    cp -r "$tmp/reports/." "$CENTER_CONFORMANCE_REPORT_DIR/"
    cp "$tmp/center.log" "$tmp/center.yaml" "$tmp/openapi.json" "$tmp"/schemathesis-*.toml "$CENTER_CONFORMANCE_REPORT_DIR/" 2>/dev/null
  fi
  rm -rf "$tmp"
  exit $status
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
mkdir -p "$tmp/bin" "$tmp/reports" "$tmp/orders" "$tmp/envelopes"
for product in "${products[@]}"; do cp "$bin_dir/$product" "$tmp/bin/"; done
pki=$tmp/pki
anchors=$pki/ca/ca.pem

step "Test PKI, PostgreSQL, paysign-center ($tmp)"
PAYSIGN_BIN_DIR=$tmp/bin Certs/make-test-pki.sh "$pki" >/dev/null
export SOFTHSM2_CONF=$pki/softhsm2.conf
pg_started=1
read -r pg_port _ < <(Tests/testbed/postgres.sh start "$tmp/pg") || die "PostgreSQL did not start"
[ -n "${pg_port:-}" ] || die "PostgreSQL did not start"
read -r -d '' port operations_port < <(helper free-ports 2 && printf '\0') || true

# The token's PIN is a systemd credential, as the packaged unit gives it (LoadCredential=).
mkdir -m 700 "$tmp/credentials"
(umask 077; awk -F'\t' '$1 == "center" {print $3}' "$pki/tokens.tsv" > "$tmp/credentials/token-pin")
cat > "$tmp/center.yaml" <<YAML
# paysign-center for the conformance stage (Tests/conformance/center.sh)
listen: 127.0.0.1:$port
operations-listen: 127.0.0.1:$operations_port
tls-certificate: $pki/tls/center-server.pem
tls-key-file: $pki/tls/center-server.key
trust-anchors: $anchors
revocation-lists: [$pki/tls/crl.pem]
database-host: $tmp/pg/socket
database-port: $pg_port
module: $module
decryption-key: "pkcs11:token=center;id=%02"
receipt-key: "pkcs11:token=center;id=%01"
node: conformance-1
drain-seconds: 2
log-level: info
YAML

# The center runs under a supervisor that starts it again whenever it ends unasked, as systemd's
# Restart= would: a crash is a finding (listed with its backtrace by conformance.py crashes), and
# the callers' runs go on against the restarted center. Each start and each unasked exit is marked
# in center.log. The crashed thread's backtrace, symbolicated, takes the center about 5 s to print:
# the first five starts print it, later ones only the fatal error's line (the same crash, most
# likely, met again), so that a crash met on every request cannot hold the stage for minutes.
(
  starts=0
  while [ ! -e "$tmp/center.stop" ]; do
    starts=$((starts + 1))
    backtrace=enable=yes,interactive=no,color=no,threads=crashed,registers=none,images=none
    [ "$starts" -le 5 ] || backtrace=enable=no
    echo "=== start $starts $(date -u +%FT%TZ)" >> "$tmp/center.log"
    CREDENTIALS_DIRECTORY=$tmp/credentials SWIFT_BACKTRACE=$backtrace \
      "$tmp/bin/paysign-center" serve --config "$tmp/center.yaml" >> "$tmp/center.log" 2>&1 < /dev/null &
    echo $! > "$tmp/center.pid"
    wait $! && status=0 || status=$?
    [ ! -e "$tmp/center.stop" ] || break
    echo "=== exit $starts $status" >> "$tmp/center.log"
    if [ "$starts" -ge 60 ]; then echo "=== not started again: $starts starts" >> "$tmp/center.log"; break; fi
    sleep 0.2
  done
) 2>> "$tmp/reports/supervisor.log" &
supervisor=$!
center_exits() { local n; n=$(grep -c '^=== exit ' "$tmp/center.log" 2>/dev/null) || true; echo "${n:-0}"; }
for _ in $(seq 300); do grep -q " ready on " "$tmp/center.log" 2>/dev/null && break; [ "$(center_exits)" -eq 0 ] || break; sleep 0.1; done
grep -q " ready on " "$tmp/center.log" 2>/dev/null || { tail -20 "$tmp/center.log" >&2; die "paysign-center did not start"; }
echo "paysign-center on https://127.0.0.1:$port (operations port $operations_port), PostgreSQL on port $pg_port"

# --- Seeding -------------------------------------------------------------------------------------
step "Seeding: the operator, signed orders of two entities, submissions accepted, paid, returned and invalid"
quiet() { local out; out=$("$@" 2>&1) || { echo "$out" >&2; die "seeding failed: ${*#"$tmp/bin/"}"; }; }
quiet "$tmp/bin/paysign-center" staff add --config "$tmp/center.yaml" --certificate "$pki/tls/operator.pem" \
  --name "Center Operator (conformance)" --role operator

# Orders signed on the test PKI's tokens (paysign-make-orders: first and second signature, with the
# payroll file): EG-0101's by officer1 and the ministry, EG-0202's by its own two signers.
quiet "$tmp/bin/paysign-make-orders" batch --pki "$pki" --count 6 --out "$tmp/orders/a" --payroll --entity EG-0101
quiet "$tmp/bin/paysign-make-orders" batch --pki "$pki" --count 3 --out "$tmp/orders/b" --payroll --entity EG-0202 \
  --first officer-b --second ministry-b --start-at 101
# seal OUT ORDER-PREFIX [SIGNATURE-OF]: the order's package sealed to the center, as an entity's
# daemon seals it (the signature of another order instead: a forgery the center records invalid).
seal() { quiet helper center-seal "$pki/certs/center-encryption.pem" "$1" "$2.txt" "${3:-$2}.p7s" "$2.csv"; }
mkdir -p "$tmp/envelopes/seed" "$tmp/envelopes/entity" "$tmp/envelopes/other" "$tmp/envelopes/operator"
seal "$tmp/envelopes/seed/a1.cms" "$tmp/orders/a/order-1"
seal "$tmp/envelopes/seed/a2.cms" "$tmp/orders/a/order-2"
seal "$tmp/envelopes/seed/a3.cms" "$tmp/orders/a/order-3"
seal "$tmp/envelopes/seed/a4-forged.cms" "$tmp/orders/a/order-4" "$tmp/orders/a/order-1"
seal "$tmp/envelopes/seed/b1.cms" "$tmp/orders/b/order-1"
# What each entity's fuzzing draws POST /v1/submissions bodies from (conformance_hooks.py): an
# envelope recorded before (200, the first receipt), one never sent (201 once, then 200), the
# resealed envelope of an accepted order (409) and another entity's order (403).
cp "$tmp/envelopes/seed/a1.cms" "$tmp/envelopes/entity/recorded.cms"
seal "$tmp/envelopes/entity/new.cms" "$tmp/orders/a/order-5"
seal "$tmp/envelopes/entity/resealed.cms" "$tmp/orders/a/order-3"
seal "$tmp/envelopes/entity/foreign.cms" "$tmp/orders/b/order-3"
cp "$tmp/envelopes/seed/b1.cms" "$tmp/envelopes/other/recorded.cms"
seal "$tmp/envelopes/other/new.cms" "$tmp/orders/b/order-2"
seal "$tmp/envelopes/other/resealed.cms" "$tmp/orders/b/order-1"
seal "$tmp/envelopes/other/foreign.cms" "$tmp/orders/a/order-6"

declare -A cert_of=([entity]=submission-file [other]=submission2-file [operator]=operator)
declare -A entity_of=([entity]=EG-0101 [other]=EG-0202 [operator]=)
send() { # CALLER [--out FILE] METHOD PATH [BODY-FILE CONTENT-TYPE]: prints the status
  local caller=$1 out=(); shift
  if [ "$1" = --out ]; then out=(--out "$2"); shift 2; fi
  helper center-send "${out[@]}" "$anchors" "$pki/tls/${cert_of[$caller]}" "$port" "$@"
}
submit() { # CALLER ENVELOPE
  local code
  code=$(send "$1" POST /v1/submissions "$2" application/cms) || code="no answer"
  [ "$code" = 201 ] || die "seeding: POST /v1/submissions of $(basename "$2") as $1 answered $code, expected 201"
}
submit entity "$tmp/envelopes/seed/a1.cms"
submit entity "$tmp/envelopes/seed/a2.cms"
submit entity "$tmp/envelopes/seed/a3.cms"
submit entity "$tmp/envelopes/seed/a4-forged.cms"
submit other "$tmp/envelopes/seed/b1.cms"
# submission_of ENTITY ORDER: its number, from the operator's list.
code=$(send operator --out "$tmp/submissions.json" GET '/v1/submissions?limit=1000') || code="no answer"
[ "$code" = 200 ] || die "seeding: GET /v1/submissions as the operator answered $code"
submission_of() {
  "$vpython" -c 'import json, sys; print(next(s["submission"] for s in json.load(open(sys.argv[1])) if s["entity"] == sys.argv[2] and s["order"] == int(sys.argv[3])))' \
    "$tmp/submissions.json" "$1" "$2" || die "seeding: no submission of $1's order $2"
}
a1=$(submission_of EG-0101 1); a2=$(submission_of EG-0101 2); a3=$(submission_of EG-0101 3)
a4=$(submission_of EG-0101 4); b1=$(submission_of EG-0202 101)
month=$("$vpython" -c 'import json, sys; print(json.load(open(sys.argv[1]))[0]["valueDate"][:7])' "$tmp/submissions.json")
# The operator's own client (paysign center) marks one order paid and one returned.
center_link=(--center "127.0.0.1:$port" --center-name center.paysign.test --trust-anchors "$anchors"
  --certificate "$pki/tls/operator.pem" --key "$pki/tls/operator.key")
quiet "$tmp/bin/paysign" center pay "$a1" "${center_link[@]}"
quiet "$tmp/bin/paysign" center return "$a2" --reason "the beneficiary's account is closed" "${center_link[@]}"
"$tmp/bin/paysign" center submissions "${center_link[@]}" > "$tmp/reports/seeded.txt" 2>&1 \
  || { cat "$tmp/reports/seeded.txt" >&2; die "seeding: paysign center submissions failed"; }
cat "$tmp/reports/seeded.txt"
for state in "paid" "returned" "accepted" "not accepted (invalid)"; do
  grep -q " $state\$" "$tmp/reports/seeded.txt" || die "seeding: no submission is $state"
done

# The document under test: the center's own, as served (or CENTER_CONFORMANCE_SCHEMA).
if [ -n "${CENTER_CONFORMANCE_SCHEMA:-}" ]; then
  cp "$CENTER_CONFORMANCE_SCHEMA" "$tmp/openapi.json"
else
  code=$(send operator --out "$tmp/openapi.json" GET /v1/openapi.json) || code="no answer"
  [ "$code" = 200 ] || die "GET /v1/openapi.json answered $code"
fi
"$vpython" -c 'import json, sys; json.load(open(sys.argv[1]))' "$tmp/openapi.json" || die "the document is not JSON"

# --- The callers ---------------------------------------------------------------------------------
step "Callers: each certificate is who it is meant to be; probes"
callers=${CENTER_CONFORMANCE_CALLERS:-entity other operator}
for caller in $callers; do [ -n "${cert_of[$caller]:-}" ] || die "unknown caller '$caller' in CENTER_CONFORMANCE_CALLERS (entity, other, operator)"; done
# Set-up checks (exit 2 when one fails): each caller lists submissions, only the operator the totals.
expect() { # CALLER STATUS METHOD PATH
  local code
  code=$(send "$1" "$3" "$4") || code="no answer"
  [ "$code" = "$2" ] || die "$1 (${cert_of[$1]}) $3 $4: $code, expected $2"
}
expect entity 200 GET /v1/submissions
expect other 200 GET /v1/submissions
expect operator 200 GET "/v1/totals?month=$month"
expect entity 403 GET "/v1/totals?month=$month"
# Probes (each a failure of the stage when answered otherwise), asked directly on the seeded
# submissions: what the handshake's verdict must not reach (schemathesis checks that such answers
# are documented, not that they are given), and two inputs PostgreSQL cannot store (a NUL in a text
# field: refused as the client's error, not answered 503 "ask again", which a client would repeat
# forever); schemathesis meets those only with some seeds.
printf '{"state": "paid"}' > "$tmp/paid.json"
printf '{"state": "returned", "reason": "account closed\\u0000"}' > "$tmp/nul-reason.json"
probes_failed=0
: > "$tmp/reports/probes.txt"
probe() { # CALLER EXPECTED RULE METHOD PATH [BODY-FILE CONTENT-TYPE]
  local caller=$1 expected=$2 rule=$3 code detail; shift 3
  code=$(send "$caller" --out "$tmp/probe.body" "$@" 2>/dev/null) || code="no answer"
  detail=$("$vpython" -c 'import json, sys; print(json.load(open(sys.argv[1])).get("detail", ""))' "$tmp/probe.body" 2>/dev/null || true)
  if [ "$code" = "$expected" ]; then
    printf '  ok      [%s] %s %s -> %s\n' "$caller" "$1" "$2" "$code" >> "$tmp/reports/probes.txt"
  else
    probes_failed=$((probes_failed + 1))
    printf '  FAILED  [%s] %s %s%s -> %s, expected %s (%s)\n' "$caller" "$1" "$2" "${3:+ (body $(basename "$3"))}" "$code" "$expected" "$rule" >> "$tmp/reports/probes.txt"
    [ -z "$detail" ] || printf '            detail: %s\n' "$detail" >> "$tmp/reports/probes.txt"
  fi
}
probe entity 404 "another entity's submission reads as none" GET "/v1/submissions/$b1"
probe entity 403 "an entity reads its own submissions only" GET '/v1/submissions?entity=EG-0202'
probe entity 403 "only operators mark payments" POST "/v1/submissions/$a3/payment" "$tmp/paid.json" application/json
probe other 404 "another entity's submission reads as none" GET "/v1/submissions/$a1"
probe other 404 "another entity's invalid submission reads as none" GET "/v1/submissions/$a4"
probe other 403 "another entity's envelope, recorded before, is not answered with its receipt (D8)" \
  POST /v1/submissions "$tmp/envelopes/seed/a1.cms" application/cms
probe other 403 "another entity's order is refused (D8)" POST /v1/submissions "$tmp/envelopes/other/foreign.cms" application/cms
probe operator 403 "center staff do not submit" POST /v1/submissions "$tmp/envelopes/entity/new.cms" application/cms
probe operator 409 "an order is paid once (D2)" POST "/v1/submissions/$a1/payment" "$tmp/paid.json" application/json
probe operator 422 "a NUL in a parameter is the client's error" GET '/v1/submissions?entity=EG-0101%00'
probe entity 422 "a query parameter with no name is refused, not the end of the node" GET '/v1/submissions?='
probe operator 422 "a NUL in the reason is the client's error" POST "/v1/submissions/$a3/payment" "$tmp/nul-reason.json" application/json
sed 's/^/ /' "$tmp/reports/probes.txt"

# --- schemathesis ------------------------------------------------------------------------------
# Every operation of the document is tested; none is excluded. POST /v1/submissions gets bytes for
# its application/cms body, and real envelopes, through conformance_hooks.py (CENTER_CONFORMANCE_
# ENVELOPES). Each caller has its own configuration: dictionaries of the submissions it may read
# (and two it may not), the entities and the months, bound to the parameters that name them. The
# phases are examples (the document has none today), coverage (each parameter's boundaries, each
# missing or wrong-typed value, unexpected methods) and fuzzing (--max-examples per operation); the
# stateful phase is off: the document declares no links, and the seeding gives the operations real
# submissions to act on instead. --continue-on-failure: every distinct failure is listed.
# --no-shrink: a request that crashes the center would crash it again at every step of shrinking
# (each a restart, and 5 s of backtrace): the failing examples are listed as generated. One worker
# thread (see run.sh: CPython 3.11's ast module and hypothesis). The callers run one after the
# other, the operator last: its payments change the states the entities read.
max_examples=${CENTER_CONFORMANCE_MAX_EXAMPLES:-20}
seed=${CENTER_CONFORMANCE_SEED:-20260101}
checks=not_a_server_error,status_code_conformance,content_type_conformance,response_schema_conformance,positive_data_acceptance
crashed=0
for caller in $callers; do
  helper center-config "$anchors" "$pki/tls/operator" "$port" "$tmp/schemathesis-$caller.toml" ${entity_of[$caller]} \
    > "$tmp/reports/$caller.config.txt" || die "could not read the recorded submissions back"
  step "schemathesis $schemathesis_version as $caller (${cert_of[$caller]}${entity_of[$caller]:+, ${entity_of[$caller]}}), --max-examples $max_examples: $(cat "$tmp/reports/$caller.config.txt")"
  t0=$(date +%s)
  exits_before=$(center_exits)
  set +e
  # From $tmp: schemathesis keeps a crash cache (.schemathesis/) in its working directory.
  (cd "$tmp" && exec env SCHEMATHESIS_HOOKS=conformance_hooks PYTHONPATH="$here" CENTER_CONFORMANCE_ENVELOPES="$tmp/envelopes/$caller" \
    "$venv/bin/schemathesis" --config-file "$tmp/schemathesis-$caller.toml" --no-color run "$tmp/openapi.json" \
      --url "https://127.0.0.1:$port" --tls-verify "$anchors" \
      --request-cert "$pki/tls/${cert_of[$caller]}.pem" --request-cert-key "$pki/tls/${cert_of[$caller]}.key" \
      --checks "$checks" --max-examples "$max_examples" --seed "$seed" \
      --phases examples,coverage,fuzzing --continue-on-failure --no-shrink --workers 1 --request-timeout 20 \
      --generation-database none --output-sanitize false \
      --report json,ndjson --report-json-path "$tmp/reports/$caller.json" --report-ndjson-path "$tmp/reports/$caller.ndjson" \
      > "$tmp/reports/$caller.log" 2>&1)
  status=$?
  set -e
  exits=$(( $(center_exits) - exits_before ))
  step "schemathesis as $caller: exit $status, $(( $(date +%s) - t0 )) s$( [ $exits -eq 0 ] || echo ", the center crashed $exits time(s) and was started again")"
  tail -n 12 "$tmp/reports/$caller.log" | sed 's/^/  /'
  # 0: passed, 1: failures (the summary lists them); anything else: schemathesis itself failed.
  [ "$status" -le 1 ] || { echo "  schemathesis exited $status: see its output above"; crashed=1; }
  # The center must be back (not when the supervisor gave up, or it does not start again).
  for _ in $(seq 30); do
    [ "$(send operator GET /health/live 2>/dev/null)" = 200 ] && break
    kill -0 "$supervisor" 2>/dev/null || break
    sleep 1
  done
  [ "$(send operator GET /health/live 2>/dev/null)" = 200 ] || { tail -30 "$tmp/center.log" >&2; die "the center is gone after the $caller run"; }
done

step "Summary"
set +e
helper summary --center "$tmp/reports/summary.txt" \
  $(for c in $callers; do printf '%s:%s=%s ' "$c" "${cert_of[$c]}${entity_of[$c]:+/${entity_of[$c]}}" "$tmp/reports/$c.ndjson"; done)
summary_status=$?
helper crashes "$tmp/center.log" "$tmp/reports/crashes.txt" $(for c in $callers; do printf '%s=%s ' "$c" "$tmp/reports/$c.log"; done)
crashes_status=$?
helper statuses "$tmp/reports/statuses.txt" "$tmp/openapi.json" $(for c in $callers; do printf '%s=%s ' "$c" "$tmp/reports/$c.ndjson"; done)
statuses_status=$?
set -e
{
  echo "== probes answered otherwise (scoping, inputs PostgreSQL cannot store): $( [ $probes_failed -eq 0 ] && echo none || echo $probes_failed)"
  grep -E '^  FAILED|^            detail:' "$tmp/reports/probes.txt" || true
  echo
} | tee "$tmp/reports/probes-failed.txt"
cat "$tmp/reports/crashes.txt" "$tmp/reports/statuses.txt" "$tmp/reports/probes-failed.txt" >> "$tmp/reports/summary.txt"
# The summary decides as run.sh's does: 1 for a failure of the four conformance checks or an
# untestable operation; positive_data_acceptance findings (a schema-valid request refused with 4xx)
# are listed apart and only fail the stage with CENTER_CONFORMANCE_STRICT_POSITIVE=1, since some
# refusals are rules no schema can state (an envelope that does not open). A crash of the center,
# an operation no caller was answered 2xx by, and a probe answered otherwise fail it too.
case $summary_status in
  0) overall=0 ;;
  3) [ "${CENTER_CONFORMANCE_STRICT_POSITIVE:-0}" = 1 ] && overall=1 || overall=0 ;;
  *) overall=1 ;;
esac
# An operation no caller reached is judged only when every caller ran (each reaches other ones).
[ "$(echo $callers | tr ' ' '\n' | sort | xargs)" = "entity operator other" ] || statuses_status=0
[ $crashed -eq 0 ] && [ $crashes_status -eq 0 ] && [ $statuses_status -eq 0 ] && [ $probes_failed -eq 0 ] || overall=1
echo "center conformance: schemathesis $schemathesis_version, $(( $(date +%s) - started )) s in all, $( [ $overall -eq 0 ] && echo passed || echo FAILED )"
exit $overall
