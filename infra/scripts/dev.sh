#!/usr/bin/env bash
# `make dev`: the local stack for working by hand, until Ctrl-C.
#   DynamoDB Local (data kept in .local/dynamodb), the local SES with its web inbox, every function
#   under `cargo lambda watch` (rebuilt on change), and the dispatch schedule as a loop.
# Writes every URL and demo secret to .local/dev.env (KEY=value lines; `source` it).
set -euo pipefail
source "$(dirname "$0")/lib.sh"
cd "$ROOT"

trap stop_started EXIT
trap 'log "stopping"; exit 0' INT
trap 'exit 143' TERM

# The usual ports when they are free, so bookmarks keep working; free ones otherwise.
port_or_free() { if (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; then free_port; else echo "$1"; fi; }
DISPATCH_EVERY=${NPS_DISPATCH_EVERY:-30}
TICK_EVERY=${NPS_TICK_EVERY:-60}

mkdir -p "$LOCAL/logs"
# Demo secrets are made once and kept, so links in old emails keep working across restarts.
secrets="$LOCAL/dev-secrets.env"
if [ ! -f "$secrets" ]; then
  cat >"$secrets" <<ENV
NPS_PERSON_KEY=$(random_secret)
NPS_TOKEN_KEYS=1:$(random_secret)
NPS_WEBHOOK_SECRET_GENERIC=$(random_secret)
NPS_WEBHOOK_SECRET_SHOPIFY=$(random_secret)
NPS_WEBHOOK_SECRET_STRIPE=$(random_secret)
NPS_WEBHOOK_SECRET_HUBSPOT=$(random_secret)
ENV
fi
set -a; source "$secrets"; set +a

dynamodb_port=$(port_or_free 8000)
start_dynamodb "$dynamodb_port" "$LOCAL/logs/dynamodb.log" "$LOCAL/dynamodb"
ses_port=$(port_or_free 8005)
start_ses "$ses_port" "$LOCAL/logs/ses.log"
export_stack_env "$dynamodb_port" "$ses_port" nps
ensure_table nps
previous_key=$(sed -n 's/^NPS_API_KEY=//p' "$LOCAL/dev.env" 2>/dev/null || true)
seeded=$("$ROOT/target/debug/nps-local-stack" seed --name nps --api-key "$previous_key") || die "seeding failed"
eval "export $(echo "$seeded" | tr '\n' ' ')"

functions_port=$(port_or_free 9000)
functions="http://127.0.0.1:$functions_port"
export NPS_TRIGGER_URL="$functions/lambda-url/trigger"
export NPS_CAPTURE_URL="$functions/lambda-url/capture"
export NPS_API_URL="$functions/lambda-url/api"
export NPS_TRIGGER_BASE_URL="$NPS_TRIGGER_URL" NPS_CAPTURE_BASE_URL="$NPS_CAPTURE_URL"
# Alerts (detractors, drops) land in the local inbox too.
export NPS_ALERT_EMAILS=${NPS_ALERT_EMAILS:-cx@example.com} NPS_ALERT_FROM=${NPS_ALERT_FROM:-NPS alerts <alerts@example.com>}
# A detractor's alert links to the answer's page on the dashboard.
export NPS_DASHBOARD_URL="$NPS_API_URL/dashboard"
# A cadence's day lasts a minute here, so a list's waves can be watched going out (make demo);
# deployed, a day is a day. NPS_CADENCE_DAY_SECONDS=86400 make dev for real days.
export NPS_CADENCE_DAY_SECONDS=${NPS_CADENCE_DAY_SECONDS:-60}
export RUST_LOG=${RUST_LOG:-info}
log "building the functions (the first time takes a few minutes)"
cargo build -q -p trigger -p dispatch -p capture -p aggregate -p api || die "building the functions failed"
PATH="$LOCAL/venv/bin:$PATH" setsid cargo lambda watch --invoke-address 127.0.0.1 --invoke-port "$functions_port" \
  >"$LOCAL/logs/functions.log" 2>&1 &
STARTED_PIDS+=($!)
wait_http "cargo lambda watch" "$functions/" $! 120 "$LOCAL/logs/functions.log"
# One base URL for every route, as API Gateway serves them deployed (the routes of template.yaml):
# what Delighted's clients and any other single-URL client are pointed at.
gateway_port=$(port_or_free 8080)
export NPS_BASE_URL="http://127.0.0.1:$gateway_port"
setsid "$ROOT/target/debug/nps-local-stack" gateway --port "$gateway_port" --functions "$functions" \
  >"$LOCAL/logs/gateway.log" 2>&1 &
STARTED_PIDS+=($!)
wait_http "the local gateway" "$NPS_BASE_URL/" $! 30 "$LOCAL/logs/gateway.log"

# The one-minute schedules, locally every $DISPATCH_EVERY s and $TICK_EVERY s: the same
# invocations EventBridge makes.
setsid bash -c "while sleep $DISPATCH_EVERY; do
  curl -s --max-time 120 -X POST '$functions/2015-03-31/functions/dispatch/invocations' -d '{}'; echo
done" >>"$LOCAL/logs/dispatch.log" 2>&1 &
STARTED_PIDS+=($!)
setsid bash -c "while sleep $TICK_EVERY; do
  curl -s --max-time 120 -X POST '$functions/2015-03-31/functions/aggregate/invocations' -d '{\"tick\": true}'; echo
done" >>"$LOCAL/logs/aggregate.log" 2>&1 &
STARTED_PIDS+=($!)
# The table's stream to the aggregate function, as the template's event source mapping does.
setsid "$ROOT/target/debug/nps-local-stack" pump --name "$NPS_TABLE" --functions "$functions" \
  >>"$LOCAL/logs/aggregate.log" 2>&1 &
STARTED_PIDS+=($!)

cat >"$LOCAL/dev.env" <<ENV
# Written by make dev; source it to talk to the local stack.
AWS_ENDPOINT_URL_DYNAMODB=$AWS_ENDPOINT_URL_DYNAMODB
AWS_ENDPOINT_URL_DYNAMODB_STREAMS=$AWS_ENDPOINT_URL_DYNAMODB_STREAMS
AWS_ENDPOINT_URL_SESV2=$AWS_ENDPOINT_URL_SESV2
AWS_ACCESS_KEY_ID=local
AWS_SECRET_ACCESS_KEY=local
AWS_REGION=us-east-1
AWS_DEFAULT_REGION=us-east-1
NPS_TABLE=$NPS_TABLE
NPS_INBOX_URL=$NPS_INBOX_URL
NPS_TRIGGER_URL=$NPS_TRIGGER_URL
NPS_CAPTURE_URL=$NPS_CAPTURE_URL
NPS_API_URL=$NPS_API_URL
NPS_DASHBOARD_URL=$NPS_API_URL/dashboard
NPS_DASHBOARD_SIGNED_IN_URL=$NPS_API_URL/dashboard?signin=$NPS_DASHBOARD_SIGN_IN
NPS_FUNCTIONS_URL=$functions
NPS_BASE_URL=$NPS_BASE_URL
NPS_CADENCE_DAY_SECONDS=$NPS_CADENCE_DAY_SECONDS
$seeded
$(cat "$secrets")
ENV

cat <<MSG

  The local stack is up (Ctrl-C stops it):

    Inbox (every email sent)   $NPS_INBOX_URL   (alerts go to $NPS_ALERT_EMAILS)
    Dashboard (signed in)      $NPS_API_URL/dashboard?signin=$NPS_DASHBOARD_SIGN_IN
                               (the link works for 12 hours; or sign in at $NPS_API_URL/dashboard with the demo key)
    Trigger API                $NPS_TRIGGER_URL/v1/triggers/generic   and  /v1/people
    Metrics API                curl -H "authorization: Bearer \$NPS_API_KEY" "$NPS_API_URL/v1/metrics?survey=default"
    One base URL (every route) $NPS_BASE_URL   (Delighted's clients: api_base_url = "$NPS_BASE_URL/v1/")
    DynamoDB Local             $AWS_ENDPOINT_URL_DYNAMODB   table: $NPS_TABLE
    Dispatch                   every ${DISPATCH_EVERY}s (log: .local/logs/dispatch.log); a list's "day" lasts ${NPS_CADENCE_DAY_SECONDS}s
    Aggregate                  as the stream delivers (log: .local/logs/aggregate.log); make rebuild recounts all
    URLs, demo key, secrets    .local/dev.env   (source .local/dev.env)
    Send a test purchase       infra/scripts/test-purchase.sh you@example.com  (a signed shop webhook; prints its curl)
    Or survey someone          curl -X POST "$NPS_TRIGGER_URL/v1/people" -H "authorization: Bearer $NPS_API_KEY" \\
                                 -H 'content-type: application/json' -d '{"email":"you@example.com","properties":{"product":"boots"}}'
                               (then click a score in the inbox)
    A month of demo data       make demo   (in another shell; on a fresh table: make dev-reset first)
                               (and a relationship list of 300 whose first wave goes out in a minute)

MSG

# Wait for Ctrl-C, or for a service to die.
while true; do
  for pid in "${STARTED_PIDS[@]}"; do
    kill -0 "$pid" 2>/dev/null || die "a service stopped unexpectedly; see .local/logs/"
  done
  sleep 1
done
