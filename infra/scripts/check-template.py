"""Checks on template.yaml that sam validate and cfn-lint do not make.

Run with the venv's Python (it has samtranslator): the SAM transform is applied first, then
- no circular dependency between resources (a deploy would fail on one; linters pass it);
- every function's CodeUri is a workspace crate under functions/.
Exits non-zero with the reason."""
import os
import re
import sys

from samtranslator.translator.transform import transform
from samtranslator.yaml_helper import yaml_parse

root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
template = yaml_parse(open(os.path.join(root, "template.yaml")).read())
failures = []

for name, resource in template["Resources"].items():
    if resource["Type"] == "AWS::Serverless::Function":
        code = resource["Properties"]["CodeUri"]
        if not os.path.isfile(os.path.join(root, code, "Cargo.toml")) or not code.startswith("./functions/"):
            failures.append(f"{name}: CodeUri {code} is not a crate under functions/")
        # The transform wants S3 locations; the code itself plays no part in the graph.
        resource["Properties"]["CodeUri"] = "s3://bucket/key"


class NoManagedPolicies:
    def load(self):
        return {}


os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")
resources = transform(template, {"SenderDomain": "example.com"}, NoManagedPolicies())["Resources"]


def references(node, found):
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "Ref" and isinstance(value, str):
                found.add(value)
            elif key == "Fn::GetAtt":
                found.add(value[0] if isinstance(value, list) else value.split(".")[0])
            elif key == "Fn::Sub":
                text = value if isinstance(value, str) else value[0]
                found.update(re.findall(r"\$\{([A-Za-z0-9]+)", text))
                references(value, found)
            else:
                references(value, found)
    elif isinstance(node, list):
        for item in node:
            references(item, found)


graph = {}
for name, resource in resources.items():
    found = set()
    references(resource, found)
    depends = resource.get("DependsOn", [])
    found.update(depends if isinstance(depends, list) else [depends])
    graph[name] = {r for r in found if r in resources and r != name}

state = {}


def cycle_from(node, path):
    state[node] = "open"
    for nxt in sorted(graph[node]):
        if state.get(nxt) == "open":
            return path + [nxt]
        if nxt not in state:
            found = cycle_from(nxt, path + [nxt])
            if found:
                return found
    state[node] = "done"
    return None


for name in sorted(resources):
    if name not in state:
        cycle = cycle_from(name, [name])
        if cycle:
            failures.append("circular dependency: " + " -> ".join(cycle))
            break

if failures:
    print("template.yaml:", *failures, sep="\n  ", file=sys.stderr)
    sys.exit(1)
print(f"template.yaml: {len(resources)} resources after the SAM transform, no circular dependency")
