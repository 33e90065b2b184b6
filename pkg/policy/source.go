package policy

import (
	"bytes"
	"errors"
	"fmt"
	"strings"

	"gopkg.in/yaml.v3"
)

// Where a policy comes from. The CLI and every Lambda resolve it the same
// way (Locate); reading a file or a parameter is the caller's I/O.
const (
	// EnvPolicyDocument holds a whole policy document (YAML). It is for
	// `sam local invoke` (events/env.json) and tests; deployed functions
	// read the stack's policy parameter.
	EnvPolicyDocument = "WARDEN_POLICY_DOCUMENT"
	// EnvPolicyParameter names the SSM parameter holding the policy: the
	// stack sets it for every function. It means what
	// WARDEN_POLICY=ssm://NAME means.
	EnvPolicyParameter = "WARDEN_POLICY_PARAMETER"
)

// Location prefixes.
const (
	FilePrefix      = "file://"
	ParameterPrefix = "ssm://"
)

// LocationKind says what a Location points at.
type LocationKind int

// Location kinds.
const (
	// FromDefault: the embedded default policy with the WARDEN_ALLOWED_*
	// list overrides (EnvDocument).
	FromDefault LocationKind = iota
	// FromFile: a YAML file.
	FromFile
	// FromParameter: an SSM parameter (Name is its name).
	FromParameter
	// FromDocument: the document in WARDEN_POLICY_DOCUMENT (Doc).
	FromDocument
)

// Location is where a policy is read from.
type Location struct {
	Kind LocationKind
	// Name is the file path or the parameter name.
	Name string
	// Doc is the document of a FromDocument location.
	Doc []byte
}

// String names the location as people write it: "policy.yaml",
// "ssm:///bedrock-warden/prod/policy", "WARDEN_POLICY_DOCUMENT", "the
// embedded default policy".
func (l Location) String() string {
	switch l.Kind {
	case FromFile:
		return l.Name
	case FromParameter:
		return ParameterPrefix + l.Name
	case FromDocument:
		return EnvPolicyDocument
	}
	return "the embedded default policy"
}

// ParseLocation reads a policy location: a file path, file://PATH, or
// ssm://NAME for an SSM parameter (ssm:///bedrock-warden/prod/policy). A
// policy document where a location belongs is an error that says where
// documents go.
func ParseLocation(s string) (Location, error) {
	t := strings.TrimSpace(s)
	switch {
	case t == "":
		return Location{}, errors.New("empty policy location: want a file path, file://PATH or ssm://PARAMETER")
	case looksLikeDocument(t):
		return Location{}, fmt.Errorf("%q is a policy document, not a location: %s names a file (PATH or file://PATH) or an SSM parameter (ssm://NAME); put a document in %s",
			clipText(t), EnvPolicy, EnvPolicyDocument)
	case strings.HasPrefix(t, ParameterPrefix):
		name := strings.TrimPrefix(t, ParameterPrefix)
		if name == "" || strings.ContainsAny(name, " \t") {
			return Location{}, fmt.Errorf("%q: want ssm://NAME, e.g. ssm:///bedrock-warden/prod/policy", t)
		}
		return Location{Kind: FromParameter, Name: name}, nil
	case strings.HasPrefix(t, FilePrefix):
		path := strings.TrimPrefix(t, FilePrefix)
		if path == "" {
			return Location{}, fmt.Errorf("%q: want file://PATH", t)
		}
		return Location{Kind: FromFile, Name: path}, nil
	case strings.Contains(t, "://"):
		return Location{}, fmt.Errorf("%q: unknown scheme (want a file path, file://PATH or ssm://PARAMETER)", t)
	}
	return Location{Kind: FromFile, Name: t}, nil
}

// looksLikeDocument tells a YAML document from a path: documents span
// lines, or open a mapping.
func looksLikeDocument(s string) bool {
	return strings.ContainsAny(s, "\n{") || strings.Contains(s, ": ") || strings.HasSuffix(s, ":")
}

func clipText(s string) string {
	s = strings.ReplaceAll(s, "\n", "⏎")
	if len(s) > 40 {
		return s[:40] + "…"
	}
	return s
}

// Locate says where the policy comes from, the same way for the CLI and
// every function: the --policy flag when given, else $WARDEN_POLICY (a
// location), else $WARDEN_POLICY_PARAMETER (an SSM parameter, as the stack
// sets it), else $WARDEN_POLICY_DOCUMENT (a document), else the embedded
// default with the WARDEN_ALLOWED_* overrides.
func Locate(flagValue string, getenv func(string) string) (Location, error) {
	if getenv == nil {
		getenv = func(string) string { return "" }
	}
	if strings.TrimSpace(flagValue) != "" {
		l, err := ParseLocation(flagValue)
		if err != nil {
			return l, fmt.Errorf("--policy: %w", err)
		}
		return l, nil
	}
	if v := getenv(EnvPolicy); strings.TrimSpace(v) != "" {
		l, err := ParseLocation(v)
		if err != nil {
			return l, fmt.Errorf("%s: %w", EnvPolicy, err)
		}
		return l, nil
	}
	if v := strings.TrimSpace(getenv(EnvPolicyParameter)); v != "" {
		return Location{Kind: FromParameter, Name: strings.TrimPrefix(v, ParameterPrefix)}, nil
	}
	if v := getenv(EnvPolicyDocument); strings.TrimSpace(v) != "" {
		return Location{Kind: FromDocument, Doc: []byte(v)}, nil
	}
	return Location{Kind: FromDefault}, nil
}

// Blank reports whether a document holds nothing but comments and white
// space. The stack's policy parameter starts blank: a blank parameter
// means the embedded default with the stack's list parameters
// (EnvDocument), not the allow-all policy an empty file loads as.
func Blank(doc []byte) bool {
	if len(bytes.TrimSpace(doc)) == 0 {
		return true
	}
	var n yaml.Node
	if err := yaml.Unmarshal(doc, &n); err != nil {
		return false
	}
	return n.Kind == 0 || (n.Kind == yaml.DocumentNode && len(n.Content) == 0)
}
