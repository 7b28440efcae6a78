#!/usr/bin/env python3
"""The crate graph's arrows point one way: a function crate (functions/*) depends on shared crates
only (its own tests may use the local stack's helpers), and no shared or infra crate (the ops CLI
included) depends on a function crate. Only the cross-function tests (`tests/`) use the functions
themselves. Run by `make test`."""
import json
import os
import subprocess
import sys

root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
metadata = json.loads(subprocess.run(
    ["cargo", "metadata", "--format-version", "1", "--no-deps", "--offline"],
    cwd=root, capture_output=True, text=True, check=True).stdout)


def place(manifest):
    """`functions`, `shared`, `infra` or `tests`: the top folder of a crate of the workspace."""
    return os.path.relpath(manifest, root).split(os.sep)[0]


crates = {p["name"]: place(p["manifest_path"]) for p in metadata["packages"]}
failures = []
for package in metadata["packages"]:
    here = crates[package["name"]]
    if here == "tests":
        continue
    for dependency in package["dependencies"]:
        there = crates.get(dependency["name"])
        if there == "functions":
            failures.append(f"{package['name']} ({here}) depends on the function crate {dependency['name']}")
        # Their tests may start the local stack (a dev-dependency); the binaries may not need it.
        if here == "functions" and there in ("infra", "tests") and dependency["kind"] is None:
            failures.append(f"{package['name']} depends on {dependency['name']} ({there})")

if failures:
    print("crate graph:", *failures, sep="\n  ", file=sys.stderr)
    sys.exit(1)
functions = sorted(n for n, p in crates.items() if p == "functions")
print(f"crate graph: {len(crates)} crates; the functions ({', '.join(functions)}) depend on shared crates only, "
      "and nothing but the tests depends on a function")
