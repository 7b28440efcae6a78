#!/usr/bin/env python3
"""Reads what the function binaries printed under `cargo lambda watch` in smoke.sh, with Lambda's
JSON log format (the template's `LoggingConfig`), and checks its shape: every line a function prints
as JSON parses; HTTP requests get one access line each (route, method, status, latency, request id);
business counts arrive as CloudWatch EMF documents; and none of the strings given (addresses, a
comment) appears anywhere.

usage: check-logs.py FUNCTIONS_LOG FORBIDDEN...
"""
import json
import sys


def main(path, forbidden):
    problems = []
    records = []
    with open(path, encoding="utf-8", errors="replace") as log:
        for number, line in enumerate(log, 1):
            for secret in forbidden:
                if secret in line:
                    problems.append(f"line {number} holds {secret!r}")
            if not line.startswith("{"):
                continue  # cargo lambda's own lines
            try:
                records.append(json.loads(line))
            except json.JSONDecodeError as e:
                problems.append(f"line {number} is not JSON ({e}): {line[:120]}")

    def fields(r):
        return r.get("fields", r)

    access = [r for r in records if fields(r).get("message") == "request"]
    for r in access:
        f = fields(r)
        missing = [k for k in ("route", "method", "status", "latency_ms", "request_id") if k not in f]
        if missing or not isinstance(f.get("status"), int) or not isinstance(f.get("latency_ms"), (int, float)):
            problems.append(f"an access line without {missing or 'numbers'}: {r}")
    if len(access) < 5:
        problems.append(f"{len(access)} access lines; every HTTP request should have one")

    emf = [r for r in records if "_aws" in r]
    counted = {}
    for r in emf:
        directive = r["_aws"].get("CloudWatchMetrics", [{}])[0]
        names = [m.get("Name") for m in directive.get("Metrics", [])]
        if directive.get("Namespace") != "NPS" or directive.get("Dimensions") != [["Function"]] or not names:
            problems.append(f"an EMF document of the wrong shape: {r}")
        for name in names:
            if not isinstance(r.get(name), (int, float)):
                problems.append(f"EMF metric {name} without its value: {r}")
            counted[(r.get("Function"), name)] = counted.get((r.get("Function"), name), 0) + r.get(name, 0)
    for expected in [("trigger", "SurveysSent"), ("capture", "Confirmations"), ("aggregate", "RecordsFolded")]:
        if not counted.get(expected):
            problems.append(f"no EMF count of {expected[1]} from {expected[0]} (saw {sorted(counted)})")

    for p in problems[:20]:
        print(p, file=sys.stderr)
    if not problems:
        print(f"{len(records)} JSON lines, {len(access)} access lines, {len(emf)} EMF documents")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1], sys.argv[2:]))
