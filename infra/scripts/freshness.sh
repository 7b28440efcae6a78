#!/usr/bin/env bash
# How fresh the numbers are, against `make dev` (BENCHMARKS.md, "Freshness"):
#   make freshness     (needs make dev running; FRESHNESS_SAMPLES=20 by default)
# Sends signed purchases, answers each through its emailed link, and times, for each answer, the
# confirmation to its count in /v1/metrics, and for detractors (every other answer) the answer to
# its alert in the inbox. Prints each sample, then p50, p90 and the maximum in milliseconds.
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
[ -f "$root/.local/dev.env" ] || { echo "start make dev first" >&2; exit 1; }
set -a; source "$root/.local/dev.env"; set +a
samples=${FRESHNESS_SAMPLES:-20}
alerts_to=${NPS_ALERT_EMAILS:-cx@example.com}

now_ms() { echo $(( $(date +%s%N) / 1000000 )); }
answered() { # answers counted by /v1/metrics for the default survey
  curl -s --max-time 10 "$NPS_API_URL/v1/metrics?survey=default" -H "authorization: Bearer $NPS_API_KEY" |
    python3 -c 'import json,sys; print(json.load(sys.stdin)["n"])'
}
inbox() { # emails to $1 in the local inbox
  curl -s --max-time 10 "$NPS_INBOX_URL/store" |
    python3 -c 'import json,sys; print(sum(1 for e in json.load(sys.stdin)["emails"] if sys.argv[1] in e["destination"]["to"]))' "$1"
}
link_of() { # the survey link emailed to $1, without its query
  curl -s --max-time 10 "$NPS_INBOX_URL/store" | python3 -c '
import json, re, sys
for e in json.load(sys.stdin)["emails"]:
    if sys.argv[1] in e["destination"]["to"]:
        print(re.search(r"(http\S+/r/[^?\s]+)\?score=", e["body"]["text"]).group(1)); break' "$1"
}
purchase() { # a signed purchase by $1
  local body t sig
  body=$(printf '{"event_id":"%s","email":"%s","transaction_id":"order-%s"}' "$1" "$1" "$1")
  t=$(date +%s)
  sig=$(printf '%s.%s' "$t" "$body" | openssl dgst -sha256 -hmac "$NPS_WEBHOOK_SECRET_GENERIC" -r | cut -d' ' -f1)
  curl -s --max-time 30 "$NPS_TRIGGER_URL/v1/triggers/generic" -H 'content-type: application/json' \
    -H "x-nps-signature: t=$t,v1=$sig" -d "$body" >/dev/null
}
wait_until() { # wait_until COMMAND EXPECTED: polls every 50 ms for up to 120 s
  for _ in $(seq 2400); do [ "$($1)" = "$2" ] && return 0; sleep 0.05; done
  echo "timed out waiting for $1 to be $2" >&2; exit 1
}

counts=() alerts=()
for i in $(seq "$samples"); do
  email="fresh-$(date +%s)-$i-$RANDOM@example.com"
  purchase "$email"
  wait_until "inbox $email" 1
  link=$(link_of "$email")
  score=$(( i % 2 == 0 ? 9 : 3 ))
  before=$(answered) alerts_before=$(inbox "$alerts_to")
  start=$(now_ms)
  curl -s --max-time 30 -A 'Mozilla/5.0 (freshness)' -d "score=$score" "$link" >/dev/null
  wait_until answered $((before + 1))
  counts+=($(( $(now_ms) - start )))
  line="answer $i (score $score): counted after ${counts[-1]} ms"
  if [ "$score" -le 6 ]; then
    wait_until "inbox $alerts_to" $((alerts_before + 1))
    alerts+=($(( $(now_ms) - start )))
    line+=", alerted after ${alerts[-1]} ms"
  fi
  echo "$line" >&2
done
python3 - "${counts[*]}" "${alerts[*]}" <<'PY'
import statistics, sys
for name, raw in (("answer to /v1/metrics", sys.argv[1]), ("detractor's answer to its alert", sys.argv[2])):
    xs = sorted(int(x) for x in raw.split())
    p90 = xs[min(len(xs) - 1, int(len(xs) * 0.9))]
    print(f"{name}: {len(xs)} samples, p50 {statistics.median(xs):.0f} ms, p90 {p90} ms, max {xs[-1]} ms")
PY
