#!/usr/bin/env bash
# The real function binaries, wired as in Lambda (config from the environment, SDK clients, the
# runtime loop), behind `cargo lambda watch`'s Lambda APIs, against the stack that with-stack.sh
# started: a signed purchase lands one email in the local inbox and its score link opens the page and takes
# the answer, which aggregate folds and the metrics API counts; a forged one is refused, the people
# API schedules a survey and dispatch sends it; what the functions logged is JSON with one line per
# request and EMF counts, and holds no address or comment; the dashboard signs in; and a bounded property-based
# run of docs/openapi.yaml (schemathesis) finds every answer of every route as the document says.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
cd "$ROOT"
[ -n "${AWS_ENDPOINT_URL_DYNAMODB:-}" ] || die "smoke.sh runs inside with-stack.sh"

passed=0
failed=0
check() { # check NAME CONDITION-COMMAND...
  local name=$1; shift
  if "$@"; then passed=$((passed + 1)); printf 'smoke %s ... ok\n' "$name"
  else failed=$((failed + 1)); printf 'smoke %s ... FAILED\n' "$name"; fi
}

trap stop_started EXIT
run_dir=$(mktemp -d "${TMPDIR:-/tmp}/nps-smoke.XXXXXX")
export NPS_PERSON_KEY=$(random_secret) NPS_TOKEN_KEYS="1:$(random_secret)" NPS_WEBHOOK_SECRET_GENERIC=$(random_secret)
eval "export $("$ROOT/target/debug/nps-local-stack" seed --name "$NPS_TABLE" | tr '\n' ' ')"
port=$(free_port)
functions="http://127.0.0.1:$port"
export NPS_CAPTURE_BASE_URL="$functions/lambda-url/capture" NPS_TRIGGER_BASE_URL="$functions/lambda-url/trigger"
export NPS_ALERT_EMAILS="cx-smoke-$$@example.com" NPS_ALERT_FROM="alerts@example.com"
export NPS_DASHBOARD_URL="$functions/lambda-url/api/dashboard"
# A cadence's day lasts 10 s here, so make demo's list sends its first wave while it watches.
export NPS_CADENCE_DAY_SECONDS=10
# The binaries make test built (NPS_WORKSPACE_BUILT), run as they are: `cargo lambda watch` serves
# only Lambda's APIs here. Left to start them itself, it would build them again by package, with
# other dependency features: a second copy of the SDK's crates in target/ and minutes of compiling.
functions_list=(trigger dispatch capture aggregate api ses-events)
[ "${NPS_WORKSPACE_BUILT:-}" = 1 ] || cargo build -q "${functions_list[@]/#/--bin=}"
# JSON lines, as the template's `LoggingConfig` makes Lambda's runtime write them (read back below).
export AWS_LAMBDA_LOG_FORMAT=JSON
PATH="$LOCAL/venv/bin:$PATH" setsid cargo lambda watch --only-lambda-apis --invoke-address 127.0.0.1 \
  --invoke-port "$port" >"$run_dir/functions.log" 2>&1 &
STARTED_PIDS+=($!)
# Every other route waits for a function to take the call; a GET of a response route answers 405.
wait_http "cargo lambda watch" "$functions/.rt/_/2018-06-01/runtime/invocation/_/response" $! 120 "$run_dir/functions.log"
for name in "${functions_list[@]}"; do
  AWS_LAMBDA_RUNTIME_API="$functions/.rt/$name" AWS_LAMBDA_FUNCTION_NAME="$name" AWS_LAMBDA_FUNCTION_VERSION=1 \
    AWS_LAMBDA_FUNCTION_MEMORY_SIZE=128 setsid "$ROOT/target/debug/$name" >>"$run_dir/functions.log" 2>&1 &
  STARTED_PIDS+=($!)
done
# One base URL for every route, as API Gateway serves them (the routes of template.yaml).
gateway="http://127.0.0.1:$(free_port)"
"$ROOT/target/debug/nps-local-stack" gateway --port "${gateway##*:}" --functions "$functions" \
  >"$run_dir/gateway.log" 2>&1 &
STARTED_PIDS+=($!)
wait_http "the local gateway" "$gateway/" $! 30 "$run_dir/gateway.log"
# The table's stream to the aggregate function, as the template's event source mapping does.
"$ROOT/target/debug/nps-local-stack" pump --name "$NPS_TABLE" --functions "$functions" >"$run_dir/pump.log" 2>&1 &
STARTED_PIDS+=($!)

inbox_count() { # emails in the local inbox to $1
  curl -s "$NPS_INBOX_URL/store" | python3 -c 'import json,sys; print(sum(1 for e in json.load(sys.stdin)["emails"] if sys.argv[1] in e["destination"]["to"]))' "$1"
}
signed_post() { # signed_post BODY [SECRET]
  local t sig
  t=$(date +%s)
  sig=$(printf '%s.%s' "$t" "$1" | openssl dgst -sha256 -hmac "${2:-$NPS_WEBHOOK_SECRET_GENERIC}" -r | cut -d' ' -f1)
  curl -s -w '\n%{http_code}' --max-time 120 "$functions/lambda-url/trigger/v1/triggers/generic" \
    -H 'content-type: application/json' -H "x-nps-signature: t=$t,v1=$sig" -d "$1"
}

stamp="$(date +%s)-$$"
buyer="smoke-buyer-$stamp@example.com"
answer=$(signed_post "{\"event_id\":\"smoke-$stamp\",\"email\":\"$buyer\",\"transaction_id\":\"order-$stamp\"}")
check "a signed purchase is answered 202 sent" grep -q '"status":"sent"' <<<"$answer"
check "its email is in the inbox" [ "$(inbox_count "$buyer")" = 1 ]

forged=$(signed_post "{\"event_id\":\"forged-$stamp\",\"email\":\"x-$stamp@example.com\"}" "not-the-secret-at-all")
check "a forged purchase is answered 401" [ "$(tail -n 1 <<<"$forged")" = 401 ]

score_link() { # the score-9 link of the email to $1
  curl -s "$NPS_INBOX_URL/store" | python3 -c '
import json, re, sys
for e in json.load(sys.stdin)["emails"]:
    if sys.argv[1] in e["destination"]["to"]:
        print(re.search(r"http\S+/r/\S+\?score=9", e["body"]["text"]).group(0)); break' "$1"
}
link=$(score_link "$buyer")
check "the emailed score-9 link opens the page with 9 selected" \
  grep -q 'value="9" required checked' <<<"$(curl -s --max-time 120 -A 'Mozilla/5.0 smoke' "$link")"
confirmed=$(curl -s --max-time 60 -A 'Mozilla/5.0 smoke' -d 'score=9&comment=Quick+delivery' "${link%%\?*}")
check "confirming it thanks the person" grep -q 'role="status"' <<<"$confirmed"
counted() { # the metrics API counts the first answer: one promoter, NPS 100
  curl -s --max-time 60 "$functions/lambda-url/api/v1/metrics?survey=default" -H "authorization: Bearer $NPS_API_KEY" |
    grep -q '"n":1,.*"nps":100.0'
}
confirmed_at=$(date +%s%N)
for _ in $(seq 100); do counted && break; sleep 0.1; done
fresh_ms=$(( ($(date +%s%N) - confirmed_at) / 1000000 ))
check "the stream's pump hands the answer to the aggregate function, which folds it (${fresh_ms} ms)" counted
check "the pump and the function folded a batch" grep -q 'delivered: [1-9]' "$run_dir/pump.log"
rebuilt=$(curl -s --max-time 120 -X POST "$functions/2015-03-31/functions/aggregate/invocations" -d '{"rebuild":true}')
check "the admin invocation rebuilds the rollups as generation 2" grep -q '"generation":2' <<<"$rebuilt"
metrics=$(curl -s --max-time 60 "$functions/lambda-url/api/v1/metrics?survey=default" -H "authorization: Bearer $NPS_API_KEY")
check "the metrics API counts the answer: one promoter, NPS 100" grep -q '"n":1,.*"nps":100.0' <<<"$metrics"
listed=$(curl -s --max-time 60 "$functions/lambda-url/api/v1/responses?survey=default" -H "authorization: Bearer $NPS_API_KEY")
check "the responses API lists the answer with its comment" grep -q '"score":9,"category":"promoter","comment":"Quick delivery"' <<<"$listed"
critic="smoke-critic-$stamp@example.com"
signed_post "{\"event_id\":\"smoke-critic-$stamp\",\"email\":\"$critic\",\"transaction_id\":\"order-c-$stamp\"}" >/dev/null
critic_link=$(score_link "$critic")
curl -s --max-time 60 -A 'Mozilla/5.0 smoke' -d 'score=2&comment=Arrived+broken' "${critic_link%%\?*}" >/dev/null
answered_at=$(date +%s%N)
for _ in $(seq 100); do [ "$(inbox_count "$NPS_ALERT_EMAILS")" = 1 ] && break; sleep 0.1; done
alert_ms=$(( ($(date +%s%N) - answered_at) / 1000000 ))
check "a detractor's answer alerts ops by email as it is folded (${alert_ms} ms)" [ "$(inbox_count "$NPS_ALERT_EMAILS")" = 1 ]
alert_text=$(curl -s "$NPS_INBOX_URL/store" | python3 -c 'import json,sys; print(next(e["body"]["text"] for e in json.load(sys.stdin)["emails"] if sys.argv[1] in e["destination"]["to"]))' "$NPS_ALERT_EMAILS")
check "the alert links to the answer's page on the dashboard, to follow it up" \
  grep -Eq "^Follow it up: $NPS_DASHBOARD_URL\?response=[0-9A-Z]{26}$" <<<"$alert_text"
ticked=$(curl -s --max-time 120 -X POST "$functions/2015-03-31/functions/aggregate/invocations" -d '{"tick": true}')
check "the scheduled tick answers what it did" grep -q '"drops_checked"' <<<"$ticked"
erased=$(curl -s --max-time 60 -X DELETE "$functions/lambda-url/api/v1/people/${critic/@/%40}" -H "authorization: Bearer $NPS_API_KEY")
check "erasing the critic answers as every erasure does (docs/enps.md)" \
  grep -qx '{"status":"erased","complete":true}' <<<"$erased"
listed=$(curl -s --max-time 60 "$functions/lambda-url/api/v1/responses?survey=default" -H "authorization: Bearer $NPS_API_KEY")
check "their answer stays, counted, without its comment" \
  bash -c 'grep -q "\"score\":2,\"category\":\"detractor\",\"comment\":null" <<<"$1" && ! grep -q "Arrived broken" <<<"$1"' _ "$listed"

later="smoke-later-$stamp@example.com"
scheduled=$(curl -s --max-time 60 "$functions/lambda-url/trigger/v1/people" -H "authorization: Bearer $NPS_API_KEY" \
  -H 'content-type: application/json' -d "{\"email\":\"$later\",\"delay\":1}")
check "the people API schedules a delayed survey" grep -q '"status":"scheduled"' <<<"$scheduled"
sleep 2
report=$(curl -s --max-time 120 -X POST "$functions/2015-03-31/functions/dispatch/invocations" -d '{}')
check "the dispatch invocation sends it" grep -q '"sent":1' <<<"$report"
check "its email is in the inbox" [ "$(inbox_count "$later")" = 1 ]
check "the functions log JSON: a line per request, EMF counts, no address or comment" \
  python3 infra/scripts/check-logs.py "$run_dir/functions.log" "$buyer" "$critic" "$later" "Quick delivery" "Arrived broken"

dashboard="$functions/lambda-url/api/dashboard"
signed_in=$(curl -s --max-time 60 -L -c "$run_dir/cookies" -b "$run_dir/cookies" \
  --data-urlencode action=sign-in --data-urlencode "key=$NPS_API_KEY" "$dashboard?range=7")
check "the dashboard signs in with the API key and shows the trend" grep -q '<svg class="trend"' <<<"$signed_in"

# The dispatch schedule, every 2 s while the demo watches its list's first wave.
setsid bash -c "while sleep 2; do curl -s --max-time 60 -X POST '$functions/2015-03-31/functions/dispatch/invocations' -d '{}' >/dev/null; done" &
dispatching=$!
STARTED_PIDS+=($dispatching)
demo=$(NPS_TRIGGER_URL="$functions/lambda-url/trigger" NPS_API_URL="$functions/lambda-url/api" \
  "$ROOT/target/debug/nps-local-stack" demo --name "$NPS_TABLE" --days 10 --per-day 6 --live 5 --members 20 2>&1) || true
kill -- -"$dispatching" 2>/dev/null || true
check "make demo's generator writes 10 days of answers" grep -q '^history: 60 answers' <<<"$demo"
check "and answers today's purchases through the trigger and the emailed links" \
  grep -Eq '^today: 5 purchases through the trigger, [1-9] answered' <<<"$demo"
check "and a list of 20 whose first wave goes out while it watches, a third answering" \
  grep -Eq '^list: 20 of 20 members of accounts asked in its first wave, 7 answered' <<<"$demo"
answered_at_most_sent() { # the demo's history counts as sent: its answers do not make 112% answered
  curl -s --max-time 60 "$functions/lambda-url/api/v1/metrics?survey=default" -H "authorization: Bearer $NPS_API_KEY" |
    python3 -c 'import json, sys; m = json.load(sys.stdin); sys.exit(0 if m["n"] >= 60 and m["sent_count"] >= m["n"] else 1)'
}
for _ in $(seq 50); do answered_at_most_sent && break; sleep 0.2; done
check "the dashboard's response rate reads true after make demo (no more answers than surveys sent)" answered_at_most_sent
stoves_at_risk() { # what the stoves' detractors paid, in dollars and in euros, never added together
  curl -s --max-time 60 "$functions/lambda-url/api/v1/metrics?survey=default&segment.product=stoves&weight=amount" \
    -H "authorization: Bearer $NPS_API_KEY" |
    python3 -c 'import json, sys; w = json.load(sys.stdin)["weighted"]; sys.exit(0 if sorted(x["currency"] for x in w) == ["eur", "usd"] and all(x["revenue_at_risk"] > 0 for x in w) else 1)'
}
check "make demo's stoves have revenue at risk, per currency (weight=amount)" stoves_at_risk
broken_stoves() { # the detractors' top reasons name the broken stoves (docs/themes.md)
  curl -s --max-time 60 "$functions/lambda-url/api/v1/themes?survey=default&limit=3" -H "authorization: Bearer $NPS_API_KEY" |
    python3 -c 'import json, sys; t = json.load(sys.stdin); sys.exit(0 if any("stove" in r["label"] or "broke" in r["label"] for r in t["detractors"]) else 1)'
}
check "make demo's themes name the broken stoves among the detractors' top reasons" broken_stoves
contacted=$(curl -s --max-time 60 -b "$run_dir/cookies" "$dashboard?view=follow-up&survey=default&status=contacted&range=30")
check "make demo's stove detractors already contacted are on the dashboard's follow-up list" \
  grep -q '<td>Dana (support)</td>' <<<"$contacted"

# Delighted's official clients, unpatched, through the one base URL (docs/delighted.md).
check "Delighted's Python client: a migration scenario (tests/delighted/scenario.py)" \
  "$LOCAL/delighted/bin/python" tests/delighted/scenario.py "$gateway" "$NPS_API_KEY" "$functions"
check "Delighted's Node client: a migration scenario (tests/delighted/scenario.js)" \
  env NODE_PATH="$LOCAL/npm/node_modules" node tests/delighted/scenario.js "$gateway" "$NPS_API_KEY" "$functions"

# Last: it writes random surveys and erasures. A fixed seed keeps the run the same each time.
check "every route answers as docs/openapi.yaml says (schemathesis, seed ${NPS_SEED:=1})" \
  env NPS_SEED="$NPS_SEED" "$ROOT/infra/scripts/openapi-check.sh" "$functions" "$NPS_API_KEY"

if [ "$failed" -gt 0 ]; then tail -n 40 "$run_dir/functions.log"; else rm -rf "$run_dir"; fi
echo "smoke: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
