// Package memledger is an in-process remediation ledger: records (sealed
// and verified like the DynamoDB ledger's), claims, the breaker and
// notices, behind one mutex. Its conditional writes are serialised, which
// moto's DynamoDB does not promise, so properties such as "concurrent
// enforce actions never exceed the breaker's maximum" are tested here.
package memledger

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"sync"
	"time"

	"github.com/bedrock-warden/warden/pkg/remediation"
	"github.com/bedrock-warden/warden/pkg/seal"
)

type stored struct {
	body []byte
	mac  []byte
	rec  remediation.Record
}

type claim struct {
	pending  bool
	at       time.Time
	record   string
	notified bool
	until    time.Time
}

type breaker struct {
	count  int
	opened bool
}

type notice struct {
	sent  bool
	at    time.Time
	until time.Time
}

// Store implements remediation.Ledger, Claims, Breaker and Notices.
type Store struct {
	// Seal seals on Put and verifies on Get, as the DynamoDB ledger does.
	Seal seal.Records

	mu       sync.Mutex
	records  map[string]stored
	claims   map[string]*claim
	breakers map[string]*breaker
	notices  map[string]*notice
}

var (
	_ remediation.Ledger  = (*Store)(nil)
	_ remediation.Claims  = (*Store)(nil)
	_ remediation.Breaker = (*Store)(nil)
	_ remediation.Notices = (*Store)(nil)
)

// New returns an empty store sealing with s.
func New(s seal.Records) *Store {
	return &Store{Seal: s, records: map[string]stored{}, claims: map[string]*claim{}, breakers: map[string]*breaker{}, notices: map[string]*notice{}}
}

// Put implements remediation.Ledger.
func (m *Store) Put(ctx context.Context, r remediation.Record) error {
	body, err := remediation.MarshalRecord(r)
	if err != nil {
		return err
	}
	mac, err := m.Seal.Seal(ctx, r.ID, body)
	if err != nil {
		return err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	m.records[r.ID] = stored{body: body, mac: mac, rec: r}
	return nil
}

// PutRaw stores body and mac under id as they are: what someone with
// write access to the table can do.
func (m *Store) PutRaw(id string, r remediation.Record, body, mac []byte) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.records[id] = stored{body: body, mac: mac, rec: r}
}

// Get implements remediation.Ledger, verifying the seal.
func (m *Store) Get(ctx context.Context, id string) (remediation.Record, error) {
	m.mu.Lock()
	st, ok := m.records[id]
	m.mu.Unlock()
	if !ok {
		return remediation.Record{}, fmt.Errorf("%w: %s", remediation.ErrNoRecord, id)
	}
	if err := m.Seal.Verify(ctx, id, st.body, st.mac); err != nil {
		if errors.Is(err, seal.ErrMissing) || errors.Is(err, seal.ErrInvalid) {
			return remediation.Record{}, fmt.Errorf("%w: %w", remediation.ErrUnauthenticated, err)
		}
		return remediation.Record{}, err
	}
	return st.rec, nil
}

// List implements remediation.Ledger.
func (m *Store) List(_ context.Context, since time.Time, principal string) ([]remediation.Record, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []remediation.Record
	for _, st := range m.records {
		if st.rec.Time.Before(since) || (principal != "" && st.rec.Principal != principal) {
			continue
		}
		out = append(out, st.rec)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out, nil
}

// Expired implements remediation.Ledger.
func (m *Store) Expired(_ context.Context, t time.Time) ([]string, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	var ids []string
	for id, st := range m.records {
		r := st.rec
		changed := r.Result == remediation.ResultApplied || r.Result == remediation.ResultFailed || r.Result == remediation.ResultApplying
		if changed && r.UndoneBy == "" && r.ExpiresAt != nil && !r.ExpiresAt.After(t) {
			ids = append(ids, id)
		}
	}
	sort.Strings(ids)
	return ids, nil
}

// Claim implements remediation.Claims.
func (m *Store) Claim(_ context.Context, key string, mode remediation.Mode, now time.Time, lease time.Duration) (remediation.ClaimResult, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	k := key + "/" + string(mode)
	c := m.claims[k]
	switch {
	case c == nil, !c.pending && !c.until.IsZero() && c.until.Before(now), c.pending && now.Sub(c.at) > lease:
		m.claims[k] = &claim{pending: true, at: now}
		return remediation.ClaimResult{State: remediation.ClaimAcquired}, nil
	case c.pending:
		return remediation.ClaimResult{State: remediation.ClaimBusy}, nil
	}
	return remediation.ClaimResult{State: remediation.ClaimDuplicate, Record: c.record, Notified: c.notified}, nil
}

// Complete implements remediation.Claims.
func (m *Store) Complete(_ context.Context, key string, mode remediation.Mode, id string, until time.Time, notified bool) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.claims[key+"/"+string(mode)] = &claim{record: id, until: until, notified: notified}
	return nil
}

// MarkNotified implements remediation.Claims.
func (m *Store) MarkNotified(_ context.Context, key string, mode remediation.Mode) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if c := m.claims[key+"/"+string(mode)]; c != nil {
		c.notified = true
	}
	return nil
}

// Release implements remediation.Claims.
func (m *Store) Release(_ context.Context, key string, mode remediation.Mode) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	delete(m.claims, key+"/"+string(mode))
	return nil
}

// ClaimOf returns the claim state of (key, mode) for tests: "" none,
// "pending", or the record id.
func (m *Store) ClaimOf(key string, mode remediation.Mode) string {
	m.mu.Lock()
	defer m.mu.Unlock()
	c := m.claims[key+"/"+string(mode)]
	switch {
	case c == nil:
		return ""
	case c.pending:
		return "pending"
	}
	return c.record
}

func breakerKey(account string, hour time.Time) string {
	return account + "@" + remediation.Hour(hour).Format(time.RFC3339)
}

// Take implements remediation.Breaker.
func (m *Store) Take(_ context.Context, account string, hour time.Time, max int) (bool, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	k := breakerKey(account, hour)
	b := m.breakers[k]
	if b == nil {
		b = &breaker{}
		m.breakers[k] = b
	}
	if b.count >= max {
		return false, nil
	}
	b.count++
	return true, nil
}

// MarkOpen implements remediation.Breaker.
func (m *Store) MarkOpen(_ context.Context, account string, hour time.Time) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	k := breakerKey(account, hour)
	if m.breakers[k] == nil {
		m.breakers[k] = &breaker{}
	}
	m.breakers[k].opened = true
	return nil
}

// Status implements remediation.Breaker.
func (m *Store) Status(_ context.Context, account string, hour time.Time) (remediation.BreakerStatus, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	st := remediation.BreakerStatus{Account: account, Hour: remediation.Hour(hour)}
	if b := m.breakers[breakerKey(account, hour)]; b != nil {
		st.Count, st.Open = b.count, b.opened
	}
	return st, nil
}

// Reset implements remediation.Breaker.
func (m *Store) Reset(_ context.Context, account string, hour time.Time) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	delete(m.breakers, breakerKey(account, hour))
	return nil
}

// BeginNotice implements remediation.Notices.
func (m *Store) BeginNotice(_ context.Context, key string, now time.Time, lease, keep time.Duration) (bool, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	n := m.notices[key]
	if n != nil && now.Before(n.until) && (n.sent || now.Sub(n.at) <= lease) {
		return false, nil
	}
	m.notices[key] = &notice{at: now, until: now.Add(keep)}
	return true, nil
}

// NoticeSent implements remediation.Notices.
func (m *Store) NoticeSent(_ context.Context, key string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if n := m.notices[key]; n != nil {
		n.sent = true
	}
	return nil
}

// AbandonNotice implements remediation.Notices.
func (m *Store) AbandonNotice(_ context.Context, key string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if n := m.notices[key]; n != nil && !n.sent {
		delete(m.notices, key)
	}
	return nil
}
