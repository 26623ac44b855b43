#!/usr/bin/env bash
# The whole suite behind `make test`, against real components: SoftHSM2 tokens made by the tests
# in temporary folders, pcscd with the virtual reader and card, OpenSSL as the judge; then the
# Debian package under a real systemd in a container (Tests/testbed/systemd.sh).
set -euo pipefail
cd "$(dirname "$0")/.."
if [ "$(id -u)" -ne 0 ]; then
  echo "make test: the PC/SC tests start and stop pcscd and insert virtual cards; run as root (sudo make test)." >&2
  exit 2
fi
# Everything the tests make (SoftHSM tokens, test PKIs, registries, sockets) goes under one
# folder of this run, removed when the run ends, also on failure or Ctrl-C (not on SIGKILL).
# In /tmp itself, sticky and world-writable like it: the privilege tests run clients as other
# Unix users, who must reach it (a caller's own TMPDIR may be private).
run_tmp=$(mktemp -d /tmp/paysign-test-run.XXXXXX)
chmod 1777 "$run_tmp"
trap 'rm -rf "$run_tmp"' EXIT
# docs/rules.md states every rule the code cites and every README link into it lands: seconds,
# no build, so it runs first.
echo "== rules doc (scripts/check-rules-doc.sh)"
scripts/check-rules-doc.sh
Tests/testbed/pcsc.sh start
echo "== build (debug, with tests)"
# The build's own status, read before anything else runs: after `... | grep || true` under
# pipefail, PIPESTATUS is that of `true` whenever the build failed.
set +e
swift build --build-tests 2>&1 | tee "$run_tmp/build.log" | grep -Ev '^\[[0-9]+/[0-9]+\]|prohibited flag'
build_status=${PIPESTATUS[0]}
set -e
if [ "$build_status" -ne 0 ]; then
  echo "make test: the build failed (swift build exit $build_status)" >&2
  exit 1
fi
# The project builds without compiler warnings: one from its own modules fails the run. A
# warning inside a macro expansion (#expect) is named by the line the expansion comes from.
# Dependencies (.build/checkouts) are not ours. An incremental build only shows the warnings
# of the files it recompiled; CI builds from a fresh clone and sees them all.
warnings=$(awk '
  /\/\.build[^\/]*\// { held = ""; next }
  /(Sources|Tests|Benchmarks|Fuzz)\/.*: warning:/ { print; held = ""; next }
  held != "" && /(Sources|Tests|Benchmarks|Fuzz)\/.*: note: expanded code originates here/ {
    sub(/^`- /, ""); sub(/: note: expanded code originates here.*/, "")
    print $0 ": warning: " held " (in a macro expansion)"; held = ""; next
  }
  { held = "" }
  /^macro expansion .*: warning: / { held = $0; sub(/^macro expansion [^ ]*: warning: /, "", held) }
' "$run_tmp/build.log" | sort -u)
if [ -n "$warnings" ]; then
  echo "make test: the build printed $(printf '%s\n' "$warnings" | grep -c .) warnings from Sources/ or Tests/ (the project builds without warnings):" >&2
  printf '%s\n' "$warnings" >&2
  exit 1
fi
export PAYSIGN_BIN_DIR
PAYSIGN_BIN_DIR=$(swift build --show-bin-path)
export TMPDIR=$run_tmp
quiet() { grep -Ev '^(◇|􀟈) (Test|Suite) .* started\.$|^\[[0-9]+/[0-9]+\]' || true; }
# The PC/SC suite stops and restarts pcscd: it runs alone, before everything else.
echo "== PC/SC suite (pcscd and the virtual card)"
set +e
swift test --skip-build --filter PaysignPCSCTests 2>&1 | quiet
pcsc_status=${PIPESTATUS[0]}
Tests/testbed/pcsc.sh start
echo "== all other suites"
swift test --skip-build --skip PaysignPCSCTests 2>&1 | quiet
rest_status=${PIPESTATUS[0]}
# The API against its own document (issue 17): schemathesis, pinned, drives the real daemon over
# its socket as an administrator, a holder and a Unix user with no role; any server error,
# undocumented status or content type, or answer that does not match its schema fails the run.
echo "== conformance: the daemon against its OpenAPI document (Tests/conformance/run.sh)"
Tests/conformance/run.sh
conformance_status=$?
# The payment center against its own document (issue 18): schemathesis over mutual TLS as an
# entity, another entity and an operator, on a seeded center (PostgreSQL, the HSM on SoftHSM),
# plus probes of scoping and of inputs the database cannot store; a crash of the center fails it.
echo "== conformance: the payment center against its OpenAPI document (Tests/conformance/center.sh)"
Tests/conformance/center.sh
center_conformance_status=$?
# The Debian package under a real systemd: make deb (a release build with the Swift runtime
# linked in, then lintian), a cached Debian 12 root booted with systemd-nspawn, the package
# installed and checked there. It fails, never skips, where no container can be booted.
echo "== systemd: the package under systemd 252 as PID 1 (Tests/testbed/systemd.sh)"
Tests/testbed/systemd.sh
systemd_status=$?
set -e
if [ "$pcsc_status" -ne 0 ] || [ "$rest_status" -ne 0 ] || [ "$conformance_status" -ne 0 ] || [ "$center_conformance_status" -ne 0 ] || [ "$systemd_status" -ne 0 ]; then
  echo "make test: FAILED (PC/SC suite exit $pcsc_status, other suites exit $rest_status, conformance exit $conformance_status, center conformance exit $center_conformance_status, systemd stage exit $systemd_status)" >&2
  exit 1
fi
echo "make test: all suites passed"
