# paysign: the two commands that do all the set-up on a fresh Debian 12 machine.
#   make demo   the walk-through on throw-away tokens
#   make test   the whole suite
# Both install the Debian packages they need when run as root (otherwise they print the
# apt-get line and stop). Swift 6 must already be on PATH.

SWIFT ?= swift

.PHONY: all build test demo bench deps toolchain clean deb man systemd-test conformance

all: build

toolchain:
	@command -v $(SWIFT) >/dev/null || { echo "make: swift is not on PATH; install Swift 6.1 or later from swift.org" >&2; exit 1; }

deps: toolchain
	@scripts/deps.sh

build: deps
	$(SWIFT) build

test: deps
	@scripts/test.sh

demo: deps
	@scripts/demo.sh

bench: deps
	@scripts/bench.sh

# The long fuzz run of every parser of outside bytes (libFuzzer, FUZZ_SECONDS per target, default
# 600; a short run is part of make test).
.PHONY: fuzz soak
fuzz: deps
	@scripts/fuzz.sh

# The long reliability runs (issue 8): the crash harness (hundreds of SIGKILLs), the 64-client
# load run, and the long fuzz run. Short versions of each are part of make test.
soak: deps
	@scripts/soak.sh

# The Debian package: dist/paysign_VERSION_ARCH.deb (release build with the Swift runtime linked
# in, the units, sysusers/tmpfiles files, the example configuration, the man pages), then lintian.
deb: deps
	@scripts/deb.sh

# Regenerate man/paysign.1, man/paysignd.8 and man/paysign-center.8 from the argument parser (generate-manual plugin);
# commit the result. make deb refuses pages older than the options.
man: deps
	@scripts/man.sh

# The packaged daemon under a real systemd (252, PID 1 of a systemd-nspawn container booted from
# a cached Debian 12 root): the stage of make test after the Swift suites, alone.
systemd-test: deps
	@Tests/testbed/systemd.sh

# The daemon against its own OpenAPI document (schemathesis, pinned), as an administrator, a holder
# and a caller with no role, then the payment center against its own, as two entities and an
# operator: the stages of make test after the Swift suites, alone.
conformance: deps
	swift build --product paysignd && swift build --product paysign
	swift build --product paysign-center && swift build --product paysign-make-orders
	@Tests/conformance/run.sh && Tests/conformance/center.sh

clean:
	rm -rf .build demo-out dist
