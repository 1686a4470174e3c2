# verify-image-signatures: a Kubewarden policy (Rust → wasm32-wasip1) plus its local host `kwrun`.
SHELL := /bin/bash
WASM_TARGET := wasm32-wasip1
CARGO_TARGET_DIR ?= $(CURDIR)/target
export CARGO_TARGET_DIR
RAW_WASM := $(CARGO_TARGET_DIR)/$(WASM_TARGET)/release/verify_image_signatures.wasm
KWRUN := $(CARGO_TARGET_DIR)/host/kwrun
POLICY_BENCH := $(CARGO_TARGET_DIR)/host/policy-bench
# The established verify-image-signatures policy, the thing to beat (see ../shared/anchors).
ESTABLISHED_WASM ?= $(CURDIR)/../shared/anchors/established-verify-image-signatures-1.0.11.wasm
# Every policy server downloads it: 640 KiB at most (a third of the established module), spent
# only where a benchmark shows it buys speed.
SIZE_BUDGET := 655360
# Rust >= 1.87 emits these features for wasm32-wasip1; Debian's wasm-opt needs them enabled.
WASM_OPT_FEATURES := --enable-bulk-memory --enable-sign-ext --enable-mutable-globals \
	--enable-nontrapping-float-to-int --enable-multivalue --enable-reference-types
# -Oz to a fixed point, with control flow flattened and re-laid out in between: 4 KiB smaller
# than a single -Oz, and as fast (make bench).
WASM_OPT_PASSES := -Oz --converge --flatten --rereloop -Oz --converge
SOURCES := $(shell find src -name '*.rs') Cargo.toml Cargo.lock

KWRUN_SOURCES := $(shell find kwrun/src e2e-tests/fixtures/signer/src -name '*.rs') \
	kwrun/Cargo.toml e2e-tests/fixtures/signer/Cargo.toml Cargo.lock

# Real Kubewarden hosts to run the e2e suite under as well: KWCTL=/path/to/kwctl, or every
# kwctl under ../shared/tools/kwctl/<version>/.
KWCTLS := $(or $(KWCTL),$(wildcard $(CURDIR)/../shared/tools/kwctl/*/kwctl))
# Kubewarden's policy-server, the host a cluster runs, for the e2e leg that sends it
# AdmissionReviews over HTTP (e2e-tests/policy-server/).
POLICY_SERVER ?= $(CURDIR)/../shared/tools/policy-server/1.36.0-beta.1/policy-server

.PHONY: all deps test unit-tests e2e-tests e2e-tests-kwctl e2e-tests-policy-server lint lint-workflows \
	fmt fmt-check doc fuzz-build clean run bench load load-faults fuzz check-size kwrun release \
	release-deps

all: policy.wasm

# What the build and the tests need (packages, the pinned toolchain), checked before any long
# build; installed when run as root, else the exact command is printed.
deps:
	@scripts/deps

# Only the cdylib is built for Wasm: the rlib crate type (for native tests) would cost ~80 KiB.
# Panic locations name source files: the machine's paths are remapped away (a smaller module
# that does not depend on where it was built); crate sources are fetched first so their
# directories exist to be named.
policy.wasm: $(SOURCES)
	@rustup target list --installed 2>/dev/null | grep -qx $(WASM_TARGET) || rustup target add $(WASM_TARGET)
	cargo fetch --locked -q
	flags="--remap-path-prefix=$(CURDIR)=."; \
	for src in "$${CARGO_HOME:-$$HOME/.cargo}"/registry/src/*/; do \
		flags="$$flags --remap-path-prefix=$${src%/}=crates"; done; \
	CARGO_TARGET_WASM32_WASIP1_RUSTFLAGS="$$flags" \
		cargo rustc --locked --release --target $(WASM_TARGET) -p verify-image-signatures --crate-type cdylib
	wasm-opt $(WASM_OPT_PASSES) $(WASM_OPT_FEATURES) --strip-debug --strip-producers $(RAW_WASM) -o policy.wasm
	@echo "policy.wasm: $$(stat -c %s policy.wasm) bytes ($$(( $$(stat -c %s policy.wasm) / 1024 )) KiB; budget $$(( $(SIZE_BUDGET) / 1024 )) KiB)"
	@size=$$(stat -c %s policy.wasm); if [ $$size -gt $(SIZE_BUDGET) ]; then \
		echo "policy.wasm is $$size bytes, over the $(SIZE_BUDGET)-byte budget" >&2; rm -f policy.wasm; exit 1; fi

check-size: policy.wasm

# The host-side binaries (kwrun, the fixture signer), only rebuilt when a host-side source
# changed. For the tests every workspace target is built at once, so the unit tests and the
# binaries share one build (dev-dependencies change features, so building the binaries alone
# would compile their dependencies a second time); `make run` builds only the binaries.
KWRUN_BUILD := --workspace --all-targets
$(KWRUN): $(KWRUN_SOURCES) $(SOURCES)
	cargo build --locked --profile host $(KWRUN_BUILD)
	@touch $@

kwrun: $(KWRUN)

# Guest time per `validate`, this policy against the established one, same requests, same
# instant fake host, interleaved in one process (kwrun/src/bin/policy-bench/); see
# docs/performance.md.
bench: policy.wasm $(KWRUN)
	@[ -f "$(ESTABLISHED_WASM)" ] || { echo "bench: $(ESTABLISHED_WASM) not found (set ESTABLISHED_WASM)" >&2; exit 1; }
	$(POLICY_BENCH) policy.wasm $(ESTABLISHED_WASM)

# Where it is deployed: this policy, the established one and two floors (do-nothing; the same
# host calls and accept) side by side in one policy-server, interleaved `hey` rounds, a cold
# start; `load-faults`: the registry stopped under load, a registry that never answers
# (scripts/load, docs/performance.md). policy-server refuses unannotated modules, so the
# established policy is its annotated copy unless ESTABLISHED_WASM is given; with LOAD_POLICY
# given, nothing is built.
LOAD_POLICY ?= $(CURDIR)/annotated-policy.wasm
LOAD_ESTABLISHED := $(if $(filter command line environment,$(origin ESTABLISHED_WASM)),$(ESTABLISHED_WASM),$(CURDIR)/../shared/anchors/established-verify-image-signatures-1.0.11-annotated.wasm)
LOAD_DEPS := $(if $(filter command line environment,$(origin LOAD_POLICY)),,annotated-policy.wasm)
LOAD_ENV = POLICY_SERVER="$(POLICY_SERVER)" LOAD_POLICY="$(LOAD_POLICY)" ESTABLISHED_WASM="$(LOAD_ESTABLISHED)" KWRUN="$(KWRUN)"
load: $(LOAD_DEPS)
	$(LOAD_ENV) scripts/load

load-faults: $(LOAD_DEPS)
	$(LOAD_ENV) scripts/load --faults

# Fuzzing (nightly + cargo-fuzz, outside the default build): every target for FUZZ_SECONDS
# each, starting from the committed seeds; a crash stops the run and leaves its input under
# fuzz/artifacts/<target>/ (commit it as a regression test). See docs/fuzzing.md.
FUZZ_TARGETS ?= settings image_ref validate
FUZZ_SECONDS ?= 600
fuzz:
	@command -v cargo-fuzz >/dev/null || { echo "fuzz: cargo install cargo-fuzz (needs a nightly toolchain)" >&2; exit 1; }
	cd fuzz && for target in $(FUZZ_TARGETS); do \
		mkdir -p corpus/$$target && \
		cargo +nightly fuzz run -O $$target corpus/$$target seeds/$$target -- \
			-max_total_time=$(FUZZ_SECONDS) -print_final_stats=1 || exit 1; \
	done

annotated-policy.wasm: policy.wasm metadata.yml README.md $(KWRUN)
	$(KWRUN) annotate -m metadata.yml -u README.md -o annotated-policy.wasm policy.wasm

# Native tests of every crate: the policy's logic, the kwrun host, the fixture signer. The host
# profile shares its compiled dependencies with the kwrun and fixture-signer binaries.
# --all-targets builds the kwrun and fixture-signer binaries too, with the same features as the
# tests, so the e2e suite after it needs no second build of their dependencies.
unit-tests:
	cargo test --locked --profile host --workspace --all-targets

# `bats e2e-tests/` runs the files of that directory only: the policy-server leg in
# e2e-tests/policy-server/ starts its own host, so it runs once, under its own target.
e2e-tests: annotated-policy.wasm
	KWRUN_BIN=$(KWRUN) KWCTL= bats e2e-tests/

# The same suite under each real kwctl found. Without one it says so and skips, unless
# REQUIRE_KWCTL=1 (CI), which makes that a failure.
e2e-tests-kwctl: annotated-policy.wasm
	@if [ -z "$(strip $(KWCTLS))" ]; then \
		echo "e2e-tests-kwctl: SKIPPED, no kwctl found (set KWCTL=/path/to/kwctl)" >&2; \
		[ -z "$(REQUIRE_KWCTL)" ] || exit 1; exit 0; fi
	@for kwctl in $(KWCTLS); do \
		echo "== e2e suite under $$("$$kwctl" --version 2>/dev/null | head -n1) ($$kwctl)"; \
		KWCTL="$$kwctl" KWRUN_BIN=$(KWRUN) bats e2e-tests/ || exit 1; \
	done

# The annotated module in a real policy-server, AdmissionReviews over HTTP. Without the binary
# it says so and skips, unless REQUIRE_POLICY_SERVER=1 (CI), which makes that a failure.
e2e-tests-policy-server: annotated-policy.wasm
	@if [ ! -x "$(POLICY_SERVER)" ]; then \
		echo "e2e-tests-policy-server: SKIPPED, no policy-server at $(POLICY_SERVER) (set POLICY_SERVER=/path/to/policy-server)" >&2; \
		[ -z "$(REQUIRE_POLICY_SERVER)" ] || exit 1; \
	else \
		echo "== e2e policy-server leg under $$("$(POLICY_SERVER)" --version | head -n1) ($(POLICY_SERVER))"; \
		POLICY_SERVER="$(POLICY_SERVER)" bats e2e-tests/policy-server/; \
	fi

# Cheap checks first, then the builds (clippy and docs reuse what the unit tests compiled).
test: deps lint-workflows fmt-check check-size unit-tests lint doc fuzz-build e2e-tests \
	e2e-tests-kwctl e2e-tests-policy-server

# The GitHub workflows, with shellcheck on their run: blocks (actionlint skips that check without
# saying so when shellcheck is missing, so its absence is an error here). scripts/deps installs
# both.
lint-workflows:
	@command -v shellcheck >/dev/null || { echo "lint-workflows: shellcheck not found (make deps)" >&2; exit 1; }
	actionlint -shellcheck=shellcheck .github/workflows/*.yml
	shellcheck scripts/deps .ci/run .github/scripts/install-kwctl
	shellcheck -x scripts/load scripts/load.d/faults.bash

# A release, all in $(RELEASE_DIR): the annotated module, its SHA-256 (sha256sum format), a
# CycloneDX SBOM of the crates compiled into the module, and the Artifact Hub metadata. The
# version is Cargo.toml's: metadata.yml, artifacthub-pkg.yml and CHANGELOG.md must state the same
# (tests/metadata_consistency.rs; checked here too, cheaply, in case the tests were not run), and
# RELEASE_TAG, when given (the release workflow passes its git tag), must be v<version>.
RELEASE_DIR ?= $(CURDIR)/release
VERSION := $(shell sed -n '/^\[package\]/,/^\[/s/^version *= *"\(.*\)"/\1/p' Cargo.toml)
RELEASE_TAG ?=
SBOM := verify-image-signatures-$(VERSION).cdx.json

release-deps:
	@scripts/deps release
	@[ -z "$(RELEASE_TAG)" ] || [ "$(RELEASE_TAG)" = "v$(VERSION)" ] || { \
		echo "release: tag $(RELEASE_TAG) is not v$(VERSION), Cargo.toml's version" >&2; exit 1; }
	@for stated in "metadata.yml:$$(sed -n 's/^ *io.kubewarden.policy.version: *//p' metadata.yml)" \
		"artifacthub-pkg.yml:$$(sed -n 's/^version: *//p' artifacthub-pkg.yml)"; do \
		[ "$${stated#*:}" = "$(VERSION)" ] || { echo "release: $${stated%%:*} says version" \
			"$${stated#*:}, Cargo.toml says $(VERSION)" >&2; exit 1; }; done

# The SBOM: the policy crate's dependencies for the Wasm target, build-dependencies left out.
# cargo-cyclonedx has no package selection: it writes one SBOM beside each workspace member's
# Cargo.toml, so the host crates' are deleted. Its features come from cargo's workspace-wide
# resolution, so it lists a few crates that only other members' features pull in: a superset.
release: release-deps annotated-policy.wasm
	mkdir -p $(RELEASE_DIR)
	rm -f $(RELEASE_DIR)/annotated-policy.wasm* $(RELEASE_DIR)/*.cdx.json $(RELEASE_DIR)/artifacthub-pkg.yml
	cp annotated-policy.wasm artifacthub-pkg.yml $(RELEASE_DIR)/
	cd $(RELEASE_DIR) && sha256sum annotated-policy.wasm > annotated-policy.wasm.sha256
	SOURCE_DATE_EPOCH=$$(git log -1 --format=%ct 2>/dev/null || date +%s) \
		cargo cyclonedx --manifest-path Cargo.toml --format json --spec-version 1.5 \
		--target $(WASM_TARGET) --no-build-deps --override-filename verify-image-signatures-sbom
	mv verify-image-signatures-sbom.json $(RELEASE_DIR)/$(SBOM)
	rm -f kwrun/verify-image-signatures-sbom.json e2e-tests/fixtures/signer/verify-image-signatures-sbom.json
	@echo "release v$(VERSION) in $(RELEASE_DIR):"; ls -l $(RELEASE_DIR)

run: KWRUN_BUILD := -p kwrun -p fixture-signer --bins
run: deps annotated-policy.wasm
	KWRUN_BIN=$(KWRUN) e2e-tests/demo

# The host profile, so clippy reuses what `make test` built instead of a second dev build.
# artifacthub-pkg.yml's annotations are generated from metadata.yml and questions-ui.yml
# (tests/metadata_consistency.rs fails when they drift).
artifacthub-pkg.yml: metadata.yml questions-ui.yml
	UPDATE_ARTIFACTHUB=1 cargo test --locked --profile host -p verify-image-signatures --test metadata_consistency \
		artifacthub_annotations_are_generated

lint:
	cargo clippy --locked --profile host --workspace --all-targets -- -D warnings

# The source is formatted (the workspace and the fuzz targets, which live outside it).
fmt-check:
	cargo fmt --all --check
	cargo fmt --manifest-path fuzz/Cargo.toml --check

# The API docs build without a warning (broken intra-doc links, bad code blocks): the module
# docs are where the pipeline is explained.
doc:
	RUSTDOCFLAGS="-D warnings" cargo doc --locked --profile host --workspace --no-deps --document-private-items

# The fuzz targets still build (they live outside the workspace, so nothing else compiles
# them); with the pinned stable toolchain and no sanitizer: `make fuzz` runs them on nightly.
fuzz-build:
	cargo build --locked --manifest-path fuzz/Cargo.toml --release --target-dir $(CARGO_TARGET_DIR)/fuzz

fmt:
	cargo fmt --all
	cargo fmt --manifest-path fuzz/Cargo.toml

clean:
	cargo clean
	rm -f policy.wasm annotated-policy.wasm
	rm -rf release
