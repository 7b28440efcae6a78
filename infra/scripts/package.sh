#!/usr/bin/env bash
# make package: every function of template.yaml built by `sam build` (BuildMethod rust-cargolambda,
# i.e. `cargo lambda build --release`) into .aws-sam/build/<Function>/bootstrap, for ARCH: x86_64 by
# default, the one these machines can build (no aarch64 standard library offline); the template's
# own default, for deploys, stays arm64. Then each bootstrap's size, plain and zipped as
# `sam deploy` uploads it; fails if a function has no bootstrap.
#   usage: ARCH=x86_64|arm64 package.sh
set -euo pipefail
source "$(dirname "$0")/lib.sh"
cd "$ROOT"
export SAM_CLI_TELEMETRY=0 AWS_DEFAULT_REGION=${AWS_DEFAULT_REGION:-us-east-1} PATH="$LOCAL/venv/bin:$PATH"
arch=${ARCH:-x86_64}
log "sam build for $arch (release profile of Cargo.toml; a few minutes the first time)"
sam build --template template.yaml --parameter-overrides "Architecture=$arch"
"$LOCAL/venv/bin/python" - <<'PY'
import io, os, sys, zipfile
from samtranslator.yaml_helper import yaml_parse

functions = [name for name, r in yaml_parse(open("template.yaml").read())["Resources"].items()
             if r["Type"] == "AWS::Serverless::Function"]
missing = []
print(f"{'function':<20} {'bootstrap':>12} {'zipped':>12}")
for name in functions:
    path = os.path.join(".aws-sam", "build", name, "bootstrap")
    if not os.path.isfile(path):
        missing.append(name)
        continue
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.write(path, "bootstrap")
    print(f"{name:<20} {os.path.getsize(path) / 1e6:>10.2f}MB {len(buffer.getvalue()) / 1e6:>10.2f}MB")
if missing:
    sys.exit(f"no bootstrap for {', '.join(missing)}")
print(".aws-sam/build/template.yaml is ready for `sam deploy`")
PY
