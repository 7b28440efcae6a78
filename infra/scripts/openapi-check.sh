#!/usr/bin/env bash
# A bounded property-based run of docs/openapi.yaml (schemathesis) against the functions served by
# `cargo lambda watch` at FUNCTIONS_URL (make dev; `make openapi-check` runs this): every
# operation of each function, examples, boundary cases and random inputs, valid and invalid. It
# fails on any 5xx and on any answer (status, content type, headers, body) the document does not
# describe. API_KEY (write scope) is sent to the api and people routes, as Bearer or, to
# Delighted's routes, as Basic.
#   usage: openapi-check.sh FUNCTIONS_URL API_KEY
# NPS_OPENAPI_EXAMPLES (default 30) bounds the cases per operation; NPS_SEED replays a run.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
[ $# -eq 2 ] || die "usage: openapi-check.sh FUNCTIONS_URL API_KEY"
functions=$1 key=$2
st="$LOCAL/openapi/bin/schemathesis"
[ -x "$st" ] || die "schemathesis is missing: run infra/scripts/install.sh"
seed=${NPS_SEED:-$RANDOM}
echo "openapi-check: seed $seed (NPS_SEED=$seed replays)"
status=0
# Outside the repository: cargo lambda watch restarts the functions when files in it change.
work=$(mktemp -d "${TMPDIR:-/tmp}/nps-openapi.XXXXXX")
trap 'rm -rf "$work"' EXIT
# Each function has its own URL under cargo lambda watch; API Gateway puts them under one host.
# One worker: with two, hypothesis (inside schemathesis) parses Python sources in two threads at
# once, which on CPython 3.11 intermittently stops the run ("AST constructor recursion depth
# mismatch", cpython#106905) before a request is sent.
# Each operation is tagged with the function that serves it.
for function in trigger capture api; do
  (cd "$work" && NPS_OPENAPI_KEY=$key SCHEMATHESIS_HOOKS=hooks PYTHONPATH="$ROOT/infra/openapi" \
    "$st" --config-file "$ROOT/infra/openapi/schemathesis.toml" run "$ROOT/docs/openapi.yaml" \
    --url "$functions/lambda-url/$function" --include-tag "$function" \
    --phases examples,coverage,fuzzing --max-examples "${NPS_OPENAPI_EXAMPLES:-30}" --seed "$seed" \
    --checks all --exclude-checks positive_data_acceptance \
    --request-timeout 30 --workers 1 --no-color --generation-database none) \
    || status=1
done
exit $status
