package query

import (
	"encoding/json"
	"fmt"
	"strings"

	"github.com/pontexchange/pont/exchange/store"
)

// ConsentColumns are the consents table's columns in the order of
// ConsentArgs and ScanConsent.
var ConsentColumns = []string{
	"id", "subject", "requester", "procedure", "services", "purpose",
	"created_at", "expires_at", "revoked_at",
}

// ObjectionColumns are the objections table's columns in the order of
// ObjectionArgs and ScanObjection.
var ObjectionColumns = []string{"id", "subject", "service", "procedure", "created_at"}

// CitizenSQL holds the statements of store.Citizens in one dialect. The
// arguments each takes are listed beside it; every statement that answers
// records selects ConsentColumns or ObjectionColumns.
type CitizenSQL struct {
	InsertConsent string // ConsentArgs
	GetConsent    string // id
	ListConsents  string // subject; newest first
	// RevokeConsent sets revoked_at unless it is set already, and answers
	// the consent; no row when subject has no consent id.
	RevokeConsent string // at, subject, id
	// CreateObjection inserts an objection or, when one with the same
	// subject, service and procedure exists, answers that one untouched:
	// one statement, so that concurrent creations cannot both insert.
	CreateObjection string // ObjectionArgs
	ListObjections  string // subject; newest first
	DeleteObjection string // subject, id
	// FindObjection answers the objection for the procedure, else the one
	// for every procedure; no row when neither exists.
	FindObjection string // subject, service, procedure
}

// Citizens returns the statements of store.Citizens in dialect d.
func Citizens(d Dialect) CitizenSQL {
	consents := strings.Join(ConsentColumns, ", ")
	objections := strings.Join(ObjectionColumns, ", ")
	values := func(n int) string {
		return "(" + strings.TrimSuffix(strings.Repeat("?, ", n), ", ") + ")"
	}
	return CitizenSQL{
		InsertConsent: d.Bind("INSERT INTO consents (" + consents + ") VALUES " + values(len(ConsentColumns))),
		GetConsent:    d.Bind("SELECT " + consents + " FROM consents WHERE id = ?"),
		ListConsents: d.Bind("SELECT " + consents + " FROM consents WHERE subject = ?" +
			" ORDER BY created_at DESC, id DESC"),
		RevokeConsent: d.Bind("UPDATE consents SET revoked_at = COALESCE(revoked_at, ?)" +
			" WHERE subject = ? AND id = ? RETURNING " + consents),
		// DO UPDATE, not DO NOTHING, because only an update RETURNs the
		// existing row; it sets a column to its own value, changing nothing.
		CreateObjection: d.Bind("INSERT INTO objections (" + objections + ") VALUES " + values(len(ObjectionColumns)) +
			" ON CONFLICT (subject, service, procedure) DO UPDATE SET id = objections.id RETURNING " + objections),
		ListObjections: d.Bind("SELECT " + objections + " FROM objections WHERE subject = ?" +
			" ORDER BY created_at DESC, id DESC"),
		DeleteObjection: d.Bind("DELETE FROM objections WHERE subject = ? AND id = ?"),
		// The empty procedure sorts last in every collation: a specific
		// objection is answered before the general one.
		FindObjection: d.Bind("SELECT " + objections + " FROM objections" +
			" WHERE subject = ? AND service = ? AND procedure IN (?, '')" +
			" ORDER BY procedure DESC LIMIT 1"),
	}
}

// ConsentArgs returns c's column values in ConsentColumns order: times
// converted by d, a nil RevokedAt as NULL, and the services as a JSON array
// text ("[]" when there are none), each service through Text (the other
// texts go through Texts with every statement's arguments).
func ConsentArgs(c store.Consent, d Dialect) ([]any, error) {
	services := make([]string, len(c.Services))
	for i, s := range c.Services {
		services[i], _ = store.StorableText(s)
	}
	sj, err := json.Marshal(services)
	if err != nil {
		return nil, fmt.Errorf("encode services of consent %s: %w", c.ID, err)
	}
	var revoked any
	if c.RevokedAt != nil {
		revoked = d.Time(*c.RevokedAt)
	}
	return []any{
		c.ID, c.Subject, c.Requester, c.Procedure, string(sj), c.Purpose,
		d.Time(c.CreatedAt), d.Time(c.ExpiresAt), revoked,
	}, nil
}

// ScanConsent reads one row selected with ConsentColumns. Times come back in
// UTC; no services come back as nil, as they would have been written. A
// failed Scan's error is returned as is, so that callers can tell no row.
func ScanConsent(row Row, d Dialect) (store.Consent, error) {
	var c store.Consent
	var services []byte
	created, createdAt := d.TimeDest()
	expires, expiresAt := d.TimeDest()
	revoked, revokedAt := d.TimeDest()
	if err := row.Scan(&c.ID, &c.Subject, &c.Requester, &c.Procedure, &services, &c.Purpose,
		created, expires, revoked); err != nil {
		return store.Consent{}, err
	}
	if t := createdAt(); t != nil {
		c.CreatedAt = *t
	}
	if t := expiresAt(); t != nil {
		c.ExpiresAt = *t
	}
	c.RevokedAt = revokedAt()
	if err := json.Unmarshal(services, &c.Services); err != nil {
		return store.Consent{}, fmt.Errorf("decode services of consent %s: %w", c.ID, err)
	}
	if len(c.Services) == 0 {
		c.Services = nil
	}
	return c, nil
}

// ObjectionArgs returns o's column values in ObjectionColumns order, the
// time converted by d.
func ObjectionArgs(o store.Objection, d Dialect) []any {
	return []any{o.ID, o.Subject, o.Service, o.Procedure, d.Time(o.CreatedAt)}
}

// ScanObjection reads one row selected with ObjectionColumns, the time in
// UTC. A failed Scan's error is returned as is, so that callers can tell no
// row.
func ScanObjection(row Row, d Dialect) (store.Objection, error) {
	var o store.Objection
	created, createdAt := d.TimeDest()
	if err := row.Scan(&o.ID, &o.Subject, &o.Service, &o.Procedure, created); err != nil {
		return store.Objection{}, err
	}
	if t := createdAt(); t != nil {
		o.CreatedAt = *t
	}
	return o, nil
}
