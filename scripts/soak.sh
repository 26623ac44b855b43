#!/usr/bin/env bash
# make soak: the long versions of the reliability runs (issue 8), against the real components:
#   the crash harness   SOAK_CRASH_ORDERS orders (default 400) signed first and second while paysignd
#                       is SIGKILLed at random, at least SOAK_CRASH_KILLS times (default 300)
#   the load run        64 clients for SOAK_LOAD_SECONDS (default 300)
#   the fuzz run        scripts/fuzz.sh, FUZZ_SECONDS per target (default 600)
# and prints the figures the README's Reliability section quotes.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ "$(id -u)" -ne 0 ]; then
  echo "make soak: the runs sign as the Unix users of Tests/testbed/users.sh and start pcscd; run as root (sudo make soak)." >&2
  exit 2
fi
Tests/testbed/pcsc.sh start
echo "== build (debug, with tests)"
swift build --build-tests 2>&1 | grep -Ev '^\[[0-9]+/[0-9]+\]|prohibited flag' || true
test "${PIPESTATUS[0]}" -eq 0
export PAYSIGN_BIN_DIR
PAYSIGN_BIN_DIR=$(swift build --show-bin-path)
log=$(mktemp)
trap 'rm -f "$log"' EXIT
status=0

echo "== crash: ${SOAK_CRASH_ORDERS:-400} orders, at least ${SOAK_CRASH_KILLS:-300} kills"
PAYSIGN_CRASH_ORDERS=${SOAK_CRASH_ORDERS:-400} PAYSIGN_CRASH_KILLS=${SOAK_CRASH_KILLS:-300} \
  swift test --skip-build --filter CrashTests >"$log" 2>&1 || status=1
grep -E '^crash:|✘' "$log" | head -20

echo "== load: 64 clients for ${SOAK_LOAD_SECONDS:-300} s"
PAYSIGN_LOAD_SECONDS=${SOAK_LOAD_SECONDS:-300} swift test --skip-build --filter LoadTests >"$log" 2>&1 || status=1
grep -E '^load:|✘' "$log" | head -20

echo "== fuzz: ${FUZZ_SECONDS:-600} s per target"
scripts/fuzz.sh || status=1

if [ "$status" -ne 0 ]; then
  echo "make soak: FAILED" >&2
  exit 1
fi
echo "make soak: every long run passed"
