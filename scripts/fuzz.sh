#!/usr/bin/env bash
# make fuzz: the long libFuzzer run over every parser of outside bytes (issue 8): order files,
# order documents, CMS signatures (OpenSSL's reader and the strict DER walk of the verification),
# CRLs, certificates, certification requests, PKCS#11 URIs, the daemon's configuration, the PIN
# taken out of request bodies, and the strict JSON decoding of request bodies. The harness is
# Fuzz/Harness (the same one the short run of `make test` uses, Tests/PaysignFuzzTests); the
# driver Fuzz/paysign-fuzz only exists in the package when PAYSIGN_FUZZ=1, and is built here with
# libFuzzer and AddressSanitizer in a scratch path of its own.
#
#   FUZZ_SECONDS=600     time per target (the short run of make test takes 3 s per target)
#   FUZZ_TARGETS="cms crl"  only these targets
#   FUZZ_SCRATCH=.build/fuzz   build folder;  FUZZ_DIR=.build/fuzz-corpus   corpora, logs, crashes
#
# Prints one line per target: fuzz TARGET execs=N inputs=M crashes=K, where execs is the inputs
# libFuzzer ran and inputs the corpus it kept (inputs that reached new code). A crash, a finding
# of the harness (another error type, a broken round trip) or an input slower than 10 s is saved
# as FUZZ_DIR/artifacts/TARGET-crash-… and replays with:
#   PAYSIGN_FUZZ_TARGET=TARGET .build/fuzz/debug/paysign-fuzz FILE
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${FUZZ_SECONDS:-600}
targets=${FUZZ_TARGETS:-"order-file order-document cms order-evidence crl certificate csr pkcs11-uri configuration secret-fields request-body"}
scratch=${FUZZ_SCRATCH:-.build/fuzz}
work=${FUZZ_DIR:-.build/fuzz-corpus}
flags=(-c debug --scratch-path "$scratch" -Xswiftc -sanitize=fuzzer,address -Xswiftc -parse-as-library)

echo "== build (libFuzzer and AddressSanitizer, $scratch; the first build takes several minutes)"
set +e
PAYSIGN_FUZZ=1 swift build "${flags[@]}" --product paysign-fuzz 2>&1 | grep -Ev '^\[[0-9]+/[0-9]+\]|prohibited flag|Cannot export local symbol'
status=${PIPESTATUS[0]}
set -e
if [ "$status" -ne 0 ]; then echo "make fuzz: the fuzz build failed" >&2; exit 1; fi
bin=$(PAYSIGN_FUZZ=1 swift build "${flags[@]}" --show-bin-path)/paysign-fuzz
mkdir -p "$work/artifacts" "$work/logs"
# The Swift runtime's and Foundation's caches look like leaks to LeakSanitizer at exit.
export ASAN_OPTIONS="detect_leaks=0${ASAN_OPTIONS:+:$ASAN_OPTIONS}"

failed=0
for target in $targets; do
  corpus="$work/corpus/$target"
  mkdir -p "$corpus"
  # The seeds: valid inputs made at run time (OpenSSL CLI, scripts/make-payroll.py, the harness).
  PAYSIGN_FUZZ_TARGET=$target PAYSIGN_FUZZ_SEED_DIR="$corpus" "$bin" -runs=0 -detect_leaks=0 \
    -artifact_prefix="$work/logs/$target-seeds-" >"$work/logs/$target.seeds.log" 2>&1 || {
    echo "make fuzz: cannot make the seeds of $target (see $work/logs/$target.seeds.log)" >&2; failed=1; continue; }
  case $target in
    order-file) max_len=65536 ;;
    configuration|pkcs11-uri|order-document) max_len=8192 ;;
    *) max_len=16384 ;;
  esac
  before=$(ls "$work/artifacts" | grep -c "^$target-" || true)
  set +e
  PAYSIGN_FUZZ_TARGET=$target "$bin" "$corpus" -max_total_time="$seconds" -max_len="$max_len" -timeout=10 \
    -rss_limit_mb=4096 -detect_leaks=0 -print_final_stats=1 -artifact_prefix="$work/artifacts/$target-" \
    >"$work/logs/$target.log" 2>&1
  status=$?
  set -e
  execs=$(grep -o 'stat::number_of_executed_units: [0-9]*' "$work/logs/$target.log" | grep -o '[0-9]*$' | tail -1)
  if [ -z "$execs" ]; then execs=$(grep -oE '^#[0-9]+' "$work/logs/$target.log" | tail -1 | tr -d '#'); fi
  inputs=$(ls "$corpus" | wc -l)
  after=$(ls "$work/artifacts" | grep -c "^$target-" || true)
  crashes=$((after - before))
  echo "fuzz $target execs=${execs:-0} inputs=$inputs crashes=$crashes"
  if [ "$status" -ne 0 ] || [ "$crashes" -ne 0 ]; then
    failed=1
    grep -E 'Fatal error|ERROR: |paysign-fuzz .*:|Test unit written' "$work/logs/$target.log" | head -5 | sed 's/^/    /' >&2
  fi
done
if [ "$failed" -ne 0 ]; then echo "make fuzz: FAILED (logs and inputs in $work)" >&2; exit 1; fi
echo "make fuzz: no finding"
