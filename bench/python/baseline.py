#!/usr/bin/env python3
"""The plain Python monitor `warden check` is compared with.

What a team would write in an afternoon with the standard library only:
json, fnmatch and ipaddress. It reads the same inputs as `warden check`
(JSON lines of EventBridge envelopes or bare records, CloudTrail log files
{"Records": [...]}, bare arrays, gzip or not, files or '-' for stdin),
judges every event against the same policy (given as the JSON of the Go
policy value, so the lists are the very ones Go uses) with the same event
rules, and prints one finding per line as JSON, sorted like `warden check`
(severity, then event time). bench/ checks that it gives the same findings
(rule and event id) as warden before timing either.

It mirrors pkg/normalize + pkg/rules as bench/opa/warden.rego does, with the
same deliberate omissions (see bench/README.md). fnmatch's '[...]' classes
have no IAM meaning; the policies used here have none.

    baseline.py --policy policy.json FILE|- ...
"""

import argparse
import fnmatch
import gzip
import io
import ipaddress
import json
import re
import sys

BEDROCK_INVOCATIONS = {
    "InvokeModel", "InvokeModelWithResponseStream", "InvokeModelWithBidirectionalStream",
    "Converse", "ConverseStream", "StartAsyncInvoke", "CountTokens",
}
MANTLE_INVOCATIONS = {"CreateInference", "CreateChatCompletion", "CreateResponse", "CreateMessage", "CreateCompletion"}
CONTROL_PLANE = {
    "DeleteModelInvocationLoggingConfiguration": "invocation-logging-disabled",
    "PutModelInvocationLoggingConfiguration": "invocation-logging-disabled",
    "DeleteGuardrail": "guardrail-changed",
    "UpdateGuardrail": "guardrail-changed",
    "PutFoundationModelEntitlement": "model-access-changed",
    "CreateFoundationModelAgreement": "model-access-changed",
    "DeleteFoundationModelAgreement": "model-access-changed",
    "PutUseCaseForModelAccess": "model-access-changed",
    "PutResourcePolicy": "model-access-changed",
    "DeleteResourcePolicy": "model-access-changed",
    "CreateProvisionedModelThroughput": "costly-resource-created",
    "UpdateProvisionedModelThroughput": "costly-resource-created",
    "CreateModelCustomizationJob": "costly-resource-created",
    "CreateModelImportJob": "costly-resource-created",
    "CreateCustomModel": "costly-resource-created",
    "CreateCustomModelDeployment": "costly-resource-created",
    "CreateMarketplaceModelEndpoint": "costly-resource-created",
    "CreateModelInvocationJob": "costly-resource-created",
}
SEVERITY = {
    "unauthorized-model": "high", "unauthorized-region": "high", "unauthorized-source-ip": "medium",
    "unauthorized-principal": "medium", "api-key-used": "medium", "denied-invocation": "medium",
    "invocation-logging-disabled": "critical", "guardrail-changed": "high",
    "model-access-changed": "medium", "costly-resource-created": "medium",
}
RANK = {"info": 1, "low": 2, "medium": 3, "high": 4, "critical": 5}
GEOGRAPHIES = ["us-gov", "us", "eu", "apac", "au", "jp", "ca", "global"]
DENIED_CODES = {"AccessDenied", "AccessDeniedException", "UnauthorizedOperation", "Client.UnauthorizedOperation"}
MODEL_ID = re.compile(r"^[a-z0-9-]+\.[a-zA-Z0-9._:-]+$")
DNS_NAME = re.compile(r"^([A-Za-z0-9-]{1,63}\.)+[A-Za-z0-9-]*[A-Za-z][A-Za-z0-9-]*$")


def s(x):
    return x if isinstance(x, str) else ""


def d(x):
    return x if isinstance(x, dict) else {}


def lst(x):
    return x if isinstance(x, list) else []


def present(x):
    t = s(x).strip()
    if t.startswith("[") and t.endswith("]"):
        return ""
    return t


def arn_fields(a):
    f = a.split(":")
    if len(f) < 6 or f[0] != "arn" or f[1] == "" or f[2] == "":
        return None
    return [f[1], f[2], f[3], f[4], ":".join(f[5:])]


class Globs:
    """An IAM-style glob list; '*' and '?' cross ':' and '/'."""

    def __init__(self, patterns):
        self.patterns = [re.compile(fnmatch.translate(p)) for p in lst(patterns)]

    def __len__(self):
        return len(self.patterns)

    def match(self, value):
        return value != "" and any(p.match(value) for p in self.patterns)


class Policy:
    def __init__(self, doc):
        models, regions = d(doc.get("models")), d(doc.get("regions"))
        network, principals = d(doc.get("network")), d(doc.get("principals"))
        self.model_allow = Globs(models.get("allow"))
        self.model_deny = Globs(models.get("deny"))
        self.region_allow = set(lst(regions.get("allow")))
        inf = regions.get("inference")
        self.inference = set(inf) if isinstance(inf, list) else None
        self.global_ok = regions.get("allowGlobalProfiles") is True
        self.cidrs = [ipaddress.ip_network(c, strict=False) for c in lst(network.get("allowCidrs"))]
        self.vpces = set(lst(network.get("allowVpcEndpoints")))
        self.service_callers = network.get("allowAwsServiceCallers") is not False
        self.principal_allow = Globs(principals.get("allow"))
        self.exempt = Globs(principals.get("exempt"))
        self.api_keys = d(doc.get("apiKeys")).get("allow") is True
        self.rules = d(doc.get("rules"))

    def enabled(self, rule):
        return d(self.rules.get(rule)).get("enabled") is not False

    def severity(self, rule):
        return d(self.rules.get(rule)).get("severity") or SEVERITY[rule]

    def region_allowed(self, r):
        return not self.region_allow or r in self.region_allow

    def inference_allowed(self, r):
        if self.inference is not None:
            return r in self.inference
        return self.region_allowed(r)


def strip_geo(m):
    for g in GEOGRAPHIES:
        if m.startswith(g + "."):
            rest = m[len(g) + 1:]
            if model_id_shape(rest):
                return g, rest
    return "", m


def model_id_shape(m):
    return bool(MODEL_ID.match(m)) and m.split(".")[0] not in GEOGRAPHIES


def parse_model(raw):
    t = raw.strip()
    if t.startswith("arn:"):
        a = arn_fields(t)
        if a and a[0].startswith("aws") and a[1] == "bedrock":
            parts = a[4].split("/")
            if parts[0] in ("foundation-model", "inference-profile"):
                geo, base = strip_geo("/".join(parts[1:]))
                if model_id_shape(base):
                    return geo, base
        return "", ""
    geo, rest = strip_geo(t)
    if geo:
        return geo, rest
    if model_id_shape(t):
        return "", t
    return "", ""


def principal_arn(ui):
    ptype = s(ui.get("type"))
    if ptype == "AssumedRole":
        issuer = present(d(d(ui.get("sessionContext")).get("sessionIssuer")).get("arn"))
        a = arn_fields(issuer)
        if a and a[1] == "iam" and a[4].startswith("role/"):
            return issuer
        a = arn_fields(present(ui.get("arn")))
        if a and a[1] == "sts" and a[4].startswith("assumed-role/"):
            role = a[4].split("/")[1]
            if role:
                return "arn:%s:iam::%s:role/%s" % (a[0], a[3], role)
        return ""
    if ptype == "AWSService":
        return present(ui.get("invokedBy"))
    if ptype == "Root" and present(ui.get("arn")) == "" and present(ui.get("accountId")) != "":
        return "arn:aws:iam::%s:root" % present(ui.get("accountId"))
    arn = present(ui.get("arn"))
    return arn if arn_fields(arn) else ""


def is_ip(x):
    try:
        ipaddress.ip_address(x)
        return True
    except ValueError:
        return False


def judge(rec, p):
    """Returns (rule ids, principal, model) for one CloudTrail record."""
    source = s(rec.get("eventSource")).strip()
    name = s(rec.get("eventName")).strip()
    bedrock = source in ("bedrock.amazonaws.com", "bedrock-mantle.amazonaws.com")
    invocation = (source == "bedrock.amazonaws.com" and name in BEDROCK_INVOCATIONS) or \
        (source == "bedrock-mantle.amazonaws.com" and name in MANTLE_INVOCATIONS)
    error_code = s(rec.get("errorCode")).strip()
    out = []
    if bedrock and not invocation:
        rule = CONTROL_PLANE.get(name)
        if rule and error_code == "" and p.enabled(rule):
            out.append(rule)
        return out, "", ""
    if not invocation:
        return out, "", ""
    ui = d(rec.get("userIdentity"))
    principal = principal_arn(ui)
    params, extra = d(rec.get("requestParameters")), d(rec.get("additionalEventData"))
    raw = ""
    for k in ("modelId", "modelIdentifier", "model"):
        raw = s(params.get(k))
        if raw.strip():
            break
    denied = error_code in DENIED_CODES or (
        error_code == "ResourceNotFoundException" and "access denied" in s(rec.get("errorMessage")).lower())
    if denied:
        if p.enabled("denied-invocation"):
            out.append("denied-invocation")
        return out, principal, raw
    if p.exempt.match(principal):
        return out, principal, raw
    geo, base = parse_model(raw)
    ids = [i for i in (base, raw) if i]
    if raw != "" and p.enabled("unauthorized-model"):
        if any(p.model_deny.match(i) for i in ids):
            out.append("unauthorized-model")
        elif len(p.model_allow) > 0 and not any(p.model_allow.match(i) for i in ids):
            out.append("unauthorized-model")
    region = present(rec.get("awsRegion"))
    inference = present(extra.get("inferenceRegion"))
    if inference == region:
        inference = ""
    calling_bad = region != "" and not p.region_allowed(region)
    if p.enabled("unauthorized-region") and (
            calling_bad or (geo == "global" and not p.global_ok) or
            (geo != "global" and inference != "" and not p.inference_allowed(inference))):
        out.append("unauthorized-region")
    src = s(rec.get("sourceIPAddress")).strip()
    service = src.lower() == "aws internal" or (
        not is_ip(src) and ":" not in src and bool(DNS_NAME.match(src)))
    restricted = len(p.cidrs) + len(p.vpces) > 0
    if p.enabled("unauthorized-source-ip"):
        if service:
            bad = not p.service_callers
        elif restricted:
            vpce = present(rec.get("vpcEndpointId"))
            ok = vpce != "" and vpce in p.vpces
            if not ok and is_ip(src):
                ip = ipaddress.ip_address(src)
                if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped:
                    ip = ip.ipv4_mapped
                ok = any(ip.version == c.version and ip in c for c in p.cidrs)
            bad = not ok
        else:
            bad = False
        if bad:
            out.append("unauthorized-source-ip")
    if (p.enabled("unauthorized-principal") and s(ui.get("type")) != "AWSService" and
            len(p.principal_allow) > 0 and not p.principal_allow.match(principal)):
        out.append("unauthorized-principal")
    bearer = extra.get("callWithBearerToken") in (True, "true") or params.get("callWithBearerToken") in (True, "true")
    if bearer and not p.api_keys and p.enabled("api-key-used"):
        out.append("api-key-used")
    return out, principal, base or raw


def records(value):
    """The CloudTrail records a decoded JSON value holds."""
    if isinstance(value, list):
        yield from (r for r in value if isinstance(r, dict))
    elif isinstance(value, dict):
        if isinstance(value.get("Records"), list):
            for r in value["Records"]:
                if isinstance(r, dict) and r.get("eventSource") == "aws:sqs":
                    yield from records(json.loads(r.get("body", "null")))
                elif isinstance(r, dict):
                    yield r
        elif isinstance(value.get("detail"), dict):
            yield value["detail"]
        else:
            yield value


def open_input(name):
    raw = sys.stdin.buffer if name == "-" else open(name, "rb")
    head = raw.peek(2)[:2] if hasattr(raw, "peek") else b""
    if head == b"\x1f\x8b":
        return io.BufferedReader(gzip.GzipFile(fileobj=raw))
    return raw


def values(f):
    """JSON values of an input: one a line, or the whole input as one."""
    first = f.readline()
    try:
        yield json.loads(first)
    except ValueError:
        yield json.loads(first + f.read())
        return
    for line in f:
        if line.strip():
            yield json.loads(line)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--policy", required=True)
    ap.add_argument("paths", nargs="+")
    args = ap.parse_args()
    with open(args.policy) as f:
        p = Policy(json.load(f))
    found, events = [], 0
    for name in args.paths:
        with open_input(name) as f:
            for value in values(f):
                for rec in records(value):
                    events += 1
                    rules, principal, model = judge(rec, p)
                    for rule in rules:
                        sev = p.severity(rule)
                        found.append((-RANK.get(sev, 0), s(rec.get("eventTime")), len(found), {
                            "rule": rule, "severity": sev, "eventId": s(rec.get("eventID")).strip(),
                            "eventName": s(rec.get("eventName")), "eventTime": s(rec.get("eventTime")),
                            "principal": principal, "model": model, "region": s(rec.get("awsRegion")),
                            "sourceIp": s(rec.get("sourceIPAddress")),
                        }))
    found.sort(key=lambda t: t[:3])
    out = sys.stdout
    for t in found:
        out.write(json.dumps(t[3]))
        out.write("\n")
    print("%d findings in %d events" % (len(found), events), file=sys.stderr)
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main())
