#!/usr/bin/env bash
# `make dev`: the local stack for working by hand. DynamoDB Local keeps its data in
# .local/dynamodb; the local SES shows every sent email in its web inbox. Writes the endpoints to
# .local/dev.env (KEY=value lines, `source` it) and runs until Ctrl-C, then stops what it started.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
cd "$ROOT"

trap stop_started EXIT
trap 'log "stopping"; exit 0' INT
trap 'exit 143' TERM

# The usual ports when they are free, so bookmarks keep working; free ones otherwise.
port_or_free() { if (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; then free_port; else echo "$1"; fi; }

mkdir -p "$LOCAL/logs"
dynamodb_port=$(port_or_free 8000)
start_dynamodb "$dynamodb_port" "$LOCAL/logs/dynamodb.log" "$LOCAL/dynamodb"
ses_port=$(port_or_free 8005)
start_ses "$ses_port" "$LOCAL/logs/ses.log"
export_stack_env "$dynamodb_port" "$ses_port" nps
ensure_table nps

cat >"$LOCAL/dev.env" <<ENV
# Written by make dev; source it to talk to the local stack.
AWS_ENDPOINT_URL_DYNAMODB=$AWS_ENDPOINT_URL_DYNAMODB
AWS_ENDPOINT_URL_SESV2=$AWS_ENDPOINT_URL_SESV2
NPS_INBOX_URL=$NPS_INBOX_URL
NPS_TABLE=$NPS_TABLE
AWS_ACCESS_KEY_ID=local
AWS_SECRET_ACCESS_KEY=local
AWS_REGION=us-east-1
AWS_DEFAULT_REGION=us-east-1
ENV

cat <<MSG

  The local stack is up (Ctrl-C stops it):

    Inbox (every email sent)   $NPS_INBOX_URL
    DynamoDB Local             $AWS_ENDPOINT_URL_DYNAMODB   table: $NPS_TABLE
    Endpoints for your shell   source .local/dev.env
    Logs                       .local/logs/

MSG

# Wait for Ctrl-C, or for either service to die.
while true; do
  for pid in "${STARTED_PIDS[@]}"; do
    kill -0 "$pid" 2>/dev/null || die "a service stopped unexpectedly; see .local/logs/"
  done
  sleep 1
done
