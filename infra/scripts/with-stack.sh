#!/usr/bin/env bash
# Starts DynamoDB Local (in memory) and the local SES on free loopback ports, creates the table
# from template.yaml, runs the given command with the endpoints in its environment, and stops
# both services whatever happens (success, failure, Ctrl-C).
#   infra/scripts/with-stack.sh cargo test --workspace
set -euo pipefail
source "$(dirname "$0")/lib.sh"
[ $# -gt 0 ] || die "usage: with-stack.sh COMMAND [ARGS...]"

run_dir=$(mktemp -d "${TMPDIR:-/tmp}/nps-stack.XXXXXX")
status=1
# Logs are kept only when something failed.
trap 'stop_started; [ "$status" = 0 ] && rm -rf "$run_dir"' EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

dynamodb_port=$(free_port)
start_dynamodb "$dynamodb_port" "$run_dir/dynamodb.log"
ses_port=$(free_port)
start_ses "$ses_port" "$run_dir/ses.log"
export_stack_env "$dynamodb_port" "$ses_port" nps
ensure_table nps >&2
log "DynamoDB Local $AWS_ENDPOINT_URL_DYNAMODB, local SES $NPS_INBOX_URL (logs in $run_dir)"

# Not exec: the EXIT trap must run after the command to stop the services.
status=0
"$@" || status=$?
exit $status
