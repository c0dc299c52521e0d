# qballoon: `make demo` shows it working, `make test` runs every test. Both install what they need.
SWIFT ?= swift

.PHONY: demo test sanitize fuzz build release install uninstall deb package-test manuals bench bench-daemon deps clean check-layering

deps:
	@scripts/install-deps.sh

build: deps
	$(SWIFT) build --product qballoon

# The version `qballoon --version` prints: git describe of this checkout (or VERSION=... from a release script).
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo unknown)

# A binary for hosts without Swift: the Swift runtime linked in; it needs glibc and libjansson4 only (libvirt0,
# for libvirt VMs, is loaded when one is reached).
release:
	@scripts/install-deps.sh --build-only
	$(SWIFT) build -c release --product qballoon --static-swift-stdlib -Xcc -DQBALLOON_VERSION='"$(VERSION)"'

# Install the release binary, man pages, completions, the systemd unit, /etc/qballoon/qballoon.toml (kept if
# there), the example configs and dashboards: PREFIX (default /usr/local), DESTDIR (a staging root).
PREFIX ?= /usr/local
install: release
	@PREFIX=$(PREFIX) DESTDIR=$(DESTDIR) VERSION=$(VERSION) scripts/install.sh

uninstall:
	@PREFIX=$(PREFIX) DESTDIR=$(DESTDIR) scripts/install.sh --uninstall

# dist/qballoon_VERSION_amd64.deb, with dpkg-deb.
deb:
	@scripts/install-deps.sh --package
	@scripts/make-deb.sh

# The .deb installed into a fresh Debian 12 root (debootstrap, cached) and used there: CI runs it.
package-test:
	@scripts/install-deps.sh --package
	@scripts/package-test.sh

# The man pages alone, into .build/manuals (checked with man -l).
manuals:
	@scripts/make-manuals.sh .build/manuals

demo: build
	.build/debug/qballoon demo

test: deps
	@scripts/check-layering.sh
	@scripts/build-guest.sh || { [ "$${CI:-}" != true ] && echo "make: the test guest could not be built: the end-to-end tests will be skipped"; }
	$(SWIFT) build --build-tests
	$(SWIFT) test --skip-build

# The tests under ThreadSanitizer and AddressSanitizer (.build-tsan, .build-asan), all but the real-guest suite.
sanitize: deps
	@SWIFT=$(SWIFT) scripts/sanitize.sh

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
	rm -rf .build .build-release .build-static .build-tsan .build-asan .build-fuzz dist
