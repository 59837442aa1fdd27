package query

import (
	"crypto/rand"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/pontexchange/pont/exchange/store"
)

// Salts hands out fresh salts for records given without one, reading
// crypto/rand once for many of them. The zero value is ready to use; it is
// not safe for concurrent use.
type Salts struct{ buf []byte }

// saltsPerRead is how many salts one read of crypto/rand fills.
const saltsPerRead = 64

// Next answers store.SaltSize random bytes that no other call answers.
func (s *Salts) Next() []byte {
	if len(s.buf) < store.SaltSize {
		s.buf = make([]byte, saltsPerRead*store.SaltSize)
		_, _ = rand.Read(s.buf) // never fails: crypto/rand crashes the program rather than answer less
	}
	b := s.buf[:store.SaltSize:store.SaltSize]
	s.buf = s.buf[store.SaltSize:]
	return b
}

// EventColumns are the log_events table's columns in the order of EventArgs
// and ScanEvent.
var EventColumns = []string{
	"id", "at", "node", "kind", "ref", "requester", "procedure", "purpose",
	"service", "services", "expires_at", "operation", "count", "before_at",
	"owner", "adapter", "version", "scope", "module_sha256", "key_id", "signature",
	"subject", "actor", "query_filter", "salt", "personal_sha256",
}

// EventColumnList is EventColumns joined for a SELECT or INSERT.
var EventColumnList = strings.Join(EventColumns, ", ")

// StorableEvent returns e as both stores write it: every text through Text,
// services included. An event has no reasons to name what was altered: the
// escape itself (\xHH, backslashes doubled) is what an auditor sees.
//
// The adapter members are the exception: the store writes them itself from
// a publication it checked (UTF-8 without NUL), and a signature may be
// longer than store.MaxText, so they are escaped only when they need it
// and never cut. Prune writes every event again through here: cutting a
// signature would change the leaf.
func StorableEvent(e store.Event) store.Event {
	for _, f := range [...]*string{
		&e.ID, &e.Node, &e.Kind, &e.Ref, &e.Requester, &e.Procedure, &e.Purpose, &e.Service,
		&e.Operation, &e.Subject, &e.Actor, &e.Filter, &e.PersonalSHA256,
	} {
		if v, ch := store.StorableText(*f); ch != 0 {
			*f = v
		}
	}
	for _, f := range [...]*string{&e.Owner, &e.Adapter, &e.Version, &e.Scope, &e.ModuleSHA256, &e.KeyID, &e.Signature} {
		if !PlainText(*f) {
			*f, _ = store.StorableText(*f)
		}
	}
	copied := false
	for i, s := range e.Services {
		v, ch := store.StorableText(s)
		if ch == 0 {
			continue
		}
		if !copied { // never write into the caller's slice
			e.Services, copied = slices.Clone(e.Services), true
		}
		e.Services[i] = v
	}
	return e
}

// EventArgs returns e's column values in EventColumns order: the values of
// StorableEvent(e), times converted by d (a nil ExpiresAt or Before as
// NULL), the services as a JSON array text ("[]" when there are none).
func EventArgs(e store.Event, d Dialect) ([]any, error) {
	e = StorableEvent(e)
	services := e.Services
	if services == nil {
		services = []string{}
	}
	sj, err := json.Marshal(services)
	if err != nil {
		return nil, fmt.Errorf("encode services of event %s: %w", e.ID, err)
	}
	var expires, before any
	if e.ExpiresAt != nil {
		expires = d.Time(*e.ExpiresAt)
	}
	if e.Before != nil {
		before = d.Time(*e.Before)
	}
	return []any{
		e.ID, d.Time(e.Time), e.Node, e.Kind, e.Ref, e.Requester, e.Procedure, e.Purpose,
		e.Service, string(sj), expires, e.Operation, e.Count, before,
		e.Owner, e.Adapter, e.Version, e.Scope, e.ModuleSHA256, e.KeyID, e.Signature,
		e.Subject, e.Actor, e.Filter, salt(e.Salt), e.PersonalSHA256,
	}, nil
}

// ScanEvent reads one row selected with EventColumnList. Times come back in
// UTC; no services as nil; an empty (pruned) salt as nil.
func ScanEvent(row Row, d Dialect) (store.Event, error) {
	var e store.Event
	var services []byte
	at, atValue := d.TimeDest()
	expires, expiresAt := d.TimeDest()
	before, beforeAt := d.TimeDest()
	if err := row.Scan(&e.ID, at, &e.Node, &e.Kind, &e.Ref, &e.Requester, &e.Procedure, &e.Purpose,
		&e.Service, &services, expires, &e.Operation, &e.Count, before,
		&e.Owner, &e.Adapter, &e.Version, &e.Scope, &e.ModuleSHA256, &e.KeyID, &e.Signature,
		&e.Subject, &e.Actor, &e.Filter, &e.Salt, &e.PersonalSHA256); err != nil {
		return store.Event{}, err
	}
	if t := atValue(); t != nil {
		e.Time = *t
	}
	e.ExpiresAt, e.Before = expiresAt(), beforeAt()
	if err := json.Unmarshal(services, &e.Services); err != nil {
		return store.Event{}, fmt.Errorf("decode services of event %s: %w", e.ID, err)
	}
	if len(e.Services) == 0 {
		e.Services = nil
	}
	if len(e.Salt) == 0 {
		e.Salt = nil
	}
	return e, nil
}

// Sources of a leaf: the table its record is kept in, as log_leaves names it.
const (
	SourceTransfer = "transfer"
	SourceEvent    = "event"
)

// Source answers the source of a leaf's record.
func Source(l store.Leaf) string {
	if l.Event != nil {
		return SourceEvent
	}
	return SourceTransfer
}

// Answered is what a Sealer's Unsealed answered and Seal has not yet
// committed: for each cursor it answered, where the answer started and its
// records. Seal takes from it what the log_leaves rows need besides the ids
// (each record's table and time), and refuses records that Unsealed did not
// answer, or answered after another start than the tree's. Not safe for
// concurrent use: a Sealer serialises its calls.
type Answered struct {
	m map[string]Answer
}

// Answer is one call of Unsealed.
type Answer struct {
	Start   string // the stored cursor the records follow
	IDs     []string
	Sources []string
	Times   []time.Time
}

// Add remembers that Unsealed answered leaves after start, ending at end.
func (a *Answered) Add(start, end string, leaves []store.Leaf) {
	if len(leaves) == 0 {
		return
	}
	ans := Answer{Start: start, IDs: make([]string, len(leaves)), Sources: make([]string, len(leaves)),
		Times: make([]time.Time, len(leaves))}
	for i, l := range leaves {
		ans.IDs[i], ans.Sources[i] = l.ID, Source(l)
		if l.Event != nil {
			ans.Times[i] = l.Event.Time
		} else {
			ans.Times[i] = l.Transfer.Time
		}
	}
	if a.m == nil {
		a.m = map[string]Answer{}
	}
	a.m[end] = ans
}

// For answers what Unsealed answered for s, after checking that s seals
// exactly those records, after start, and that its sizes and hashes are
// whole.
func (a *Answered) For(s store.Seal, start string) (Answer, error) {
	ans, ok := a.m[s.Cursor]
	switch {
	case !ok:
		return Answer{}, fmt.Errorf("seal up to cursor %q: this Sealer's Unsealed did not answer it", s.Cursor)
	case ans.Start != start:
		return Answer{}, fmt.Errorf("seal up to cursor %q: it follows cursor %q, the tree is at %q", s.Cursor, ans.Start, start)
	case !slices.Equal(ans.IDs, s.IDs):
		return Answer{}, fmt.Errorf("seal up to cursor %q: %d ids that are not the %d records Unsealed answered", s.Cursor, len(s.IDs), len(ans.IDs))
	}
	return ans, nil
}

// Forget drops every answer: after a Seal commits, they all start before
// the tree's new cursor.
func (a *Answered) Forget() { clear(a.m) }

// CheckSeal checks the parts of s that the store keeps as given.
func CheckSeal(s store.Seal) error {
	switch {
	case s.From < 0 || s.To != s.From+int64(len(s.IDs)):
		return fmt.Errorf("seal [%d, %d) of %d records", s.From, s.To, len(s.IDs))
	case len(s.IDs) == 0:
		return fmt.Errorf("seal of no records at size %d", s.From)
	case len(s.Checkpoint) == 0:
		return fmt.Errorf("seal [%d, %d) without a checkpoint", s.From, s.To)
	}
	for _, t := range s.Tiles {
		if t.Level < 0 || t.Index < 0 || len(t.Data) == 0 || len(t.Data)%32 != 0 || len(t.Data) > 256*32 {
			return fmt.Errorf("seal [%d, %d): tile %d/%d of %d bytes", s.From, s.To, t.Level, t.Index, len(t.Data))
		}
	}
	return nil
}

// Moved is Seal's error when the stored tree is not at s.From.
func Moved(s store.Seal, size int64) error {
	return fmt.Errorf("the stored tree has %d leaves, not %d: another sealer moved it, this one must stop", size, s.From)
}

// CheckRange checks Leaves' bounds.
func CheckRange(from, to int64) error {
	if from < 0 || to < from {
		return fmt.Errorf("leaves [%d, %d)", from, to)
	}
	return nil
}

// PrunedTransfer answers t without its personal fields and salt, keeping
// commitment, its commitment to them: what Prune writes in its place.
func PrunedTransfer(t store.Transfer, commitment string) store.Transfer {
	t.SubjectIDType, t.SubjectID, t.OfficialID, t.OfficialName = "", "", "", ""
	t.CaseID, t.ConsentID, t.Reasons, t.DataSHA256 = "", "", nil, ""
	t.Salt, t.PersonalSHA256 = nil, commitment
	return t
}

// PrunedEvent answers e without its personal fields and salt, keeping
// commitment.
func PrunedEvent(e store.Event, commitment string) store.Event {
	e.Subject, e.Actor, e.Filter = "", "", ""
	e.Salt, e.PersonalSHA256 = nil, commitment
	return e
}

// TransferPersonalColumns are the columns Prune empties in a transfer
// (reasons become "[]"), besides salt.
var TransferPersonalColumns = []string{
	"subject_id_type", "subject_id", "official_id", "official_name", "case_id", "consent_id", "data_sha256",
}

// EventPersonalColumns are the columns Prune empties in an event, besides
// salt.
var EventPersonalColumns = []string{"subject", "actor", "query_filter"}
