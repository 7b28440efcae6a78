#!/usr/bin/env bash
# Sends one signed purchase to the local trigger API, as a shop would:
#   infra/scripts/test-purchase.sh you@example.com [product]
# Needs `make dev` running (it reads .local/dev.env). The survey email lands in the local inbox.
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
[ -f "$root/.local/dev.env" ] || { echo "start make dev first" >&2; exit 1; }
set -a; source "$root/.local/dev.env"; set +a
email=${1:?usage: test-purchase.sh EMAIL [PRODUCT]}
product=${2:-Trail Boots}
id="demo-$(date +%s)-$RANDOM"
body=$(printf '{"event_id":"%s","email":"%s","name":"Sam","transaction_id":"order-%s","properties":{"product":"%s","channel":"web"}}' \
  "$id" "$email" "$id" "$product")
t=$(date +%s)
signature=$(printf '%s.%s' "$t" "$body" | openssl dgst -sha256 -hmac "$NPS_WEBHOOK_SECRET_GENERIC" -r | cut -d' ' -f1)
# The signature (HMAC-SHA256 of "<t>.<body>" with the source's secret) is valid for 5 minutes.
echo "curl -sS '$NPS_TRIGGER_URL/v1/triggers/generic' -H 'content-type: application/json' \\
  -H 'x-nps-signature: t=$t,v1=$signature' -d '$body'" >&2
curl -sS "$NPS_TRIGGER_URL/v1/triggers/generic" -H 'content-type: application/json' \
  -H "x-nps-signature: t=$t,v1=$signature" -d "$body"
echo
