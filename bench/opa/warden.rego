# Bedrock Warden's event rules in Rego, for the side-by-side benchmark only.
#
# input: one EventBridge envelope exactly as it arrives (parsed JSON), with
#        the CloudTrail record in input.detail.
# data.policy: the Warden policy (pkg/policy.Policy marshalled to JSON), so
#        the allow-lists, deny-lists, exemptions and rule switches are the
#        very ones the Go engine uses.
# data.warden.findings: the set of rule ids the event triggers.
#
# It reproduces what pkg/normalize + pkg/rules decide for the shapes the
# benchmark corpus holds (see bench/README.md, "Rego equivalence", for what
# it leaves out).
package warden

d := obj(object.get(input, "detail", null))

p := data.policy

bedrock_invocations := {
	"InvokeModel", "InvokeModelWithResponseStream", "InvokeModelWithBidirectionalStream",
	"Converse", "ConverseStream", "StartAsyncInvoke", "CountTokens",
}

mantle_invocations := {"CreateInference", "CreateChatCompletion", "CreateResponse", "CreateMessage", "CreateCompletion"}

control_plane := {
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

geographies := ["us-gov", "us", "eu", "apac", "au", "jp", "ca", "global"]

denied_codes := {"AccessDenied", "AccessDeniedException", "UnauthorizedOperation", "Client.UnauthorizedOperation"}

# ---- helpers -------------------------------------------------------------

# str(x) is x when it is a string, else "".
str(x) := x if is_string(x)

else := ""

# present(s): trimmed, "" for a placeholder such as "[REDACTED]".
present(s) := "" if {
	t := trim_space(str(s))
	startswith(t, "[")
	endswith(t, "]")
} else := trim_space(str(s))

obj(x) := x if is_object(x)

else := {}

# list(x) is x when it is an array (a policy list left out is null), else [].
list(x) := x if is_array(x)

else := []

# matches_any: as glob.Set.Match, an empty string matches nothing; '*' and
# '?' have IAM's meaning (no delimiters).
matches_any(patterns, s) if {
	s != ""
	some pat in list(patterns)
	glob.match(pat, null, s)
}

enabled(rule) if not p.rules[rule].enabled == false

# ---- the record ----------------------------------------------------------

source := trim_space(str(object.get(d, "eventSource", null)))

name := trim_space(str(object.get(d, "eventName", null)))

bedrock if source in {"bedrock.amazonaws.com", "bedrock-mantle.amazonaws.com"}

invocation if {
	source == "bedrock.amazonaws.com"
	name in bedrock_invocations
}

invocation if {
	source == "bedrock-mantle.amazonaws.com"
	name in mantle_invocations
}

region := present(object.get(d, "awsRegion", null))

params := obj(object.get(d, "requestParameters", null))

extra := obj(object.get(d, "additionalEventData", null))

ui := obj(object.get(d, "userIdentity", null))

error_code := trim_space(str(object.get(d, "errorCode", null)))

denied if error_code in denied_codes

denied if {
	error_code == "ResourceNotFoundException"
	contains(lower(str(object.get(d, "errorMessage", null))), "access denied")
}

# ---- principal -----------------------------------------------------------

principal_type := str(object.get(ui, "type", null))

# arn_fields splits an ARN into [partition, service, region, account, resource].
arn_fields(s) := [f[1], f[2], f[3], f[4], concat(":", array.slice(f, 5, count(f)))] if {
	f := split(s, ":")
	count(f) >= 6
	f[0] == "arn"
	f[1] != ""
	f[2] != ""
}

issuer_role := arn if {
	arn := present(object.get(obj(object.get(obj(object.get(ui, "sessionContext", null)), "sessionIssuer", null)), "arn", null))
	a := arn_fields(arn)
	a[1] == "iam"
	startswith(a[4], "role/")
}

sts_role := r if {
	a := arn_fields(present(object.get(ui, "arn", null)))
	a[1] == "sts"
	startswith(a[4], "assumed-role/")
	role := split(a[4], "/")[1]
	role != ""
	r := sprintf("arn:%s:iam::%s:role/%s", [a[0], a[3], role])
}

principal_arn := issuer_role if principal_type == "AssumedRole"

else := sts_role if principal_type == "AssumedRole"

else := present(object.get(ui, "invokedBy", null)) if principal_type == "AWSService"

else := sprintf("arn:aws:iam::%s:root", [present(object.get(ui, "accountId", null))]) if {
	principal_type == "Root"
	present(object.get(ui, "arn", null)) == ""
	present(object.get(ui, "accountId", null)) != ""
}

else := arn if {
	arn := present(object.get(ui, "arn", null))
	arn_fields(arn)
}

else := ""

exempt if matches_any(p.principals.exempt, principal_arn)

bearer if extra.callWithBearerToken in {true, "true"}

bearer if params.callWithBearerToken in {true, "true"}

# ---- model ---------------------------------------------------------------

model_raw := x if {
	x := str(object.get(params, "modelId", null))
	trim_space(x) != ""
} else := x if {
	x := str(object.get(params, "modelIdentifier", null))
	trim_space(x) != ""
} else := str(object.get(params, "model", null))

model_id_shape(s) if {
	regex.match(`^[a-z0-9-]+\.[a-zA-Z0-9._:-]+$`, s)
	not split(s, ".")[0] in geographies
}

# strip_geo(s) is [geography, rest] for "us.anthropic.…", else ["", s].
strip_geo(s) := [g, rest] if {
	some g in geographies
	startswith(s, concat("", [g, "."]))
	rest := substring(s, count(g) + 1, -1)
	model_id_shape(rest)
} else := ["", s]

model_trimmed := trim_space(model_raw)

model_arn := arn_fields(model_trimmed) if startswith(model_trimmed, "arn:")

# model_parsed is [geography, base].
model_parsed := [geo, base] if {
	a := model_arn
	startswith(a[0], "aws")
	a[1] == "bedrock"
	parts := split(a[4], "/")
	parts[0] in {"foundation-model", "inference-profile"}
	rest := concat("/", array.slice(parts, 1, count(parts)))
	[geo, base] := strip_geo(rest)
	model_id_shape(base)
} else := ["", ""] if {
	model_arn
} else := [geo, base] if {
	[geo, base] := strip_geo(model_trimmed)
	geo != ""
} else := ["", model_trimmed] if {
	model_id_shape(model_trimmed)
} else := ["", ""]

model_geo := model_parsed[0]

model_base := model_parsed[1]

model_ids := [id | some id in [model_base, model_raw]; id != ""]

model_denied if {
	some id in model_ids
	matches_any(p.models.deny, id)
}

model_allowed if count(list(p.models.allow)) == 0

model_allowed if {
	some id in model_ids
	matches_any(p.models.allow, id)
}

# ---- region --------------------------------------------------------------

inference_region := r if {
	r := present(object.get(extra, "inferenceRegion", null))
	r != region
} else := ""

region_allowed(r) if count(list(p.regions.allow)) == 0

region_allowed(r) if r in list(p.regions.allow)

inference_allowed(r) if {
	is_array(p.regions.inference)
	r in p.regions.inference
}

inference_allowed(r) if {
	not is_array(p.regions.inference)
	region_allowed(r)
}

calling_region_bad if {
	region != ""
	not region_allowed(region)
}

global if model_geo == "global"

region_violation if calling_region_bad

region_violation if {
	not calling_region_bad
	global
	not p.regions.allowGlobalProfiles
}

region_violation if {
	not calling_region_bad
	not global
	inference_region != ""
	not inference_allowed(inference_region)
}

# ---- network -------------------------------------------------------------

source_raw := trim_space(str(object.get(d, "sourceIPAddress", null)))

service_caller if lower(source_raw) == "aws internal"

service_caller if {
	not net.cidr_is_valid(concat("/", [source_raw, "32"]))
	not contains(source_raw, ":")
	regex.match(`^([A-Za-z0-9-]{1,63}\.)+[A-Za-z0-9-]*[A-Za-z][A-Za-z0-9-]*$`, source_raw)
}

service_callers_allowed if not p.network.allowAwsServiceCallers == false

restricted if count(list(p.network.allowCidrs)) + count(list(p.network.allowVpcEndpoints)) > 0

vpce := present(object.get(d, "vpcEndpointId", null))

source_allowed if {
	vpce != ""
	vpce in list(p.network.allowVpcEndpoints)
}

source_allowed if {
	some cidr in list(p.network.allowCidrs)
	net.cidr_contains(cidr, source_raw)
}

source_violation if {
	service_caller
	not service_callers_allowed
}

source_violation if {
	not service_caller
	restricted
	not source_allowed
}

# ---- rules ---------------------------------------------------------------

judged if {
	invocation
	not denied
	not exempt
}

findings contains "denied-invocation" if {
	invocation
	denied
	enabled("denied-invocation")
}

findings contains "unauthorized-model" if {
	judged
	model_raw != ""
	model_denied
	enabled("unauthorized-model")
}

findings contains "unauthorized-model" if {
	judged
	model_raw != ""
	not model_denied
	not model_allowed
	enabled("unauthorized-model")
}

findings contains "unauthorized-region" if {
	judged
	region_violation
	enabled("unauthorized-region")
}

findings contains "unauthorized-source-ip" if {
	judged
	source_violation
	enabled("unauthorized-source-ip")
}

findings contains "unauthorized-principal" if {
	judged
	principal_type != "AWSService"
	count(list(p.principals.allow)) > 0
	not matches_any(p.principals.allow, principal_arn)
	enabled("unauthorized-principal")
}

findings contains "api-key-used" if {
	judged
	bearer
	not p.apiKeys.allow
	enabled("api-key-used")
}

findings contains rule if {
	bedrock
	not invocation
	rule := control_plane[name]
	error_code == ""
	enabled(rule)
}
