#!/usr/bin/env bash
# make fuzz: each cargo-fuzz target of tests/fuzz for FUZZ_SECONDS (default 60) seconds, from its
# seeds (tests/fuzz/seeds/<target>) and the corpus earlier runs grew (tests/fuzz/corpus, git-ignored).
# libFuzzer needs nightly compiler flags; RUSTC_BOOTSTRAP=1 lets the one stable toolchain here take
# them. A crash stops the run with its input in tests/fuzz/artifacts/<target>/: fix the cause, then
# move the input to tests/fuzz/regressions/<target>/, which every `make test` replays.
#   usage: fuzz.sh [TARGET...]   (default: webhooks tokens queries)
set -euo pipefail
source "$(dirname "$0")/lib.sh"
cd "$ROOT"
fuzz="$LOCAL/cargo-fuzz/bin/cargo-fuzz"
[ -x "$fuzz" ] || die "cargo-fuzz is missing: run infra/scripts/install.sh --fuzz"
seconds=${FUZZ_SECONDS:-60}
targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=(webhooks tokens queries)
export RUSTC_BOOTSTRAP=1
for target in "${targets[@]}"; do
  mkdir -p "tests/fuzz/corpus/$target"
  log "fuzzing $target for ${seconds}s"
  "$fuzz" run --fuzz-dir tests/fuzz "$target" "tests/fuzz/corpus/$target" "tests/fuzz/seeds/$target" -- \
    -max_total_time="$seconds" -timeout=10 -print_final_stats=1
done
log "no crash in ${targets[*]}"
