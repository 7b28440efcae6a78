"""Checks on template.yaml that sam validate and cfn-lint do not make.

Run with the venv's Python (it has samtranslator) after `cargo build --bins`: the SAM transform is
applied first, then
- no circular dependency between resources (a deploy would fail on one; linters pass it);
- every function's CodeUri is a workspace crate under functions/;
- least privilege, on every policy of the transformed template (the roles SAM generates too): no
  `*` in an action, no `*` resource (none of the actions used here needs one), no NotAction or
  NotResource, no managed policy but AWS's basic execution role (logs) and X-Ray's write-only one
  (traces, with the Tracing parameter);
- each function is granted exactly the DynamoDB and SES actions its binary can call, on the table,
  one of its indexes or its stream. What a binary can call is read from its own symbols (the
  unstripped debug build in target/debug): the linker drops every SDK operation main cannot reach,
  so an operation's `send` is in the binary exactly when some code path calls it;
- each function gets only environment variables its binary reads, and every variable its binary
  reads that has no default;
- every internet-facing function (one behind an API route or a topic) may touch the table only under
  `dynamodb:LeadingKeys` conditions, and the key prefixes they grant are exactly those of the keys
  its binary builds (the `ItemKey` constructors in its symbols, as for the SDK operations);
- every check that checkov is told to skip says why (a `comment` of some length).
Exits non-zero with the reasons."""
import json
import os
import re
import subprocess
import sys
import tomllib

from samtranslator.translator.transform import transform
from samtranslator.yaml_helper import yaml_parse

root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
template = yaml_parse(open(os.path.join(root, "template.yaml")).read())
failures = []
crates = {}

for name, resource in template["Resources"].items():
    if resource["Type"] == "AWS::Serverless::Function":
        code = resource["Properties"]["CodeUri"]
        manifest = os.path.join(root, code, "Cargo.toml")
        if not os.path.isfile(manifest) or not code.startswith("./functions/"):
            failures.append(f"{name}: CodeUri {code} is not a crate under functions/")
        else:
            crates[name] = tomllib.load(open(manifest, "rb"))["package"]["name"]
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

# Least privilege.

BASIC_EXECUTION = "arn:aws:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole"
# What SAM attaches with `Tracing` (the Tracing parameter): X-Ray's write-only actions, which take
# no resource, so no narrower policy exists.
XRAY_WRITE_ONLY = "arn:aws:iam::aws:policy/AWSXrayWriteOnlyAccess"
STREAM_ACTIONS = {"dynamodb:DescribeStream", "dynamodb:GetShardIterator", "dynamodb:GetRecords"}
# What Lambda's event source mapping for the table's stream needs of the function's role, whether
# or not the binary calls it (ListStreams is an account's action with no resource type).
MAPPING_ACTIONS = STREAM_ACTIONS | {"dynamodb:ListStreams"}
# Variables read with a default (README's configuration table): the template may leave them unset.
# NPS_CADENCE_DAY_SECONDS shortens a cadence's day in `make dev` only: deployed, a day is a day.
OPTIONAL_VARIABLES = {"NPS_DEFAULT_SURVEY", "NPS_TOKEN_TTL_DAYS", "NPS_CHANGE_WINDOW_DAYS", "NPS_CADENCE_DAY_SECONDS"}


def as_list(value):
    return value if isinstance(value, list) else [value]


def documents(resource):
    properties = resource.get("Properties", {})
    if resource["Type"] == "AWS::IAM::Role":
        return [p["PolicyDocument"] for p in properties.get("Policies", [])]
    if resource["Type"] in ("AWS::IAM::Policy", "AWS::IAM::ManagedPolicy", "AWS::SNS::TopicPolicy",
                            "AWS::SQS::QueuePolicy"):
        return [properties["PolicyDocument"]]
    return []


for name, resource in resources.items():
    for arn in resource.get("Properties", {}).get("ManagedPolicyArns", []) if resource["Type"] == "AWS::IAM::Role" else []:
        if arn not in (BASIC_EXECUTION, XRAY_WRITE_ONLY):
            failures.append(f"{name}: managed policy {arn}")
    for document in documents(resource):
        for statement in as_list(document["Statement"]):
            if "NotAction" in statement or "NotResource" in statement:
                failures.append(f"{name}: NotAction or NotResource in {statement.get('Sid', statement)}")
            for action in as_list(statement.get("Action", [])):
                if "*" in action:
                    failures.append(f"{name}: wildcard action {action}")
            for target in as_list(statement.get("Resource", [])):
                # SES's GetAccount (the send rate) and DynamoDB's ListStreams (the stream's event
                # source mapping) are accounts' actions with no resource type.
                if target == "*" and as_list(statement.get("Action", [])) not in (["ses:GetAccount"],
                                                                                  ["dynamodb:ListStreams"]):
                    failures.append(f"{name}: `*` resource for {statement.get('Action')}")
    if resource["Type"] == "AWS::Lambda::Permission" and "SourceArn" not in resource["Properties"]:
        failures.append(f"{name}: a permission without SourceArn lets any source of its principal invoke")

table = template["Resources"]["NpsTable"]["Properties"]
indexes = {i["IndexName"] for i in table.get("GlobalSecondaryIndexes", [])}
TABLE = {"Fn::GetAtt": ["NpsTable", "Arn"]}
STREAM = {"Fn::GetAtt": ["NpsTable", "StreamArn"]}


def dynamodb_target(target):
    """`table`, `index` or `stream` for a resource of the table, None for anything else."""
    if target == TABLE:
        return "table"
    if target == STREAM:
        return "stream"
    if isinstance(target, dict) and re.fullmatch(r"\$\{NpsTable\.Arn\}/index/(\w+)", str(target.get("Fn::Sub"))):
        return "index" if target["Fn::Sub"].rsplit("/", 1)[1] in indexes else None
    return None


def ses_target(target):
    text = target.get("Fn::Sub", "") if isinstance(target, dict) else ""
    prefix = "arn:${AWS::Partition}:ses:${AWS::Region}:${AWS::AccountId}:"
    return {prefix + "identity/${SenderDomain}": "identity",
            prefix + "configuration-set/${SesConfigurationSet}": "configuration-set"}.get(text)


def camel(snake):
    return "".join(part.title() for part in snake.split("_"))


# The partition key prefix of each `ItemKey` constructor (shared/adapters/src/dynamo/keys.rs), by
# family: what comes before the first `#`, with it.
KEY_FAMILIES = {
    "survey": "SURVEY", "survey_partition": "SURVEY", "request": "REQUEST#", "response": "REQUEST#",
    "transaction": "TRANSACTION#", "throttle": "PERSON#", "suppression": "PERSON#",
    "request_pointer": "PERSON#", "profile": "PERSON#", "fatigue": "PERSON#", "history": "HISTORY#", "member": "MEMBERS#", "members_partition": "MEMBERS#", "members_count": "MEMBERS#",
    "member_pointer": "PERSON#", "rollup": "ROLLUP#", "rollup_value": "ROLLUP#",
    "rollup_values_partition": "ROLLUP#", "rollup_claim": "ROLLUP#", "alert": "ALERT#",
    "response_event": "WEBHOOK#", "checkpoint": "AGGREGATOR", "drop_check": "AGGREGATOR",
    "api_key": "APIKEY", "idempotency": "IDEMPOTENCY#", "used_link": "LINK#", "themes": "THEMES#",
    "follow_up": "REQUEST#",
}
INTERNET_FACING = {"CaptureFunction", "TriggerFunction", "SesEventsFunction", "ApiFunction"}


def family(pattern):
    return pattern.split("#", 1)[0] + "#" if "#" in pattern else pattern


def binary_key_families(binary, symbols=None):
    """The key prefix families of the `ItemKey` constructors `binary` can call; unknown constructors."""
    symbols = symbols or subprocess.run(["nm", "--demangle", binary], capture_output=True, text=True, check=True).stdout
    constructors = set(re.findall(r"nps_adapters::dynamo::keys::ItemKey::(\w+)", symbols))
    return {KEY_FAMILIES[c] for c in constructors if c in KEY_FAMILIES}, constructors - set(KEY_FAMILIES)


def binary_calls(binary):
    """The IAM actions of the AWS SDK operations `binary` can call."""
    symbols = subprocess.run(["nm", "--demangle", binary], capture_output=True, text=True, check=True).stdout
    calls, unknown = set(), set()
    for crate, operation in set(re.findall(r"aws_sdk_(\w+)::operation::(\w+)::builders::\w+FluentBuilder::send", symbols)):
        if crate == "sts":
            continue  # aws-config's providers for profiles; a Lambda's credentials come from its environment
        if crate in ("dynamodb", "dynamodbstreams") and operation == "transact_write_items":
            # IAM authorises each item of a transaction by the action it stands for.
            parts = set(re.findall(r"TransactWriteItemBuilder::(put|update|delete|condition_check)\b", symbols))
            calls |= {"dynamodb:" + {"condition_check": "ConditionCheckItem"}.get(p, camel(p) + "Item") for p in parts}
        elif crate in ("dynamodb", "dynamodbstreams") and operation == "transact_get_items":
            calls.add("dynamodb:GetItem")
        elif crate in ("dynamodb", "dynamodbstreams"):
            calls.add("dynamodb:" + camel(operation))
        elif crate == "sesv2":
            calls.add("ses:" + camel(operation))
        else:
            unknown.add(f"{crate}::{operation}")
    return calls, unknown


target_dir = os.environ.get("CARGO_TARGET_DIR", os.path.join(root, "target"))
source_literals = subprocess.run(["grep", "-rhoE", r'"NPS_[A-Z0-9_]+"', "functions", "shared", "--include=*.rs"],
                                 cwd=root, capture_output=True, text=True).stdout
known_variables = {v.strip('"') for v in source_literals.split()}
for name, resource in resources.items():
    if resource["Type"] != "AWS::Lambda::Function" or name not in crates:
        continue
    binary = os.path.join(target_dir, "debug", crates[name])
    if not os.path.isfile(binary):
        failures.append(f"{name}: no {binary}; run `cargo build --bins` first")
        continue
    calls, unknown = binary_calls(binary)
    failures += [f"{name}: its binary calls {u}, which this check does not know" for u in sorted(unknown)]
    role = resource["Properties"]["Role"]["Fn::GetAtt"][0]
    mappings = [r["Properties"] for r in resources.values() if r["Type"] == "AWS::Lambda::EventSourceMapping"
                and r["Properties"].get("FunctionName") == {"Ref": name}]
    streamed = any(m.get("EventSourceArn") == STREAM for m in mappings)
    dead_letters = [resource["Properties"].get("DeadLetterConfig", {}).get("TargetArn")]
    dead_letters += [m.get("DestinationConfig", {}).get("OnFailure", {}).get("Destination") for m in mappings]
    variables = resource["Properties"].get("Environment", {}).get("Variables", {})
    granted, leading_keys, unconditioned = set(), set(), []
    for document in documents(resources[role]):
        for statement in as_list(document["Statement"]):
            actions, targets = as_list(statement["Action"]), as_list(statement["Resource"])
            if any(a.startswith("dynamodb:") for a in actions) and any(dynamodb_target(t) == "table" for t in targets):
                keys = statement.get("Condition", {}).get("ForAllValues:StringLike", {}).get("dynamodb:LeadingKeys")
                if keys is None:
                    unconditioned.append(statement.get("Sid", str(actions)))
                leading_keys.update(family(k) for k in as_list(keys or []))
            for action in actions:
                granted.add(action)
                service = action.split(":")[0]
                if action == "sqs:SendMessage":
                    wrong = [t for t in targets if t not in dead_letters]
                elif action == "dynamodb:ListStreams":
                    wrong = [t for t in targets if t != "*" or not streamed]
                elif service == "dynamodb":
                    allowed = {"stream"} if action in STREAM_ACTIONS else {"table", "index"} if action in (
                        "dynamodb:Query", "dynamodb:Scan") else {"table"}
                    wrong = [t for t in targets if dynamodb_target(t) not in allowed]
                elif action == "ses:SendEmail":
                    wrong = [t for t in targets if ses_target(t) is None
                             or (ses_target(t) == "configuration-set" and "NPS_SES_CONFIGURATION_SET" not in variables)]
                elif action == "ses:GetAccount":
                    wrong = [t for t in targets if t != "*"]
                else:
                    wrong = ["anything (an action this check does not expect)"]
                failures += [f"{name}: {action} on {w}" for w in wrong]
    granted.discard("sqs:SendMessage")
    mapping_needs = MAPPING_ACTIONS if streamed else set()
    failures += [f"{name}: its stream's mapping needs {a}" for a in sorted(mapping_needs - granted)]
    failures += [f"{name}: granted {a}, which its binary never calls" for a in sorted(granted - calls - mapping_needs)]
    failures += [f"{name}: its binary calls {a}, which it is not granted" for a in sorted(calls - granted)]
    if name in INTERNET_FACING:
        used, unknown_keys = binary_key_families(binary)
        failures += [f"{name}: ItemKey::{c} has no key family in check-template.py" for c in sorted(unknown_keys)]
        failures += [f"{name}: {sid} reaches the table without dynamodb:LeadingKeys" for sid in unconditioned]
        failures += [f"{name}: granted keys {k}*, which its binary never builds" for k in sorted(leading_keys - used)]
        failures += [f"{name}: its binary builds keys {k}*, which it is not granted" for k in sorted(used - leading_keys)]
    data = open(binary, "rb").read()
    mentioned = {v for v in known_variables if v.encode() in data}
    failures += [f"{name}: given {v}, which its binary never reads" for v in sorted(set(variables) - mentioned)]
    failures += [f"{name}: its binary reads {v}, which it is not given" for v in
                 sorted(mentioned - set(variables) - OPTIONAL_VARIABLES)]

# A dashboard's body is JSON once its ${…} are substituted (CloudFormation would refuse it at deploy).
for name, resource in template["Resources"].items():
    if resource["Type"] == "AWS::CloudWatch::Dashboard":
        body = resource["Properties"]["DashboardBody"]
        text = body.get("Fn::Sub", "") if isinstance(body, dict) else body
        try:
            json.loads(re.sub(r"\$\{[^}]+\}", "x", text))
        except ValueError as e:
            failures.append(f"{name}: DashboardBody is not JSON: {e}")

skipped = 0
for name, resource in template["Resources"].items():
    for skip in (resource.get("Metadata") or {}).get("checkov", {}).get("skip", []):
        skipped += 1
        if len(str(skip.get("comment", "")).strip()) < 20:
            failures.append(f"{name}: checkov's {skip.get('id')} is skipped without a reason")

if failures:
    print("template.yaml:", *failures, sep="\n  ", file=sys.stderr)
    sys.exit(1)
print(f"template.yaml: {len(resources)} resources after the SAM transform, no circular dependency; "
      f"{len(crates)} functions granted exactly what their binaries call; {skipped} checkov skips, each with its reason")
