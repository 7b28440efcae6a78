#!/usr/bin/env bash
# make faults: DynamoDB Local killed under load, the local SES stopped (tests/benches/faults.rs).
# Picks two free loopback ports and points the harness at the installed stand-ins; the harness
# starts them, kills and restarts them by the PIDs it got, and stops them at the end.
set -euo pipefail
source "$(dirname "$0")/lib.sh"

export NPS_DYNAMODB_LOCAL_DIR
NPS_DYNAMODB_LOCAL_DIR=$(dynamodb_local_dir)
export NPS_SES_BIN="$LOCAL/npm/node_modules/.bin/aws-ses-v2-local"
[ -x "$NPS_SES_BIN" ] || die "aws-ses-v2-local is not installed: run infra/scripts/install.sh"
export_stack_env "$(free_port)" "$(free_port)" nps
cd "$ROOT"
exec cargo bench -p nps-system-tests --bench faults
