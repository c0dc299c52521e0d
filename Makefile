# qballoon: `make demo` shows it working, `make test` runs every test. Both install what they need.
SWIFT ?= swift

.PHONY: demo test build release bench bench-daemon deps clean check-layering fuzz

deps:
	@scripts/install-deps.sh

build: deps
	$(SWIFT) build --product qballoon

release:
	@scripts/install-deps.sh --build-only
	$(SWIFT) build -c release --product qballoon

demo: build
	.build/debug/qballoon demo

test: deps
	@scripts/check-layering.sh
	@scripts/build-guest.sh || { [ "$${CI:-}" != true ] && echo "make: the test guest could not be built: the end-to-end tests will be skipped"; }
	$(SWIFT) build --build-tests
	$(SWIFT) test --skip-build

check-layering:
	@scripts/check-layering.sh

# libFuzzer on the QMP stream, the JSON codec, the config loader and the rule language, FUZZ_SECONDS each.
fuzz:
	@scripts/fuzz.sh

bench:
	@scripts/bench.sh

bench-daemon:
	@scripts/bench-daemon.sh

clean:
	rm -rf .build .build-release .build-fuzz
