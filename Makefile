# FastDFS HTTP tier in Rust. `make demo` runs it locally, `make test` passes the tests; see README.md.
SHELL := /bin/bash
CARGO ?= cargo
BUILD := $(CURDIR)/build
NGINX_SRC := $(BUILD)/nginx-src
MODULE_SO := $(BUILD)/modules/ngx_http_fastdfs_module.so
TARGET_DIR := $(or $(CARGO_TARGET_DIR),$(CURDIR)/target)
# The nginx tree the module is built against: Debian's (nginx-dev, configured below) unless the caller names
# another configured tree, e.g. `make module NGINX_SOURCE_DIR=/usr/src/nginx-1.26.2` (ngx-fastdfs-rs/README.md).
# (Only a command-line value counts: the exported value reaches this Makefile's own sub-makes through the
# environment, and they must keep building against Debian's tree.)
ifeq ($(origin NGINX_SOURCE_DIR),command line)
NGINX_TREE := nginx-custom
else
NGINX_SOURCE_DIR := $(NGINX_SRC)
NGINX_TREE := nginx-src
endif
export NGINX_SOURCE_DIR
export NGINX_BUILD_DIR := $(NGINX_SOURCE_DIR)/objs

# Debian packages the build, the tests, the demo and the benchmarks need.
APT_PACKAGES := nginx nginx-dev libnginx-mod-http-cache-purge libclang-dev clang libpcre2-dev libssl-dev \
	zlib1g-dev libzstd-dev pkg-config cmake make gcc wrk curl openssl iproute2 procps keepalived \
	dpkg-dev lintian systemd adduser

.PHONY: all deps nginx-src nginx-custom module deb lintian test demo bench fuzz clean

all: nginx-src
	$(CARGO) build --release --workspace
	$(MAKE) --no-print-directory module

# Installs missing Debian packages; a second run finds none missing and skips apt (checked again when
# this Makefile changes).
deps: $(BUILD)/.deps-ok
$(BUILD)/.deps-ok: Makefile
	@missing=$$(for p in $(APT_PACKAGES); do dpkg-query -W -f='$${Status}\n' $$p 2>/dev/null | grep -q 'install ok installed' || echo $$p; done); \
	if [ -n "$$missing" ]; then \
		echo "==> apt-get install $$missing"; \
		export DEBIAN_FRONTEND=noninteractive; \
		apt-get update -qq && apt-get install -y -qq --no-install-recommends $$missing; \
	fi
	@mkdir -p $(BUILD) && touch $@

# A copy of Debian's nginx source tree (from nginx-dev), configured with the package's own flags
# (--with-compat), so the module's ABI signature matches /usr/sbin/nginx. Redone when nginx-dev changes.
NGINX_DEV_VERSION = $(shell dpkg-query -W -f='$${Version}' nginx-dev 2>/dev/null)
nginx-src: deps
	@stamp="$(NGINX_SRC)/.configured-$(NGINX_DEV_VERSION)"; \
	if [ ! -f "$$stamp" ]; then \
		echo "==> configuring nginx $(NGINX_DEV_VERSION) source tree in $(NGINX_SRC)"; \
		rm -rf $(NGINX_SRC) && mkdir -p $(BUILD) && cp -a /usr/share/nginx/src $(NGINX_SRC) && cd $(NGINX_SRC) && \
		. ./conf_flags && \
		./configure "$${NGX_CONF_FLAGS[@]}" \
			--with-cc-opt='-g -O2 -fstack-protector-strong -Wformat -Werror=format-security -fPIC -Wdate-time -D_FORTIFY_SOURCE=2' \
			--with-ld-opt='-Wl,-z,relro -Wl,-z,now -fPIC' > configure.log 2>&1 \
			|| { tail -30 configure.log; exit 1; }; \
		touch "$$stamp"; \
	fi

# Another nginx's source tree, configured by its owner (`./configure --with-compat ...` or the target binary's
# own flags from `nginx -V`): only checked here.
nginx-custom:
	@test -f "$(NGINX_SOURCE_DIR)/src/core/nginx.h" || { echo "NGINX_SOURCE_DIR=$(NGINX_SOURCE_DIR) is not an nginx source tree"; exit 1; }
	@test -f "$(NGINX_BUILD_DIR)/ngx_auto_config.h" || { echo "$(NGINX_SOURCE_DIR) is not configured: run its ./configure with --with-compat (or the flags 'nginx -V' prints) first"; exit 1; }
	@echo "==> building against $(NGINX_SOURCE_DIR) ($$(sed -n 's/^#define NGINX_VERSION *"\(.*\)"/\1/p' $(NGINX_SOURCE_DIR)/src/core/nginx.h))"

# The nginx module, where the README says: build/modules/ngx_http_fastdfs_module.so
# Also a test-only variant with a URL that panics (--features panic-probe), for the suite that checks a
# panic becomes a 500 and the worker lives. Built first: both land on the same cargo output file.
module: $(NGINX_TREE)
	@mkdir -p $(dir $(MODULE_SO))
ifeq ($(NGINX_TREE),nginx-src)
	$(CARGO) build --release -p ngx-fastdfs-rs --features panic-probe
	install -m 0644 $(TARGET_DIR)/release/libngx_http_fastdfs_module.so $(MODULE_SO:.so=_probe.so)
endif
	$(CARGO) build --release -p ngx-fastdfs-rs
	install -m 0644 $(TARGET_DIR)/release/libngx_http_fastdfs_module.so $(MODULE_SO)
	@echo "module: $(MODULE_SO)"

# Debian packages into build/deb/: libnginx-mod-http-fastdfs, fdfs-edge, fdfs-tools (packaging/README.md).
deb: module
	$(CARGO) build --release -p edge-proxy -p fdfs-client
	@bash packaging/build-deb.sh

# Debian's lint of the packages: no error allowed (warnings are printed).
lintian: deb
	lintian --fail-on error $(BUILD)/deb/*.deb

# Everything a newcomer needs: packages, nginx tree, format, lints, the module, then every test.
# Integration suites start the emulator, /usr/sbin/nginx with build/modules/ngx_http_fastdfs_module.so and
# fdfs-edge themselves, on loopback addresses 127.0.x.y (adding them to `lo` needs root). All targets are
# built in one cargo run, so the binaries the suites start share its feature resolution (no second build
# of pingora while the tests run).
test: nginx-src
	@start=$$(date +%s); set -o pipefail; rm -f $(BUILD)/test.log; \
	step() { echo "==> $$*"; }; \
	step "cargo fmt --check" && $(CARGO) fmt --all --check && \
	step "clippy -D warnings" && $(CARGO) clippy --workspace --all-targets -- -D warnings && \
	step "module (release .so)" && $(MAKE) --no-print-directory module && \
	step "build all targets" && $(CARGO) build --workspace --all-targets && \
	step "Debian packages and lintian" && $(MAKE) --no-print-directory lintian && \
	step "cargo test" && \
	FDFS_BIN=$(TARGET_DIR)/debug/fdfs FDFS_EDGE_BIN=$(TARGET_DIR)/debug/fdfs-edge \
		$(CARGO) test --workspace --no-fail-fast 2>&1 | tee $(BUILD)/test.log; \
	rc=$$?; \
	echo; echo "==> summary ($$(( $$(date +%s) - start ))s)"; \
	grep -E '^test result:' $(BUILD)/test.log 2>/dev/null | awk '{p+=$$4; f+=$$6; i+=$$8} END {printf "tests: %d passed, %d failed, %d skipped\n", p, f, i}'; \
	if [ $$rc -eq 0 ]; then echo "make test: OK"; else echo "make test: FAILED"; fi; \
	exit $$rc

# The whole thing on loopback: emulator (2 groups x 2 storages), one nginx + module per storage, one edge.
demo: all
	@bash scripts/demo.sh

# Every benchmark (bench/run.sh; BENCHMARKS.md): BENCH_QUICK=1 for the quick mode, BENCH_PARTS="contenders
# scale" for some parts only. Installs the contenders' Debian packages (varnish, trafficserver) when missing.
bench: all
	@BENCH_QUICK=$(BENCH_QUICK) BENCH_PARTS="$(BENCH_PARTS)" bash bench/run.sh

fuzz:
	@bash fuzz/run.sh

clean:
	$(CARGO) clean
	rm -rf $(BUILD)
