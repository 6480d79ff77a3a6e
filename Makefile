# async-jobs: set up, build, run and test. `make` alone lists the targets.
#
# Every variable below can be overridden on the command line or from the
# environment, e.g. `make test CARGO=cargo-1.95` or `make up LISTEN=0.0.0.0:3000`.

SHELL := bash
.SHELLFLAGS := -euo pipefail -c
.DEFAULT_GOAL := help

CARGO ?= cargo
RUSTUP ?= rustup
WASM_TARGET ?= wasm32-wasip2
# The profile the .wasm files are built with (spin.toml's `source` paths use it).
COMPONENT_PROFILE ?= component
# Spin components of the product.
COMPONENTS ?= intake worker dashboard
# Test fixtures of the devhost, found by their Cargo.toml's `name =` line.
FIXTURES ?= $(foreach manifest,$(wildcard crates/devhost/fixtures/*/Cargo.toml),$(shell awk -F'"' '/^name[[:space:]]*=/ { print $$2; exit }' $(manifest)))
WASM_PACKAGES := $(addprefix -p ,$(COMPONENTS) $(FIXTURES))

TARGET_DIR ?= $(or $(CARGO_TARGET_DIR),target)
DEVHOST ?= $(TARGET_DIR)/release/devhost
# Real Spin for `make up`: SPIN_BIN, else `spin` on PATH; `make up SPIN=` forces the devhost.
SPIN ?= $(or $(SPIN_BIN),$(shell command -v spin 2>/dev/null))
# Real Spin for the second pass of `make test`: SPIN_BIN, else `spin` on PATH, else the
# Spin 4.0.2 that CI's machines keep beside the repository (../shared/tools/spin).
SPIN_FOR_TESTS ?= $(or $(SPIN_BIN),$(shell command -v spin 2>/dev/null),$(wildcard $(abspath ../shared/tools/spin)))
LISTEN ?= 127.0.0.1:3000
RUNTIME_CONFIG ?= deploy/runtime-config.redis.toml
# Extra arguments for `spin up` / `devhost up`, e.g. ARGS='--variable lease_ms=5000'.
ARGS ?=

# The Redis `make up` finds or starts. deploy/runtime-config.redis.toml and
# spin.toml's default `redis_address` both name 127.0.0.1:6379.
REDIS_HOST := 127.0.0.1
REDIS_PORT := 6379
REDIS_DIR ?= .spin/redis
# The admin token `make up` generates once and passes as the variable admin_token.
ADMIN_TOKEN_FILE ?= .spin/admin_token

# The Python tools of the tests (tests/requirements.txt: the standardwebhooks package for
# the webhook receiver, Schemathesis, openapi-spec-validator, openapi-python-client), in a
# project-local virtual environment that `make setup` makes; a stamp file remembers which
# requirements it holds, so a change installs again.
PYTHON ?= python3
VENV ?= .venv
PY_REQUIREMENTS ?= tests/requirements.txt

# Integration and end-to-end tests start a redis-server and a runtime each;
# two at a time suits a 2-core machine.
TEST_THREADS ?= 2

# The browser the dashboard's tests drive (Debian's chromium package).
CHROMIUM_COMMAND ?= chromium

# Installs Debian package $(2) with apt-get unless the command $(1) is on PATH ($(3) says
# what it is, for the message when it cannot).
define apt_install
$(call apt_install_unless,command -v $(1) >/dev/null 2>&1,$(2),$(3),$(1) not found)
endef

# Installs Debian package $(2) with apt-get unless the shell test $(1) passes ($(3) says
# what it is and $(4) what is wrong, for the messages): with sudo when not root (asking
# for a password only at a terminal), waiting up to two minutes for a dpkg lock that
# another apt holds; without root, sudo or apt-get it stops and says what to install.
define apt_install_unless
if ! { $(1); }; then \
  if ! command -v apt-get >/dev/null 2>&1; then \
    echo "setup: $(4) and there is no apt-get: install $(3)." >&2; \
    exit 1; \
  fi; \
  if [[ "$$(id -u)" == 0 ]]; then sudo=""; \
  elif command -v sudo >/dev/null 2>&1 && { [[ -t 0 ]] || sudo -n true 2>/dev/null; }; then \
    sudo="sudo"; [[ -t 0 ]] || sudo="sudo -n"; \
  else \
    echo "setup: $(4). Run 'make setup' as root, or install it: apt-get install -y $(2)" >&2; \
    exit 1; \
  fi; \
  echo "setup: installing $(2) with apt-get"; \
  $$sudo apt-get -o DPkg::Lock::Timeout=120 update; \
  $$sudo env DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=120 install -y $(2); \
fi
endef

# Answers 0 if a Redis answers PING at $(REDIS_HOST):$(REDIS_PORT): redis-cli if
# present, else bash's /dev/tcp.
define redis_answers
{ if command -v redis-cli >/dev/null 2>&1; then \
    [[ "$$(redis-cli -h $(REDIS_HOST) -p $(REDIS_PORT) ping 2>/dev/null)" == PONG ]]; \
  else \
    ( exec 3<>/dev/tcp/$(REDIS_HOST)/$(REDIS_PORT) && printf 'PING\r\n' >&3 && \
      IFS= read -r -t 2 reply <&3 && [[ "$$reply" == +PONG* ]] ) 2>/dev/null; \
  fi; }
endef

.PHONY: help setup setup-app listen-free build up admin test lint fmt clean openapi screenshots

help: ## List the targets
	@echo "async-jobs: asynchronous-by-default jobs on Spin (see README.md)"
	@echo
	@awk -F':.*## ' '/^[a-z][a-z-]*:.*## / { printf "  make %-7s %s\n", $$1, $$2 }' $(MAKEFILE_LIST)
	@echo
	@echo "Variables (override as VAR=value): CARGO SPIN SPIN_BIN SPIN_FOR_TESTS LISTEN ARGS RUNTIME_CONFIG TEST_THREADS"

setup: setup-app ## Install what is missing: setup-app's, and for the tests chromium (apt-get) and .venv with their Python tools
	@$(call apt_install,$(CHROMIUM_COMMAND),chromium,Chromium (the dashboard's browser tests))
	@if ! cmp -s $(PY_REQUIREMENTS) $(VENV)/.requirements 2>/dev/null || [[ ! -x $(VENV)/bin/python ]]; then \
	  command -v $(PYTHON) >/dev/null 2>&1 || { \
	    echo "setup: $(PYTHON) not found: install Python 3.10 or later (the tests run Schemathesis and check webhook signatures with Python packages)" >&2; \
	    exit 1; }; \
	  $(call apt_install_unless,$(PYTHON) -m venv --help >/dev/null 2>&1 && $(PYTHON) -c 'import ensurepip' >/dev/null 2>&1,python3-venv,python3-venv,$(PYTHON) cannot make virtual environments); \
	  echo "setup: installing $(PY_REQUIREMENTS) into $(VENV)/ (the tests' Python tools)"; \
	  [[ -x $(VENV)/bin/python ]] || $(PYTHON) -m venv $(VENV); \
	  $(VENV)/bin/pip install --quiet --disable-pip-version-check -r $(PY_REQUIREMENTS); \
	  cp $(PY_REQUIREMENTS) $(VENV)/.requirements; \
	fi
	@echo "setup: ok ($(WASM_TARGET) target, $$(redis-server --version | awk '{ print $$1, $$2, $$3 }'), $$($(CHROMIUM_COMMAND) --version 2>/dev/null | head -1), $(VENV) with $(PY_REQUIREMENTS))"

setup-app: ## Install what running the app needs: the wasm32-wasip2 Rust target, redis-server and curl (apt-get)
	@command -v $(CARGO) >/dev/null 2>&1 || { \
	  echo "setup: '$(CARGO)' not found. Install Rust with rustup (https://rustup.rs) and run 'make setup' again." >&2; \
	  exit 1; }
	@if command -v $(RUSTUP) >/dev/null 2>&1; then \
	  if ! $(RUSTUP) target list --installed | grep -qx '$(WASM_TARGET)'; then \
	    echo "setup: adding the Rust target $(WASM_TARGET)"; \
	    $(RUSTUP) target add $(WASM_TARGET); \
	  fi; \
	elif [[ ! -d "$$(rustc --print sysroot)/lib/rustlib/$(WASM_TARGET)" ]]; then \
	  echo "setup: the Rust target $(WASM_TARGET) is missing and there is no rustup to add it." >&2; \
	  exit 1; \
	fi
	@$(call apt_install,redis-server,redis-server,Redis 7 or later)
	@$(call apt_install,curl,curl,curl (make up makes the development key with it))

# The native crates are built exactly as `cargo test` builds them (the
# workspace's default members, same features), so the tests reuse this build.
build: ## Build the devhost (release) and the .wasm components and fixtures
	$(CARGO) build --release
	$(CARGO) build --target $(WASM_TARGET) --profile $(COMPONENT_PROFILE) $(WASM_PACKAGES)

# Before anything is installed or built: is the address free?
listen-free:
	@listen='$(LISTEN)'; host=$${listen%:*}; host=$${host#[}; host=$${host%]}; \
	if ( exec 3<>/dev/tcp/$$host/$${listen##*:} ) 2>/dev/null; then \
	  echo "up: something already listens on $(LISTEN) (another make up?): stop it, or run make up LISTEN=127.0.0.1:3001" >&2; \
	  exit 1; \
	fi

up: listen-free setup-app build ## Run the app on 127.0.0.1:3000 (Spin if on PATH, else the devhost) with Redis
	@mkdir -p $(REDIS_DIR)
	@if $(redis_answers); then \
	  echo "up: using the Redis already answering at $(REDIS_HOST):$(REDIS_PORT)"; \
	else \
	  echo "up: starting redis-server on $(REDIS_HOST):$(REDIS_PORT), data in $(REDIS_DIR)/"; \
	  redis-server --port $(REDIS_PORT) --bind $(REDIS_HOST) --daemonize yes \
	    --dir "$(abspath $(REDIS_DIR))" --appendonly yes \
	    --pidfile "$(abspath $(REDIS_DIR))/redis.pid" \
	    --logfile "$(abspath $(REDIS_DIR))/redis.log"; \
	  for _ in $$(seq 100); do $(redis_answers) && break; sleep 0.1; done; \
	  $(redis_answers) || { echo "up: redis-server did not answer; see $(REDIS_DIR)/redis.log" >&2; exit 1; }; \
	fi
	@if [[ ! -s $(ADMIN_TOKEN_FILE) ]]; then \
	  (umask 077; head -c 32 /dev/urandom | base64 | tr -d '/+=\n' > $(ADMIN_TOKEN_FILE)); \
	  echo "up: generated the admin token (the variable admin_token) in $(ADMIN_TOKEN_FILE)"; \
	fi
	@export SPIN_VARIABLE_ADMIN_TOKEN="$$(cat $(ADMIN_TOKEN_FILE))"; \
	if [[ -n "$(SPIN)" ]]; then \
	  run=($(SPIN) up --listen $(LISTEN) --runtime-config-file $(RUNTIME_CONFIG) $(ARGS)); \
	else \
	  run=($(DEVHOST) up -f spin.toml --listen $(LISTEN) --runtime-config-file $(RUNTIME_CONFIG) $(ARGS)); \
	fi; \
	echo "up: $${run[*]}"; \
	"$${run[@]}" & pid=$$!; \
	trap 'kill -TERM $$pid 2>/dev/null; wait $$pid; echo "up: stopped; Redis goes on with the queue (make clean stops it and removes .spin/)"' INT TERM; \
	if command -v curl >/dev/null 2>&1; then \
	  for _ in $$(seq 1200); do \
	    curl -sf -o /dev/null http://$(LISTEN)/healthz && break; \
	    kill -0 $$pid 2>/dev/null || break; sleep 0.1; \
	  done; \
	  if kill -0 $$pid 2>/dev/null; then \
	    AJ_URL=http://$(LISTEN) scripts/admin dev-setup || echo "up: no development key (see above); the admin API is at /admin with the token in $(ADMIN_TOKEN_FILE)" >&2; \
	  fi; \
	else \
	  echo "up: curl not found, so no development key was made; install curl and run scripts/admin dev-setup" >&2; \
	fi; \
	wait $$pid

# The admin API from a terminal, e.g. `make admin CMD='issue-key acme'` (scripts/admin).
admin: ## Manage tenants and API keys of the running app: make admin CMD='issue-key dev'
	@AJ_URL=http://$(LISTEN) scripts/admin $(CMD)

# Unit tests of every native crate first (fast, no processes), then the
# integration and end-to-end tests (a redis-server and a runtime per test) on the
# devhost, then the runtime-facing suites again on real Spin when one is found
# (SPIN_FOR_TESTS): the end-to-end and reliability suites, and the devhost's own
# black-box suite, which pins every difference docs/devhost.md lists.
# One feature set throughout, so nothing is built twice. The doc tests are the
# walk-through of docs/kinds.md (jobs-core's only doc test).
test: setup build ## Run all tests: unit, integration and end-to-end on the devhost, then again on real Spin if found
	$(CARGO) test --release --lib --bins
	$(CARGO) test --release --doc -p jobs-core
	SPIN_BIN= RUST_TEST_THREADS=$(TEST_THREADS) $(CARGO) test --release --test '*'
	@if [[ -z "$(SPIN_FOR_TESTS)" ]]; then \
	  echo "test: no Spin binary (SPIN_BIN, spin on PATH, ../shared/tools/spin): skipping the pass on real Spin"; \
	else \
	  echo "test: second pass on real Spin: $(SPIN_FOR_TESTS) ($$($(SPIN_FOR_TESTS) --version))"; \
	  SPIN_BIN="$(SPIN_FOR_TESTS)" RUST_TEST_THREADS=$(TEST_THREADS) \
	    $(CARGO) test --release --test e2e --test reliability --test devhost; \
	fi

# docs/openapi.json is generated from the code (jobs_core::openapi); a unit test fails
# while it is out of date.
openapi: ## Write docs/openapi.json again from the code (after changing a route, kind or type)
	OPENAPI_WRITE=1 $(CARGO) test --release -p jobs-core --lib openapi::tests::the_checked_in_description_is_the_generated_one

screenshots: setup build ## Take the README's dashboard screenshots again (docs/screenshots/), on the devhost
	SPIN_BIN= SCREENSHOTS_WRITE=1 $(CARGO) test --release --test e2e the_dashboard_works_in_a_real_browser

lint: ## Check formatting and clippy (native and wasm), warnings are errors
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy --release --all-targets -- -D warnings
	$(CARGO) clippy --target $(WASM_TARGET) --profile $(COMPONENT_PROFILE) $(WASM_PACKAGES) $(addprefix -p ,$(BENCH_PACKAGES)) -- -D warnings

fmt: ## Format all code
	$(CARGO) fmt --all

clean: ## Remove build outputs and local state (.spin/); stops a Redis that `make up` started
	@if [[ -f $(REDIS_DIR)/redis.pid ]] && kill -0 "$$(cat $(REDIS_DIR)/redis.pid)" 2>/dev/null \
	  && [[ "$$(cat /proc/$$(cat $(REDIS_DIR)/redis.pid)/comm 2>/dev/null)" == redis-server ]]; then \
	  echo "clean: stopping the redis-server started by make up (pid $$(cat $(REDIS_DIR)/redis.pid))"; \
	  kill "$$(cat $(REDIS_DIR)/redis.pid)"; \
	fi
	$(CARGO) clean
	rm -rf .spin

# ----- Benchmark (issue 5; see bench/README.md) -------------------------------
# `make bench` starts its own redis-server and the app (the devhost, or SPIN_BIN),
# runs every scenario and writes bench/results/<date>-<runtime>.{md,json,png}.
# BENCH_QUICK=1 runs the one-minute version (files named ...-quick).
BENCH_PACKAGES ?= bench-sync
BENCH_ARGS ?=

.PHONY: bench
bench: setup build ## Benchmark into bench/results/ (BENCH_QUICK=1: ~1 minute; SPIN_BIN: another runtime)
	$(CARGO) build --target $(WASM_TARGET) --profile $(COMPONENT_PROFILE) $(addprefix -p ,$(BENCH_PACKAGES))
	BENCH_COMMAND="$(strip $(if $(BENCH_QUICK),BENCH_QUICK=$(BENCH_QUICK)) $(if $(SPIN_BIN),SPIN_BIN=$(SPIN_BIN)) make bench $(if $(BENCH_ARGS),BENCH_ARGS='$(BENCH_ARGS)'))" \
	  $(TARGET_DIR)/release/bench $(BENCH_ARGS)
