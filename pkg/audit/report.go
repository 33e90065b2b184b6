package audit

import (
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/bedrock-warden/warden/pkg/findings"
	"github.com/bedrock-warden/warden/pkg/iameval"
)

// SchemaVersion is the version of the JSON report (docs/audit.md). It
// changes only when a field changes meaning or is removed.
const SchemaVersion = 1

// Principal statuses: judged, or listed apart.
const (
	StatusJudged        = "judged"
	StatusExempt        = "exempt"         // principals.exempt
	StatusProtected     = "protected"      // carries the remediation protected tag
	StatusServiceLinked = "service-linked" // an AWS service's own role
)

// Report is the result of one audit: `warden audit --format json` prints it.
// The struct tags' desc texts are the JSON schema's descriptions
// (docs/audit.md is generated from them).
type Report struct {
	SchemaVersion int       `json:"schemaVersion" desc:"version of this format (1)"`
	GeneratedAt   time.Time `json:"generatedAt" desc:"when the audit ran (RFC 3339, UTC)"`
	Account       string    `json:"account" desc:"the audited AWS account"`
	Policy        string    `json:"policy" desc:"the Bedrock Warden policy judged against (file name, or embedded default)"`
	SCPs          SCPStatus `json:"scps" desc:"whether service control policies were read and applied"`
	// Dimensions says which dimensions were judged under this policy.
	Dimensions []DimensionStatus `json:"dimensions" desc:"every dimension, and whether the policy restricts it"`
	// Principals holds the judged principals, most dangerous first.
	Principals []PrincipalReport `json:"principals" desc:"judged principals, most dangerous first"`
	// Apart holds exempt, protected and service-linked principals: judged
	// for information, never counted as exceeding the policy.
	Apart  []PrincipalReport `json:"apart" desc:"exempt, protected and service-linked principals: judged for information, never counted"`
	Errors []string          `json:"errors" desc:"principals or documents that could not be read or judged"`
	Notes  []string          `json:"notes" desc:"what else the reader should know (principals deleted during the run, …)"`
	// Summary counts the principals.
	Summary Summary `json:"summary" desc:"counts"`
	// Stats measures the run; it is not part of the JSON report.
	Stats RunStats `json:"-"`
	// Unread lists the ARNs of the principals behind Errors.
	Unread []string `json:"-"`
}

// SCPStatus is the report's SCP section.
type SCPStatus struct {
	Applied  bool     `json:"applied" desc:"SCPs were read and are part of every decision"`
	Targets  []string `json:"targets,omitempty" desc:"the organisation levels whose SCPs apply: root, OUs, account"`
	Policies []string `json:"policies,omitempty" desc:"names of the SCPs read"`
	Note     string   `json:"note,omitempty" desc:"why SCPs were not applied (not in an organisation, not readable, management account, …)"`
}

// DimensionStatus says whether the policy restricts a dimension.
type DimensionStatus struct {
	ID     string `json:"id" desc:"dimension id: models, regions, network, principals, api-keys, logging, guardrails, model-access, costly-resources"`
	Rule   string `json:"rule" desc:"the detection rule reporting the same thing when it happens"`
	Title  string `json:"title" desc:"what an allowed verdict means"`
	Judged bool   `json:"judged" desc:"false when the policy leaves the dimension open"`
	Note   string `json:"note,omitempty" desc:"why it is not judged"`
}

// Summary counts the principals of a report.
type Summary struct {
	Principals int            `json:"principals" desc:"principals judged (not counting those listed apart)"`
	Exceeding  int            `json:"exceeding" desc:"judged principals with at least one allowed verdict"`
	Unknown    int            `json:"unknown" desc:"judged principals with no allowed but at least one unknown verdict"`
	Apart      int            `json:"apart" desc:"principals listed apart"`
	ByRisk     map[string]int `json:"byRisk" desc:"judged principals per risk level"`
}

// PrincipalReport is one principal's verdicts.
type PrincipalReport struct {
	ARN      string `json:"arn" desc:"the user's or role's ARN"`
	Kind     string `json:"kind" desc:"user or role"`
	Name     string `json:"name" desc:"user or role name"`
	Status   string `json:"status" desc:"judged, exempt, protected or service-linked"`
	Why      string `json:"why,omitempty" desc:"why the principal is listed apart"`
	Boundary string `json:"boundary,omitempty" desc:"its permissions boundary, if any"`
	// Risk is the severity of its worst allowed verdict, "unknown" when
	// it has only unknown ones, "none" otherwise.
	Risk     string          `json:"risk" desc:"severity of the worst allowed verdict (critical, high, medium, low), unknown, or none"`
	Exceeds  bool            `json:"exceeds" desc:"at least one dimension is allowed"`
	Verdicts []VerdictReport `json:"verdicts" desc:"one per judged dimension, in dimension order"`
	Error    string          `json:"error,omitempty" desc:"why the principal could not be judged"`
}

// VerdictReport is a principal's verdict in one dimension.
type VerdictReport struct {
	Dimension string  `json:"dimension" desc:"dimension id"`
	Rule      string  `json:"rule" desc:"detection rule id"`
	Severity  string  `json:"severity" desc:"the rule's severity under the policy"`
	Verdict   Verdict `json:"verdict" desc:"allowed, unknown, restricted or denied"`
	Summary   string  `json:"summary" desc:"one line a person reads"`
	// Example is the call that proves an allowed or unknown verdict, or
	// the refused call of a restricted or denied one.
	Example *Call `json:"example,omitempty" desc:"the call behind the verdict: allowed or undecided for allowed/unknown, refused for restricted/denied"`
	// Grants are the statements that allow the example.
	Grants []Statement `json:"grants,omitempty" desc:"the statements that allow the example call"`
	// Blocks are the statements (or the missing allow) that stop the
	// forbidden calls of a restricted or denied verdict.
	Blocks    []Statement `json:"blocks,omitempty" desc:"deny statements that refuse the forbidden calls (restricted, denied)"`
	Reason    string      `json:"reason,omitempty" desc:"IAM's reason for refusing the example (restricted, denied)"`
	Undecided []string    `json:"undecided,omitempty" desc:"condition tests that could not be decided (unknown)"`
	// Families splits the models dimension by models.deny pattern and
	// "unlisted".
	Families []FamilyVerdict `json:"families,omitempty" desc:"models only: one verdict per models.deny pattern and for unlisted models"`
	Fix      *Fix            `json:"fix,omitempty" desc:"the smallest change that closes an allowed verdict"`
	// open is the allowed example, for the fix.
	open *call
}

// FamilyVerdict is the models verdict for one family.
type FamilyVerdict struct {
	Family  string  `json:"family" desc:"a models.deny pattern, or \"unlisted\" (matches no models.allow pattern)"`
	Verdict Verdict `json:"verdict" desc:"allowed, unknown, restricted or denied"`
	Model   string  `json:"model,omitempty" desc:"a model id of the family the principal can (or may) invoke"`
}

// Call is one concrete call the audit judged.
type Call struct {
	Operation       string   `json:"operation" desc:"the API operation (CloudTrail eventName)"`
	Actions         []string `json:"actions" desc:"the IAM actions it is authorised by"`
	Resources       []string `json:"resources" desc:"the ARNs it is authorised on, in order (profile, then foundation model)"`
	Model           string   `json:"model,omitempty" desc:"the model id as the caller gives it"`
	Region          string   `json:"region,omitempty" desc:"the calling region"`
	InferenceRegion string   `json:"inferenceRegion,omitempty" desc:"where inference runs, when routed elsewhere"`
	Source          string   `json:"source,omitempty" desc:"source address, or the AWS service calling on the principal's behalf"`
	VPCEndpoint     string   `json:"vpcEndpoint,omitempty" desc:"the VPC endpoint it came through"`
	Violates        []string `json:"violates,omitempty" desc:"the detection rules that would report the call"`
}

// Statement names a policy statement in the report.
type Statement struct {
	Layer     string `json:"layer" desc:"identity, boundary or scp"`
	Policy    string `json:"policy" desc:"the policy's name"`
	PolicyARN string `json:"policyArn,omitempty" desc:"the managed policy's or SCP's ARN"`
	Source    string `json:"source,omitempty" desc:"inline, customer-managed, aws-managed, scp or exported"`
	Group     string `json:"group,omitempty" desc:"the IAM group the user gets the policy through"`
	Index     int    `json:"index" desc:"0-based position of the statement"`
	Sid       string `json:"sid,omitempty" desc:"the statement's Sid"`
	Effect    string `json:"effect" desc:"Allow or Deny"`
}

// String formats the statement as people read it: `statement "Sid" (#2)
// of AmazonBedrockFullAccess (AWS managed)`.
func (s Statement) String() string {
	st := "statement #" + strconv.Itoa(s.Index+1)
	if s.Sid != "" {
		st = "statement \"" + s.Sid + "\" (#" + strconv.Itoa(s.Index+1) + ")"
	}
	out := st + " of " + s.Policy
	if strings.HasPrefix(s.Policy, "\x00") {
		return out // a marker, rendered with where the document comes from
	}
	switch {
	case s.Group != "":
		out += " (group " + s.Group + ")"
	case s.Source == SourceAWSManaged:
		out += " (AWS managed)"
	case s.Source == SourceSCP:
		out += " (SCP)"
	case s.Layer == "boundary":
		out += " (permissions boundary)"
	}
	return out
}

// Fix is the smallest change that closes a finding.
type Fix struct {
	// Kind is "narrow-statement" (change the statement that grants),
	// "deny-statement" (add the given Deny), "boundary" (attach the
	// exported permissions boundary), "scp" (attach the exported SCP),
	// "identity-center" (change the permission set), or "manual".
	Kind      string     `json:"kind" desc:"narrow-statement, deny-statement, boundary, scp, identity-center or manual"`
	Summary   string     `json:"summary" desc:"what to change, as one sentence"`
	Statement *Statement `json:"statement,omitempty" desc:"the statement to narrow"`
	Command   string     `json:"command,omitempty" desc:"the warden or aws command that produces or applies the change"`
	// Document is a policy document to add (deny-statement).
	Document string `json:"document,omitempty" desc:"a policy document to add (deny-statement)"`
	// Verified reports that the audit re-judged the principal with the
	// change applied and the dimension came out closed.
	Verified bool `json:"verified" desc:"the audit re-judged the principal with the change and the dimension closed"`
}

// risk ranks: higher is worse.
func riskRank(r string) int {
	switch r {
	case "unknown":
		return 1
	case "none", "":
		return 0
	}
	return 2 + findings.Severity(r).Rank()
}

// sortByRisk orders principals most dangerous first: the worst allowed
// severity, then the number of allowed verdicts, then unknown ones, then
// the ARN.
func sortByRisk(ps []PrincipalReport) {
	count := func(p PrincipalReport, v Verdict) int {
		n := 0
		for _, x := range p.Verdicts {
			if x.Verdict == v {
				n++
			}
		}
		return n
	}
	sort.SliceStable(ps, func(i, j int) bool {
		a, b := ps[i], ps[j]
		if ra, rb := riskRank(a.Risk), riskRank(b.Risk); ra != rb {
			return ra > rb
		}
		if na, nb := count(a, Allowed), count(b, Allowed); na != nb {
			return na > nb
		}
		if na, nb := count(a, Unknown), count(b, Unknown); na != nb {
			return na > nb
		}
		return a.ARN < b.ARN
	})
}

// statementOf turns an evaluator reference into a report statement. The
// policy stays a marker until the verdicts are rendered for a principal
// (render.go).
func (j *judgement) statementOf(r iameval.StatementRef) Statement {
	s := Statement{Policy: r.Policy, Index: r.Index, Sid: r.Sid, Effect: r.Effect, Layer: "identity"}
	if d, ok := j.docs[r.Policy]; ok {
		s.Layer = d.layer
	}
	return s
}
