#!/usr/bin/env bash
# Recomputes every rollup from the raw responses (the aggregate function's admin invocation):
#   make rebuild    (needs make dev running; it reads .local/dev.env)
# Deployed, the same payload: aws lambda invoke --function-name <AggregateFunction> \
#   --cli-binary-format raw-in-base64-out --payload '{"rebuild":true}' /dev/stdout
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
[ -f "$root/.local/dev.env" ] || { echo "start make dev first" >&2; exit 1; }
set -a; source "$root/.local/dev.env"; set +a
curl -sS --max-time 900 -X POST "$NPS_FUNCTIONS_URL/2015-03-31/functions/aggregate/invocations" -d '{"rebuild":true}'
echo
