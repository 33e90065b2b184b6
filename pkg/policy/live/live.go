// Package live keeps the policy a Lambda runs with current: it re-reads
// the stack's policy parameter at most once per TTL (60 s or less), so
// `warden policy push` takes effect without a redeploy or a cold start.
//
// A version that is not a valid policy — written by hand, since push
// refuses one — is ignored: the last good policy stays in force, the
// problem is logged and reported once per version (the functions that
// alert raise a critical policy-rejected finding). A cold start that meets
// an invalid version falls back to the newest valid version in the
// parameter's history, else to the embedded default with the stack's list
// parameters, and says so.
//
// The package is pure: the parameter store sits behind Store (package
// ssmpolicy implements it over SSM).
package live

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/bedrock-warden/warden/pkg/findings"
	"github.com/bedrock-warden/warden/pkg/policy"
)

// MaxTTL is the longest the provider serves a policy without asking the
// parameter store whether it changed.
const MaxTTL = 60 * time.Second

// Parameter is one version of the policy parameter.
type Parameter struct {
	Name     string
	Value    string
	Version  int64
	Modified time.Time
	// ModifiedBy is the ARN of who wrote the version, when the store says
	// (the parameter history does; a plain read does not).
	ModifiedBy string
}

// ErrNotFound is wrapped by a Store when the parameter does not exist.
var ErrNotFound = errors.New("parameter not found")

// Store reads the policy parameter.
type Store interface {
	// Get returns the current version.
	Get(ctx context.Context, name string) (Parameter, error)
	// History returns every version the store keeps, in any order.
	History(ctx context.Context, name string) ([]Parameter, error)
}

// Rejection is a version of the parameter that is not a valid policy.
type Rejection struct {
	Parameter Parameter
	Err       error
	// InForce names what the functions use instead: "version 7 of …",
	// or the embedded default.
	InForce string
}

// Finding is the critical policy-rejected finding for r. Its incident is
// the parameter version, so every function that meets the version raises
// the same one (and the alert path sends it once).
func (r Rejection) Finding(region, account string) findings.Finding {
	p := r.Parameter
	version := strconv.FormatInt(p.Version, 10)
	who := p.ModifiedBy
	if who == "" {
		who = "unknown"
	}
	problems := policy.Errors(r.Err)
	var lines []string
	for _, e := range problems {
		lines = append(lines, e.Error())
	}
	if len(lines) == 0 && r.Err != nil {
		lines = []string{r.Err.Error()}
	}
	reason := strings.Join(lines, "; ")
	if len(reason) > 2000 {
		reason = reason[:2000] + "…"
	}
	info, _ := findings.Lookup(findings.RulePolicyRejected)
	return findings.Finding{
		Rule:      findings.RulePolicyRejected,
		Severity:  info.Severity,
		Title:     "Policy parameter " + p.Name + " version " + version + " is not a valid policy: " + r.InForce + " stays in force",
		EventName: "PutParameter",
		EventTime: p.Modified,
		Account:   account,
		Region:    region,
		Principal: who,
		Model:     p.Name,
		Reason:    reason,
		Details: map[string]string{
			"parameter": p.Name, "version": version, "inForce": r.InForce,
			"problems": strconv.Itoa(max(len(problems), 1)),
		},
		Fingerprint: findings.Fingerprint(findings.RulePolicyRejected, p.Name, version, region),
	}
}

// Provider serves the policy in force. It is safe for concurrent use.
type Provider struct {
	// Name is the parameter's name.
	Name  string
	Store Store
	// TTL is how long a read is trusted (MaxTTL when zero or larger).
	TTL time.Duration
	// Fallback is the policy when no version of the parameter was ever
	// valid, and the meaning of a blank parameter (policy.Blank): the
	// embedded default with the stack's list parameters.
	Fallback func() (*policy.Policy, error)
	// OnReject is told about each invalid version once (optional).
	OnReject func(ctx context.Context, r Rejection)
	Now      func() time.Time
	Log      *slog.Logger

	mu      sync.Mutex
	current *policy.Policy
	version int64 // the parameter version read last (valid or not)
	inForce string
	// inForceVersion is the version in force; 0 for the fallback.
	inForceVersion int64
	checked        time.Time
	rejected       map[int64]bool
}

func (p *Provider) now() time.Time {
	if p.Now != nil {
		return p.Now()
	}
	return time.Now()
}

func (p *Provider) ttl() time.Duration {
	if p.TTL <= 0 || p.TTL > MaxTTL {
		return MaxTTL
	}
	return p.TTL
}

func (p *Provider) log() *slog.Logger {
	if p.Log != nil {
		return p.Log
	}
	return slog.Default()
}

// Policy returns the policy in force, re-reading the parameter when the
// last read is older than the TTL. Once a policy is in force, a failed
// read keeps it (and is logged); only the first read's failure is an
// error.
func (p *Provider) Policy(ctx context.Context) (*policy.Policy, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	now := p.now()
	if p.current != nil && now.Sub(p.checked) < p.ttl() {
		return p.current, nil
	}
	par, err := p.Store.Get(ctx, p.Name)
	if err != nil {
		if p.current == nil {
			return nil, fmt.Errorf("read policy parameter %s: %w", p.Name, err)
		}
		p.checked = now // try again after a TTL, not on every event
		p.log().WarnContext(ctx, "policy parameter not read; the policy in force stays", "parameter", p.Name, "inForce", p.inForce, "error", err.Error())
		return p.current, nil
	}
	p.checked = now
	if p.current != nil && par.Version == p.version {
		return p.current, nil
	}
	p.version = par.Version
	pol, err := p.load(par)
	if err == nil {
		first := p.current == nil
		p.current, p.inForce, p.inForceVersion = pol, describe(par), par.Version
		if !first {
			p.log().InfoContext(ctx, "policy updated", "parameter", p.Name, "version", par.Version)
		}
		return p.current, nil
	}
	if p.current == nil {
		if err := p.recover(ctx, par); err != nil {
			return nil, err
		}
	}
	p.reject(ctx, Rejection{Parameter: par, Err: err, InForce: p.inForce})
	return p.current, nil
}

// Version returns the parameter version of the policy in force, 0 before
// the first read or for the fallback policy.
func (p *Provider) Version() int64 {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.inForceVersion
}

// load turns one version into a policy: a blank document means the
// fallback.
func (p *Provider) load(par Parameter) (*policy.Policy, error) {
	if policy.Blank([]byte(par.Value)) {
		if p.Fallback == nil {
			return policy.Default(), nil
		}
		return p.Fallback()
	}
	return policy.Load(policy.ParameterPrefix+p.Name, []byte(par.Value))
}

// recover finds what to run with at a cold start whose current version
// is invalid: the newest older version that loads, else the fallback.
func (p *Provider) recover(ctx context.Context, bad Parameter) error {
	hist, err := p.Store.History(ctx, p.Name)
	if err != nil {
		p.log().WarnContext(ctx, "policy parameter history not read", "parameter", p.Name, "error", err.Error())
	}
	sort.Slice(hist, func(i, j int) bool { return hist[i].Version > hist[j].Version })
	for _, h := range hist {
		if h.Version >= bad.Version {
			if h.Version == bad.Version && h.ModifiedBy != "" {
				bad.ModifiedBy = h.ModifiedBy
			}
			continue
		}
		if pol, err := p.load(h); err == nil {
			p.current, p.inForce, p.inForceVersion = pol, describe(h), h.Version
			return nil
		}
	}
	if p.Fallback == nil {
		p.current = policy.Default()
	} else {
		pol, err := p.Fallback()
		if err != nil {
			return fmt.Errorf("policy parameter %s version %d is invalid and so is the fallback: %w", p.Name, bad.Version, err)
		}
		p.current = pol
	}
	p.inForce, p.inForceVersion = "the embedded default policy", 0
	return nil
}

// reject logs and reports an invalid version, once per version.
func (p *Provider) reject(ctx context.Context, r Rejection) {
	if p.rejected == nil {
		p.rejected = map[int64]bool{}
	}
	if p.rejected[r.Parameter.Version] {
		return
	}
	p.rejected[r.Parameter.Version] = true
	if r.Parameter.ModifiedBy == "" {
		// Who wrote it is in the history only.
		if hist, err := p.Store.History(ctx, p.Name); err == nil {
			for _, h := range hist {
				if h.Version == r.Parameter.Version {
					r.Parameter.ModifiedBy = h.ModifiedBy
				}
			}
		}
	}
	p.log().ErrorContext(ctx, "policy parameter holds an invalid policy: ignored", "parameter", p.Name,
		"version", r.Parameter.Version, "inForce", r.InForce, "modifiedBy", r.Parameter.ModifiedBy, "error", r.Err.Error())
	if p.OnReject != nil {
		p.OnReject(ctx, r)
	}
}

func describe(par Parameter) string {
	return "version " + strconv.FormatInt(par.Version, 10) + " of " + par.Name
}
