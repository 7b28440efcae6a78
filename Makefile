# The two commands of the README, and their parts.
SHELL := /bin/bash
.DEFAULT_GOAL := help

.PHONY: help install dev demo dev-reset test package bench bench-lambda bench-load faults freshness fuzz rebuild openapi-check

help:
	@echo "make dev    start the local stack (DynamoDB Local, local SES inbox, the functions) until Ctrl-C"
	@echo "make demo   (with make dev running) 35 days of answers and today's purchases, clicks and scanners"
	@echo "make test   format, lint, validate the template and run every test against the local stack"
	@echo "make package  sam build of every function (ARCH=x86_64, the default here; arm64 for deploys) and their sizes"
	@echo "make bench  run every benchmark (figures and commands in BENCHMARKS.md)"
	@echo "make bench-lambda  make package, then each bootstrap's init, memory and warm cost (a runtime API emulator)"
	@echo "make bench-load  trigger and capture under wrk for LOAD_SECONDS (60) each; nothing lost or duplicated"
	@echo "make faults  DynamoDB Local killed under load, the local SES stopped: nothing lost or sent twice"
	@echo "make fuzz   each fuzz target for FUZZ_SECONDS (60) seconds (cargo-fuzz, libFuzzer)"
	@echo "make rebuild  recount every rollup from the raw responses (needs make dev running)"
	@echo "make freshness  time answers to /v1/metrics and detractors to their alert (needs make dev running)"
	@echo "make openapi-check  fuzz every route against docs/openapi.yaml (needs make dev running)"

install:
	@infra/scripts/install.sh

dev: install
	@infra/scripts/dev.sh

rebuild:
	@infra/scripts/rebuild.sh

freshness:
	@infra/scripts/freshness.sh

# History written to the table, today's traffic through the real HTTP endpoints (docs/operations.md).
demo:
	@[ -f .local/dev.env ] || { echo "make demo needs make dev running (in another shell)"; exit 1; }
	@cargo build -q -p nps-local-stack
	@set -a; . .local/dev.env; set +a; target/debug/nps-local-stack demo --name "$$NPS_TABLE"
	@. .local/dev.env; echo "Now open $$NPS_DASHBOARD_SIGNED_IN_URL (Last 90 days, by product) and the inbox $$NPS_INBOX_URL"

# make test runs it too, with a fixed seed (smoke.sh); here against make dev, with a random one.
openapi-check: install
	@set -a; . .local/dev.env; set +a; infra/scripts/openapi-check.sh "$$NPS_FUNCTIONS_URL" "$$NPS_API_KEY"

dev-reset:
	rm -rf .local/dynamodb .local/dev.env

test:
	@infra/scripts/install.sh --browser
	@infra/scripts/test.sh

package: install
	@infra/scripts/package.sh

fuzz:
	@infra/scripts/install.sh --fuzz
	@infra/scripts/fuzz.sh

bench: install
	cargo bench -p nps-scoring
	infra/scripts/with-stack.sh cargo bench -p trigger --bench throughput
	infra/scripts/with-stack.sh cargo bench -p capture --bench latency
	infra/scripts/with-stack.sh cargo bench -p nps-aggregation --bench throughput
	infra/scripts/with-stack.sh cargo bench -p api --bench latency
	infra/scripts/with-stack.sh cargo bench -p nps-system-tests --bench lists
	$(MAKE) bench-lambda bench-load

bench-load: install
	@infra/scripts/install.sh --load
	infra/scripts/with-stack.sh cargo bench -p nps-system-tests --bench load

faults: install
	infra/scripts/faults.sh

bench-lambda: package
	PATH="$$PWD/.local/venv/bin:$$PATH" cargo lambda build --release -p nps-floor
	infra/scripts/with-stack.sh cargo bench -p nps-system-tests --bench cold_start
