#!/usr/bin/env bash
# What `make test` runs after the installs: format, lint, template validation, then every test
# against DynamoDB Local and the local SES, started here and stopped on every exit path.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
cd "$ROOT"
export SAM_CLI_TELEMETRY=0 AWS_DEFAULT_REGION=${AWS_DEFAULT_REGION:-us-east-1}

step() { printf '\n\033[1m== %s\033[0m\n' "$*" >&2; }

step "cargo fmt --check"
cargo fmt --all --check

step "cargo clippy -D warnings"
cargo clippy --workspace --all-targets --locked -- -D warnings

step "sam validate --lint"
"$LOCAL/venv/bin/sam" validate --lint --template template.yaml

step "cfn-lint"
"$LOCAL/venv/bin/cfn-lint" template.yaml

# Any failed check fails the run; a check that does not fit the design is skipped in the template
# with its reason, and check-template.py makes sure every skip gives one. Offline: no download.
step "checkov (security scan of the template)"
"$LOCAL/checkov/bin/checkov" --file template.yaml --framework cloudformation --compact --quiet --skip-download

# One invocation: with the tests in it, the binaries are built with the same dependency features
# as the tests, so there is one copy of the dependencies in target/, not one per command.
step "build the tests and the function binaries"
cargo build --workspace --locked --bins --tests
export NPS_WORKSPACE_BUILT=1

step "template checks the linters miss (cycles; least privilege against what each binary calls)"
"$LOCAL/venv/bin/python" infra/scripts/check-template.py
step "the crate graph (functions depend on shared crates; nothing but the tests on a function)"
"$LOCAL/venv/bin/python" infra/scripts/check-crates.py

step "tests, against DynamoDB Local and the local SES; then the function binaries end to end"
log_file=$(mktemp)
trap 'rm -f "$log_file"' EXIT
status=0
"$ROOT/infra/scripts/with-stack.sh" bash -c \
  'cargo test --workspace --locked --lib --bins --tests && "$0"/smoke.sh' "$ROOT/infra/scripts" 2>&1 | tee "$log_file" || status=$?
# One closing line for the whole run: every cargo test binary and the smoke checks, added up.
awk '/^test result:/ { p += $4; f += $6 } /^smoke: / { p += $2; f += $4 }
     END { printf "summary: %d passed, %d failed\n", p, f }' "$log_file"
exit $status
