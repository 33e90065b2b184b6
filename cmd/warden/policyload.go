package main

import (
	"context"
	"fmt"
	"os"
	"strings"

	"github.com/bedrock-warden/warden/pkg/awsconf"
	"github.com/bedrock-warden/warden/pkg/policy"
	"github.com/bedrock-warden/warden/pkg/policy/ssmpolicy/pushpull"
)

// policyFlagUsage is the --policy help of every verb.
const policyFlagUsage = "policy `LOCATION`: a file, file://PATH or ssm://PARAMETER (default $WARDEN_POLICY, else the embedded default)"

// loadedPolicy is the policy a verb judges with, and where it came from.
type loadedPolicy struct {
	*policy.Policy
	// Name is what error messages and notes call it.
	Name string
	// Doc is the document it was loaded from (for export's line numbers).
	Doc []byte
	// Version is the parameter version, for a policy read from SSM.
	Version int64
}

// policyStore builds the SSM client for ssm:// locations; tests swap it.
var policyStore = func(ctx context.Context) (pushpull.Store, error) {
	cfg, err := awsconf.Load(ctx, "", "", nil)
	if err != nil {
		return pushpull.Store{}, err
	}
	return pushpull.NewStore(cfg), nil
}

// loadPolicy loads the policy every verb judges with, the way the
// functions do (policy.Locate): --policy, else $WARDEN_POLICY, else
// $WARDEN_POLICY_PARAMETER, else $WARDEN_POLICY_DOCUMENT, else the embedded
// default with the WARDEN_ALLOWED_* overrides. stackParameter, when set,
// is the stack's policy parameter, used before the embedded default.
func loadPolicy(ctx context.Context, flagValue string, sio *IO, stackParameter string) (loadedPolicy, error) {
	loc, err := policy.Locate(flagValue, sio.Getenv)
	if err != nil {
		return loadedPolicy{}, err
	}
	if loc.Kind == policy.FromDefault && stackParameter != "" && strings.TrimSpace(sio.Getenv(policy.EnvPolicyDocument)) == "" {
		loc = policy.Location{Kind: policy.FromParameter, Name: stackParameter}
	}
	switch loc.Kind {
	case policy.FromFile:
		doc, err := os.ReadFile(loc.Name)
		if err != nil {
			return loadedPolicy{}, fmt.Errorf("read policy: %w", err)
		}
		p, err := policy.Load(loc.Name, doc)
		return loadedPolicy{Policy: p, Name: loc.Name, Doc: doc}, err
	case policy.FromDocument:
		p, err := policy.Load(policy.EnvPolicyDocument, loc.Doc)
		return loadedPolicy{Policy: p, Name: policy.EnvPolicyDocument, Doc: loc.Doc}, err
	case policy.FromParameter:
		store, err := policyStore(ctx)
		if err != nil {
			return loadedPolicy{}, err
		}
		par, err := store.Get(ctx, loc.Name)
		if err != nil {
			return loadedPolicy{}, fmt.Errorf("read policy %s: %w", loc, err)
		}
		if policy.Blank([]byte(par.Value)) {
			name, doc, err := policy.EnvDocument(sio.Getenv)
			if err != nil {
				return loadedPolicy{}, err
			}
			p, err := policy.Load(name, doc)
			return loadedPolicy{Policy: p, Name: loc.String() + " (blank: " + name + ")", Doc: doc, Version: par.Version}, err
		}
		p, err := policy.Load(loc.String(), []byte(par.Value))
		return loadedPolicy{Policy: p, Name: loc.String(), Doc: []byte(par.Value), Version: par.Version}, err
	}
	name, doc, err := policy.EnvDocument(sio.Getenv)
	if err != nil {
		return loadedPolicy{}, err
	}
	p, err := policy.Load(name, doc)
	return loadedPolicy{Policy: p, Name: name, Doc: doc}, err
}
