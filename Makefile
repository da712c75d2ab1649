# graced — build, run the example, test.
#   make run     build and run graced on etc/graced.conf (example worker on 127.0.0.1:8080)
#   make test    unit + integration tests (installs what they need first), then test-systemd
#   make test-systemd  graced under a real systemd 252 as PID 1 (systemd-nspawn; root; guest tree cached in .build-systemd/)
#   make verify  the release build links no Foundation and no ICU (scripts/verify-no-foundation.sh), stripped <= 15 MB
#   make man     regenerate man/graced.1 from the command-line definition
#   make swift-worker   the Swift example worker (examples/swift-worker, SwiftNIO; its own package)
SWIFT      ?= swift
PREFIX     ?= /usr/local
BUILD_BIN   = $(shell $(SWIFT) build --show-bin-path 2>/dev/null)
RELEASE_BIN = $(shell $(SWIFT) build -c release --show-bin-path 2>/dev/null)
# The shipped binary: the Swift runtime linked in (nothing to install beside it), linked
# by the toolchain's lld with relative relocations (DT_RELR, glibc >= 2.36: 0.9 MB less of
# .rela.dyn) and identical code folded (as Apple's linker does by default): 16.3 -> 14.9
# MB stripped. bench/run.sh builds with the same flags (make -s release-flags).
RELEASE_FLAGS = -c release --static-swift-stdlib -Xswiftc -Osize -Xswiftc -use-ld=lld \
                -Xlinker -z -Xlinker pack-relative-relocs -Xlinker --icf=all

.PHONY: all deps test-deps build release release-flags run test test-systemd verify-units verify man install clean swift-worker

all: build

# libsystemd's headers are needed to build (sd-daemon.h, sd-journal.h).
deps:
	@if [ ! -f /usr/include/systemd/sd-daemon.h ]; then \
	    echo "installing libsystemd-dev"; \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq libsystemd-dev; \
	fi

# Real backends nobody here wrote: gunicorn, uvicorn, hypercorn and Twisted from PyPI, Go
# and Puma from Debian (Node.js comes with the machine). A test whose server cannot be
# installed is skipped with the reason printed.
test-deps: deps
	@python3 -c 'import gunicorn, uvicorn, hypercorn, twisted' 2>/dev/null || \
	    python3 -m pip install -q gunicorn uvicorn hypercorn twisted || echo "warning: some Python servers not installed; their tests will be skipped"
	@if ! command -v go >/dev/null || ! command -v puma >/dev/null; then \
	    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq golang-go puma) >/dev/null 2>&1 || \
	    echo "warning: golang-go or puma not installed; their tests will be skipped"; \
	fi

build: deps
	$(SWIFT) build

release: deps
	$(SWIFT) build $(RELEASE_FLAGS)

release-flags:
	@echo $(RELEASE_FLAGS)

run: build
	@mkdir -p /run/graced
	$(BUILD_BIN)/graced run --config etc/graced.conf

# The Swift example worker is its own package (SwiftNIO stays out of graced's build);
# SwiftWorkerTests run it under graced and are skipped when it is not built.
swift-worker:
	$(SWIFT) build -c release --package-path examples/swift-worker

test: test-deps swift-worker
	$(SWIFT) build --build-tests
	./scripts/verify-units.sh $(BUILD_BIN)/graced
	# The fault-injection suite measures responsiveness under floods: it runs on its own,
	# after the rest, so that no other suite's real servers compete with it for the cores.
	$(SWIFT) test --skip-build --skip FaultInjectionTests
	$(SWIFT) test --skip-build --filter FaultInjectionTests
	$(MAKE) test-systemd
	$(MAKE) verify

# Boots systemd 252 as PID 1 in systemd-nspawn (a debootstrapped Debian tree, built once into
# .build-systemd/), installs graced there with `make install DESTDIR=` and runs the scenarios of
# scripts/systemd/run.sh. Installs systemd-container and debootstrap itself; prints SKIP with the
# reason where nspawn cannot run. Ends with "N passed, N failed".
test-systemd: deps
	./scripts/systemd/run.sh

verify-units: build
	./scripts/verify-units.sh $(BUILD_BIN)/graced

# The release binary (as shipped) must carry no Foundation and no ICU.
verify: release
	./scripts/verify-no-foundation.sh $(RELEASE_BIN)/graced
	@stripped=$$(mktemp) && strip -o $$stripped $(RELEASE_BIN)/graced && size=$$(stat -c %s $$stripped) && rm -f $$stripped && \
	    if [ $$size -le 15000000 ]; then echo "ok: the stripped release binary is $$size bytes (at most 15000000)"; \
	    else echo "FAIL: the stripped release binary is $$size bytes, over 15000000"; exit 1; fi

# man/graced.1 is committed; this regenerates it after a change to the commands' help.
man: build
	./scripts/generate-man.sh $(BUILD_BIN)/graced

install: release
	install -D -s -m 0755 $(RELEASE_BIN)/graced $(DESTDIR)$(PREFIX)/bin/graced
	install -D -m 0644 man/graced.1 $(DESTDIR)$(PREFIX)/share/man/man1/graced.1
	install -d $(DESTDIR)$(PREFIX)/share/bash-completion/completions $(DESTDIR)$(PREFIX)/share/zsh/site-functions \
	    $(DESTDIR)$(PREFIX)/share/fish/vendor_completions.d
	$(RELEASE_BIN)/graced --generate-completion-script bash > $(DESTDIR)$(PREFIX)/share/bash-completion/completions/graced
	$(RELEASE_BIN)/graced --generate-completion-script zsh > $(DESTDIR)$(PREFIX)/share/zsh/site-functions/_graced
	$(RELEASE_BIN)/graced --generate-completion-script fish > $(DESTDIR)$(PREFIX)/share/fish/vendor_completions.d/graced.fish
	install -D -m 0644 etc/systemd/graced.service $(DESTDIR)/etc/systemd/system/graced.service
	install -D -m 0644 etc/systemd/graced@.service $(DESTDIR)/etc/systemd/system/graced@.service
	install -D -m 0644 etc/systemd/graced.socket $(DESTDIR)/etc/systemd/system/graced.socket
	install -D -m 0755 examples/worker.py $(DESTDIR)$(PREFIX)/share/graced/examples/worker.py
	install -D -m 0644 examples/app.py $(DESTDIR)$(PREFIX)/share/graced/examples/app.py
	@if [ ! -e $(DESTDIR)/etc/graced/graced.conf ]; then \
	    install -d $(DESTDIR)/etc/graced; \
	    sed 's#"examples/worker.py"#"$(PREFIX)/share/graced/examples/worker.py"#' etc/graced.conf > $(DESTDIR)/etc/graced/graced.conf; \
	fi
	@sed -i 's#/usr/local/bin/graced#$(PREFIX)/bin/graced#g' $(DESTDIR)/etc/systemd/system/graced.service $(DESTDIR)/etc/systemd/system/graced@.service

clean:
	rm -rf .build examples/swift-worker/.build

# Reload-under-load benchmark against the peers (bench/README.md): BENCH_SECONDS=20 per run by default,
# `make bench BENCH_ARGS=--quick` for a 5 s smoke run.
# (.PHONY: a directory named bench/ exists, so without it make would call the target up to date.)
.PHONY: bench
bench:
	./bench/run.sh $(BENCH_ARGS)
