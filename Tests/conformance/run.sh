#!/usr/bin/env bash
# The conformance stage: the real paysignd, with a seeded registry, tested against its own OpenAPI
# document by schemathesis, once for each kind of caller the daemon tells apart by the socket's peer
# credentials: an administrator (root), a holder (paysign-officer1, first signer) and a Unix user
# with no operator entry (paysign-officer3, who is given none here).
#
#   Tests/conformance/run.sh              (as root; about 90 s on 2 idle cores, the first run also
#                                          installs schemathesis)
#
# Environment:
#   PAYSIGN_BIN_DIR              the built paysign and paysignd (default: swift build --show-bin-path,
#                                built there when missing). They are copied first, so a rebuild
#                                during the run does not change them.
#   CONFORMANCE_MAX_EXAMPLES     schemathesis --max-examples per operation (default 20)
#   CONFORMANCE_SEED             schemathesis --seed (default 20260101)
#   CONFORMANCE_WORKERS          schemathesis --workers per run (default 1: see below)
#   CONFORMANCE_CALLERS          a subset of "norole holder admin" (default: all)
#   CONFORMANCE_SCHEMA           test against this document instead of the daemon's GET /v1/openapi.json
#   CONFORMANCE_REPORT_DIR       keep the summary, schemathesis' reports and logs, the document, the
#                                schemathesis configuration and the daemon's log there
#   CONFORMANCE_STRICT_POSITIVE  1: positive_data_acceptance findings fail the stage too
#   PYTHON                       the interpreter the venv is made with (default python3)
#   XDG_CACHE_HOME               the venv is ${XDG_CACHE_HOME:-/var/cache}/paysign-testbed/schemathesis-venv
#
# Everything else (test PKI, SoftHSM tokens, daemon state and socket, reports) lives in one
# temporary folder under /tmp, removed on exit, also on failure or interrupt. Exit status: 0 all
# checks passed, 1 failures (the summary on stdout says which), 2 the stage could not run (missing
# tool, daemon did not start, seeding failed).
set -euo pipefail
cd "$(dirname "$0")/../.."
repo=$PWD
here=$repo/Tests/conformance

# No __pycache__ beside the helpers in the work tree.
export PYTHONDONTWRITEBYTECODE=1
die() { echo "conformance: $*" >&2; exit 2; }
step() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
started=$(date +%s)

[ "$(id -u)" -eq 0 ] || die "run as root: the callers are distinct Unix users (Tests/testbed/users.sh), started with runuser"

# --- Tools ---------------------------------------------------------------------------------------
missing=()
for tool in socat:socat softhsm2-util:softhsm2 pkcs11-tool:opensc openssl:openssl faketime:faketime runuser:util-linux; do
  command -v "${tool%%:*}" >/dev/null || missing+=("${tool#*:}")
done
python=${PYTHON:-python3}
"$python" -c 'import venv, ensurepip' 2>/dev/null || missing+=(python3-venv)
[ ${#missing[@]} -eq 0 ] || die "missing Debian packages; install them with:
  apt-get install -y --no-install-recommends ${missing[*]}"

# --- schemathesis, pinned, in a cached venv ------------------------------------------------------
# Tests/conformance/requirements.txt pins schemathesis, hypothesis and their whole closure; the venv
# is rebuilt only when that file changes (its SHA-256 is stamped in the venv).
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
bin_dir=${PAYSIGN_BIN_DIR:-}
if [ -z "$bin_dir" ]; then
  bin_dir=$(swift build --show-bin-path)
  if [ ! -x "$bin_dir/paysignd" ] || [ ! -x "$bin_dir/paysign" ]; then
    step "Building paysignd and paysign"
    swift build --product paysignd 2>&1 | tail -1
    swift build --product paysign 2>&1 | tail -1
  fi
fi
[ -x "$bin_dir/paysignd" ] && [ -x "$bin_dir/paysign" ] || die "no paysign/paysignd in $bin_dir"

# --- One temporary folder for everything ---------------------------------------------------------
tmp=$(mktemp -d /tmp/paysign-conformance.XXXXXX)
# The callers' socat processes (other Unix users) reach the socket in here.
chmod 755 "$tmp"
pids=()
declare -A st_pids=()
daemon=
cleanup() {
  local status=$?
  set +e
  for pid in "${st_pids[@]}"; do kill -TERM "$pid" 2>/dev/null; done
  for pid in "${pids[@]}"; do kill -TERM "$pid" 2>/dev/null; done
  if [ -n "$daemon" ]; then
    kill -TERM "$daemon" 2>/dev/null
    for _ in $(seq 100); do kill -0 "$daemon" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$daemon" 2>/dev/null
  fi
  wait 2>/dev/null
  if [ -n "${CONFORMANCE_REPORT_DIR:-}" ] && [ -d "$tmp/reports" ]; then
    mkdir -p "$CONFORMANCE_REPORT_DIR"
    cp -r "$tmp/reports/." "$CONFORMANCE_REPORT_DIR/"
    cp "$tmp/paysignd.log" "$tmp/openapi.json" "$tmp/schemathesis.toml" "$CONFORMANCE_REPORT_DIR/" 2>/dev/null
  fi
  rm -rf "$tmp"
  exit $status
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
mkdir -p "$tmp/bin" "$tmp/reports"
cp "$bin_dir/paysign" "$bin_dir/paysignd" "$tmp/bin/"
chmod 755 "$tmp/bin" "$tmp/bin/paysign" "$tmp/bin/paysignd"
paysign_bin=$tmp/bin/paysign

step "Test PKI, users, daemon ($tmp)"
PAYSIGN_BIN_DIR=$tmp/bin Certs/make-test-pki.sh "$tmp/pki" >/dev/null
export SOFTHSM2_CONF=$tmp/pki/softhsm2.conf
Tests/testbed/users.sh ensure
module=
for candidate in /usr/lib/softhsm/libsofthsm2.so /usr/lib/x86_64-linux-gnu/softhsm/libsofthsm2.so \
                 /usr/lib/aarch64-linux-gnu/softhsm/libsofthsm2.so; do
  [ -f "$candidate" ] && { module=$candidate; break; }
done
[ -n "$module" ] || die "libsofthsm2.so not found"

# The three callers: the name in the summary and the Unix user its socat runs as.
admin_user=root
holder_user=paysign-officer1      # holder add --first: first-signer of EG-0101, token officer1
norole_user=paysign-officer3      # a test user given no operator entry below: no role at all

socket=$tmp/paysign.sock
cat > "$tmp/paysignd.yaml" <<YAML
# paysignd for the conformance stage (Tests/conformance/run.sh)
socket: $socket
# The callers run with group nogroup (runuser -g nogroup), as in scripts/demo.sh.
socket-group: nogroup
socket-mode: "0660"
state-directory: $tmp/state
pkcs11-module: $module
administrators: [$admin_user]
authority-token: "pkcs11:token=authority"
trust-anchors: $tmp/pki/ca/ca.pem
# Head signing on, so that POST /v1/audit/head-signatures meets a token (the test PKI's clerk
# token: a key and a certificate nobody signs orders with) and not "no token is designated".
journal-signing-token: "pkcs11:token=clerk"
holidays: [2026-12-25]
log-level: info
YAML
"$tmp/bin/paysignd" --config "$tmp/paysignd.yaml" >"$tmp/paysignd.log" 2>&1 &
daemon=$!
for _ in $(seq 200); do [ -S "$socket" ] && break; kill -0 "$daemon" 2>/dev/null || break; sleep 0.05; done
[ -S "$socket" ] || { tail -20 "$tmp/paysignd.log" >&2; die "paysignd did not start"; }

# --- Seeding -------------------------------------------------------------------------------------
step "Seeding: entities, operators, holders, registered tokens, a CRL, a signed journal head, orders in three states"
export PAYSIGN_SOCKET=$socket
pin_of() { awk -F'\t' -v l="$1" '$1 == l {print $3}' "$tmp/pki/tokens.tsv"; }
quiet() { local out; out=$("$@" 2>&1) || { echo "$out" >&2; die "seeding failed: ${*#"$paysign_bin" }"; }; }
# as USER paysign …: the client as that Unix user, group nogroup (which owns the socket).
as() { local user=$1; shift; runuser -u "$user" -g nogroup -- "$paysign_bin" "$@"; }
quiet "$paysign_bin" entity add --code EG-0101 --name "Test Entity EG-0101"
quiet "$paysign_bin" entity add --code EG-0202 --name "Test Entity EG-0202"
quiet "$paysign_bin" operator add --user paysign-clerk --national-id 29505050100055 --name "Data Entry Clerk" --entity EG-0101 --role data-entry
quiet "$paysign_bin" operator add --user paysign-reviewer --national-id 29912120100066 --name "Accounts Reviewer" --entity EG-0101 --role reviewer
quiet "$paysign_bin" holder add "$holder_user" --entity EG-0101 --first --on-site --national-id 28001010100011 --name "Officer One"
quiet "$paysign_bin" holder add paysign-officer2 --entity EG-0101 --first --national-id 28502020100022 --name "Officer Two"
quiet "$paysign_bin" holder add paysign-ministry --entity EG-0101 --second --national-id 27503030100033 --name "MoF Representative"
quiet "$paysign_bin" operator add --user paysign-authority --national-id 28806060100066 --name "e-Certification Unit" --role certification-authority
for pair in officer1:paysign-officer1 officer2:paysign-officer2 ministry:paysign-ministry; do
  quiet as paysign-authority token register --token "pkcs11:token=${pair%%:*}" --holder "${pair#*:}"
done
quiet as paysign-authority crl issue --pin-fd 3 3<<<"$(pin_of authority)"
quiet "$paysign_bin" audit sign-head --token pkcs11:token=clerk --pin-fd 3 3<<<"$(pin_of clerk)"

"$vpython" scripts/make-payroll.py 20 > "$tmp/payroll.csv"
chmod 644 "$tmp/payroll.csv"
value_date=
for offset in 0 1 2; do
  for day in 24 25 26 27 28; do
    candidate=$(date -u -d "$(date -u +%Y-%m-01) +$offset month" +%Y-%m)-$day
    if "$paysign_bin" order validate "$tmp/payroll.csv" --entity EG-0101 --kind salary --value-date "$candidate" --holiday 2026-12-25 >/dev/null 2>&1; then
      value_date=$candidate; break 2
    fi
  done
done
[ -n "$value_date" ] || die "no valid salary date in the next three months"
create_order() { # KEY: prints "ID FILE-NUMBER"
  as paysign-clerk order create "$tmp/payroll.csv" --entity EG-0101 --kind salary --value-date "$value_date" \
    --idempotency-key "$1" --json | "$vpython" -c 'import json,sys; o=json.load(sys.stdin); print(o["id"], o["fileNumber"])'
}
read -r draft_order _ < <(create_order conformance-draft) || die "order create failed"
read -r reviewed_order file_number < <(create_order conformance-reviewed) || die "order create failed"
read -r payable_order _ < <(create_order conformance-payable) || die "order create failed"
quiet as paysign-reviewer order review "$reviewed_order" --file-number "$file_number"
quiet as paysign-reviewer order review "$payable_order" --file-number "$file_number"
quiet as "$holder_user" sign "$payable_order" --first --token pkcs11:token=officer1 --pin-fd 3 3<<<"$(pin_of officer1)"
quiet as paysign-ministry sign "$payable_order" --second --file-number "$file_number" --token pkcs11:token=ministry \
  --pin-fd 3 3<<<"$(pin_of ministry)"
echo "orders: $draft_order draft, $reviewed_order reviewed, $payable_order payable (value date $value_date)"

# The document under test: the daemon's own, as served.
if [ -n "${CONFORMANCE_SCHEMA:-}" ]; then
  cp "$CONFORMANCE_SCHEMA" "$tmp/openapi.json"
else
  helper get "$socket" /v1/openapi.json "$tmp/openapi.json" || die "GET /v1/openapi.json failed"
fi
helper config "$socket" "$tmp/schemathesis.toml" || die "could not read the seeded registry back"

# --- The callers, each a socat as its own Unix user on a loopback port ---------------------------
step "Loopback ports: socat as $admin_user, $holder_user and $norole_user"
read -r -d '' admin_port holder_port norole_port < <(helper free-ports 3 && printf '\0') || true
declare -A user_of=([admin]=$admin_user [holder]=$holder_user [norole]=$norole_user)
declare -A port_of=([admin]=$admin_port [holder]=$holder_port [norole]=$norole_port)
for caller in admin holder norole; do
  runuser -u "${user_of[$caller]}" -g nogroup -- \
    socat "TCP-LISTEN:${port_of[$caller]},bind=127.0.0.1,reuseaddr,fork" "UNIX-CONNECT:$socket" \
    2>>"$tmp/reports/socat-$caller.log" &
  pids+=($!)
done
# Each port must answer as its user: the administrator lists operators, the holder may list tokens
# (any role) but not operators, the caller with no role neither.
expect() { # CALLER PATH STATUS
  local code
  code=$(helper status "${port_of[$1]}" "$2") || code="no answer"
  [ "$code" = "$3" ] || die "$1 (${user_of[$1]}) GET $2 through socat: $code, expected $3"
}
expect admin /v1/operators 200
expect holder /v1/tokens 200
expect holder /v1/operators 403
expect norole /v1/tokens 403
for caller in admin holder norole; do echo "$caller: ${user_of[$caller]} on 127.0.0.1:${port_of[$caller]}"; done

# --- schemathesis ------------------------------------------------------------------------------
# Every operation of the document is tested; none is excluded: GET /v1/events (an endless stream)
# is read for 2 s per request and then cut (conformance.py config), POST /v1/crl/imports gets its
# DER and PEM bodies through conformance_hooks.py. The phases are examples (the document has none
# today), coverage (each parameter's boundaries, each missing or wrong-typed value, unexpected
# methods) and fuzzing (--max-examples per operation); the stateful phase is off: the document
# declares no links, and the seeding above (plus dictionaries of the seeded names) gives the
# operations real orders, holders, operators and tokens to act on instead. --continue-on-failure:
# every case of an operation is run after its first failure, so that every distinct failure is
# listed.
#
# One worker thread per run: with more, CPython 3.11's ast module (which hypothesis calls) now and
# then fails with "SystemError: AST constructor recursion depth mismatch" (cpython gh-106905), an
# error that is not the daemon's. The caller with no role and the holder run side by side instead
# (their writes cannot change each other's answers: the first is refused everything, the second
# can only reject orders); the administrator runs last, alone, since its accepted writes (removing
# holders and operators, changing roles) would take the others' roles away under them.
max_examples=${CONFORMANCE_MAX_EXAMPLES:-20}
seed=${CONFORMANCE_SEED:-20260101}
checks=not_a_server_error,status_code_conformance,content_type_conformance,response_schema_conformance,positive_data_acceptance
callers=${CONFORMANCE_CALLERS:-norole holder admin}
for caller in $callers; do [ -n "${user_of[$caller]:-}" ] || die "unknown caller '$caller' in CONFORMANCE_CALLERS (norole, holder, admin)"; done
declare -A t0_of=()
start_schemathesis() { # CALLER: in the background, its pid in st_pids
  local caller=$1
  step "schemathesis $schemathesis_version as $caller (${user_of[$caller]}), --max-examples $max_examples: started"
  t0_of[$caller]=$(date +%s)
  # From $tmp: schemathesis keeps a crash cache (.schemathesis/) in its working directory.
  (cd "$tmp" && exec env SCHEMATHESIS_HOOKS=conformance_hooks PYTHONPATH="$here" CONFORMANCE_RETRY_LOG="$tmp/reports/$caller.retries" \
  "$venv/bin/schemathesis" --config-file "$tmp/schemathesis.toml" --no-color run "$tmp/openapi.json" \
    --url "http://127.0.0.1:${port_of[$caller]}" --checks "$checks" --max-examples "$max_examples" --seed "$seed" \
    --phases examples,coverage,fuzzing --continue-on-failure --workers "${CONFORMANCE_WORKERS:-1}" --request-timeout 10 \
    --generation-database none --output-sanitize false \
    --report json,ndjson --report-json-path "$tmp/reports/$caller.json" --report-ndjson-path "$tmp/reports/$caller.ndjson" \
    > "$tmp/reports/$caller.log" 2>&1) &
  st_pids[$caller]=$!
}
crashed=0
finish_schemathesis() { # CALLER: waits for it and shows the end of its output
  local caller=$1 status
  set +e
  wait "${st_pids[$caller]}"
  status=$?
  set -e
  unset "st_pids[$caller]"
  step "schemathesis as $caller (${user_of[$caller]}): exit $status, $(( $(date +%s) - t0_of[$caller] )) s"
  tail -n 12 "$tmp/reports/$caller.log" | sed 's/^/  /'
  # 0: passed, 1: failures (the summary lists them); anything else: schemathesis itself failed.
  [ "$status" -le 1 ] || { echo "  schemathesis exited $status: see its output above"; crashed=1; }
  kill -0 "$daemon" 2>/dev/null || { tail -20 "$tmp/paysignd.log" >&2; die "paysignd died during the $caller run"; }
}
side_by_side=()
for caller in $callers; do [ "$caller" = admin ] || side_by_side+=("$caller"); done
for caller in "${side_by_side[@]}"; do start_schemathesis "$caller"; done
for caller in "${side_by_side[@]}"; do finish_schemathesis "$caller"; done
if [[ " $callers " == *" admin "* ]]; then
  start_schemathesis admin
  finish_schemathesis admin
fi

step "Summary"
set +e
helper summary "$tmp/reports/summary.txt" $(for c in $callers; do printf '%s:%s=%s ' "$c" "${user_of[$c]}" "$tmp/reports/$c.ndjson"; done)
summary_status=$?
set -e
# The summary decides: 1 for a failure of the four conformance checks or an untestable operation;
# positive_data_acceptance findings (a schema-valid request refused with 4xx) are listed apart and
# only fail the stage with CONFORMANCE_STRICT_POSITIVE=1, since some refusals are rules no schema
# can state (the D10 pay calendar, a file's contents, a PIN that is wrong but well-formed).
case $summary_status in
  0) overall=0 ;;
  3) [ "${CONFORMANCE_STRICT_POSITIVE:-0}" = 1 ] && overall=1 || overall=0 ;;
  *) overall=1 ;;
esac
[ $crashed -eq 0 ] || overall=1
echo "conformance: schemathesis $schemathesis_version, $(( $(date +%s) - started )) s in all, $( [ $overall -eq 0 ] && echo passed || echo FAILED )"
exit $overall
