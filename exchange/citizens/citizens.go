// Package citizens is what a citizen records from her carpeta: consents
// that let an organisation consult her data for a procedure, and
// objections to presumed consultation (Llei 39/2015, art. 28.2). It checks
// each request against the catalog, stamps it with its clock and keeps it
// in the store; it changes when the rules for recording them change. The
// pipeline reads the same records when it decides a query.
//
// Every method acts for one citizen, named by the caller from her token:
// nothing in a request can reach another citizen's records.
package citizens

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/pontexchange/pont/catalog"
	"github.com/pontexchange/pont/exchange/audit"
	"github.com/pontexchange/pont/exchange/envelope"
	"github.com/pontexchange/pont/exchange/fault"
	"github.com/pontexchange/pont/exchange/store"
)

// Limits of what a citizen records.
const (
	// MaxConsentLife bounds a consent's expiry: consent for a procedure,
	// not forever.
	MaxConsentLife = 5 * 366 * 24 * time.Hour
	// MaxServices is the most services one consent may name.
	MaxServices = 32
	// MaxRecordID is the longest id of a consent or objection that is
	// looked up; longer ones name nothing.
	MaxRecordID = envelope.MaxConsentID
)

// Config holds what the Service needs. Catalog and Store are required.
type Config struct {
	Catalog *catalog.Catalog
	Store   store.Citizens
	// Now is the clock of every check and stamp. Defaults to time.Now.
	Now func() time.Time
	// NewID makes record ids. Defaults to audit.NewID (time-ordered).
	NewID func() string
}

// Service records citizens' consents and objections. Safe for concurrent use.
type Service struct {
	cfg Config
	// procedures maps each procedure code of the catalog, upper-cased, to
	// its spelling in the catalog and the services any organisation may
	// consult under it: what an objection's procedure is checked against.
	procedures map[string]procedure
}

type procedure struct {
	code     string
	services map[string]bool
}

// New checks cfg and returns a Service.
func New(cfg Config) (*Service, error) {
	switch {
	case cfg.Catalog == nil:
		return nil, errors.New("citizens: Catalog is required")
	case cfg.Store == nil:
		return nil, errors.New("citizens: Store is required")
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.NewID == nil {
		cfg.NewID = audit.NewID
	}
	s := &Service{cfg: cfg, procedures: map[string]procedure{}}
	for _, org := range cfg.Catalog.Authorisations {
		for code, p := range org.Procedures {
			key := strings.ToUpper(code)
			known, ok := s.procedures[key]
			if !ok {
				known = procedure{code: code, services: map[string]bool{}}
			} else if known.code != code {
				return nil, fmt.Errorf("citizens: the catalog spells procedure %s also as %s; one spelling, please", known.code, code)
			}
			for _, svc := range p.Services {
				known.services[svc] = true
			}
			s.procedures[key] = known
		}
	}
	return s, nil
}

// canonicalProcedure answers the catalog's spelling of code, matched
// without regard to case ("demo" is DEMO), and whether there is one.
func (s *Service) canonicalProcedure(code string) (procedure, bool) {
	p, ok := s.procedures[strings.ToUpper(code)]
	return p, ok
}

// ConsentRequest is a consent as a citizen asks to record it.
type ConsentRequest struct {
	// Subject is optional; when given it must be her own.
	Subject string `json:"subject"`
	// Requester is the NIF of the organisation she allows.
	Requester string `json:"requester"`
	// Procedure is one of the requester's procedures in the catalog.
	Procedure string `json:"procedure"`
	// Services the requester may consult, at least one.
	Services []string `json:"services"`
	// Purpose is a purpose code of the catalog.
	Purpose string `json:"purpose"`
	// ExpiresAt is an RFC 3339 time, in the future and at most
	// MaxConsentLife ahead.
	ExpiresAt string `json:"expires_at"`
}

// CreateConsent records citizen's consent. Every wrong field is named in a
// fault.InvalidRequest; a request in another's name is fault.Forbidden.
func (s *Service) CreateConsent(ctx context.Context, citizen string, req ConsentRequest) (store.Consent, error) {
	if req.Subject != "" && req.Subject != citizen {
		return store.Consent{}, fault.New(fault.Forbidden, "a citizen may record consent only in her own name")
	}
	now := s.cfg.Now().UTC()
	var bad fields
	// The procedure in the catalog's spelling, and what the requester may
	// do under it: a consent the policy could never match is refused now,
	// not discovered when a query fails.
	var allowed *catalog.Procedure
	if p, ok := s.canonicalProcedure(req.Procedure); ok {
		req.Procedure = p.code
	}
	switch org, ok := s.cfg.Catalog.Authorisations[req.Requester]; {
	case req.Requester == "":
		bad.add("requester", "is required: the NIF of the organisation she allows to consult her data")
	case !ok:
		bad.add("requester", "is not an organisation of the catalog")
	default:
		if req.Procedure != "" {
			if p, ok := org.Procedures[req.Procedure]; ok {
				allowed = &p
			} else {
				bad.add("procedure", "is not a procedure of organisation "+req.Requester)
			}
		}
	}
	if req.Procedure == "" {
		bad.add("procedure", "is required")
	}
	switch {
	case len(req.Services) == 0:
		bad.add("services", "must list at least one service")
	case len(req.Services) > MaxServices:
		bad.add("services", "must list at most "+strconv.Itoa(MaxServices)+" services")
	default:
		seen := map[string]bool{}
		for i, name := range req.Services {
			field := "services[" + strconv.Itoa(i) + "]"
			if _, ok := s.cfg.Catalog.Service(name); !ok {
				bad.add(field, "is not a service of the catalog")
			} else if seen[name] {
				bad.add(field, "is listed twice")
			} else if allowed != nil && !slices.Contains(allowed.Services, name) {
				bad.add(field, "is not a service that procedure "+req.Procedure+" consults")
			}
			seen[name] = true
		}
	}
	if _, ok := s.cfg.Catalog.Purposes[req.Purpose]; !ok {
		if req.Purpose == "" {
			bad.add("purpose", "is required")
		} else {
			bad.add("purpose", "is not a purpose of the catalog")
		}
	} else if allowed != nil && !slices.Contains(allowed.Purposes, req.Purpose) {
		bad.add("purpose", "is not a purpose of procedure "+req.Procedure+" (it has "+strings.Join(allowed.Purposes, ", ")+")")
	}
	expires, err := time.Parse(time.RFC3339, req.ExpiresAt)
	switch {
	case req.ExpiresAt == "":
		bad.add("expires_at", "is required (RFC 3339, e.g. 2027-06-30T23:59:59Z)")
	case err != nil:
		bad.add("expires_at", "must be an RFC 3339 time, e.g. 2027-06-30T23:59:59Z")
	case !expires.After(now):
		bad.add("expires_at", "is in the past")
	case expires.Sub(now) > MaxConsentLife:
		bad.add("expires_at", "is more than five years ahead")
	}
	if err := bad.err(); err != nil {
		return store.Consent{}, err
	}
	c := store.Consent{
		ID: s.cfg.NewID(), Subject: citizen, Requester: req.Requester, Procedure: req.Procedure,
		Services: req.Services, Purpose: req.Purpose,
		CreatedAt: now.Truncate(time.Microsecond), ExpiresAt: expires.UTC().Truncate(time.Microsecond),
	}
	if err := s.cfg.Store.CreateConsent(ctx, c); err != nil {
		return store.Consent{}, storeError(err, "the consent could not be recorded")
	}
	return c, nil
}

// Consents answers citizen's consents, newest first, revoked ones included.
func (s *Service) Consents(ctx context.Context, citizen string) ([]store.Consent, error) {
	cs, err := s.cfg.Store.ListConsents(ctx, citizen)
	if err != nil {
		return nil, storeError(err, "the consents could not be read")
	}
	return cs, nil
}

// RevokeConsent revokes citizen's consent id now and answers it; revoking
// twice keeps the first time. fault.NotFound when she has no such consent.
func (s *Service) RevokeConsent(ctx context.Context, citizen, id string) (store.Consent, error) {
	if !plausibleID(id) {
		return store.Consent{}, fault.New(fault.NotFound, "she has no consent with this id")
	}
	c, err := s.cfg.Store.RevokeConsent(ctx, citizen, id, s.cfg.Now().UTC().Truncate(time.Microsecond))
	if errors.Is(err, store.ErrNotFound) {
		return store.Consent{}, fault.New(fault.NotFound, "she has no consent with this id")
	}
	if err != nil {
		return store.Consent{}, storeError(err, "the consent could not be revoked")
	}
	return c, nil
}

// ObjectionRequest is an objection as a citizen asks to record it.
type ObjectionRequest struct {
	// Subject is optional; when given it must be her own.
	Subject string `json:"subject"`
	// Service is the catalog service she objects to being consulted.
	Service string `json:"service"`
	// Procedure limits the objection to one procedure; every procedure
	// when empty.
	Procedure string `json:"procedure"`
}

// CreateObjection records citizen's objection; an equal one already
// recorded is answered instead of a duplicate.
func (s *Service) CreateObjection(ctx context.Context, citizen string, req ObjectionRequest) (store.Objection, error) {
	if req.Subject != "" && req.Subject != citizen {
		return store.Objection{}, fault.New(fault.Forbidden, "a citizen may object only in her own name")
	}
	var bad fields
	if req.Service == "" {
		bad.add("service", "is required")
	} else if _, ok := s.cfg.Catalog.Service(req.Service); !ok {
		bad.add("service", "is not a service of the catalog")
	}
	switch p, known := s.canonicalProcedure(req.Procedure); {
	case req.Procedure == "":
	case utf8.RuneCountInString(req.Procedure) > envelope.MaxProcedureCode:
		bad.add("procedure", "must be at most "+strconv.Itoa(envelope.MaxProcedureCode)+" characters")
	case !envelope.IsProcedureCode(req.Procedure):
		bad.add("procedure", "must contain only letters, digits, '_' and '-'")
	case !known:
		bad.add("procedure", "is not a procedure of the catalog")
	default:
		// The catalog's spelling, so that the objection applies to the
		// queries that name the procedure as the catalog does.
		req.Procedure = p.code
		if req.Service != "" && !p.services[req.Service] {
			bad.add("procedure", "does not consult service "+req.Service)
		}
	}
	if err := bad.err(); err != nil {
		return store.Objection{}, err
	}
	o, err := s.cfg.Store.CreateObjection(ctx, store.Objection{
		ID: s.cfg.NewID(), Subject: citizen, Service: req.Service, Procedure: req.Procedure,
		CreatedAt: s.cfg.Now().UTC().Truncate(time.Microsecond),
	})
	if err != nil {
		return store.Objection{}, storeError(err, "the objection could not be recorded")
	}
	return o, nil
}

// Objections answers citizen's objections, newest first.
func (s *Service) Objections(ctx context.Context, citizen string) ([]store.Objection, error) {
	objs, err := s.cfg.Store.ListObjections(ctx, citizen)
	if err != nil {
		return nil, storeError(err, "the objections could not be read")
	}
	return objs, nil
}

// DeleteObjection withdraws citizen's objection id. fault.NotFound when
// she has no such objection.
func (s *Service) DeleteObjection(ctx context.Context, citizen, id string) error {
	if !plausibleID(id) {
		return fault.New(fault.NotFound, "she has no objection with this id")
	}
	err := s.cfg.Store.DeleteObjection(ctx, citizen, id)
	if errors.Is(err, store.ErrNotFound) {
		return fault.New(fault.NotFound, "she has no objection with this id")
	}
	if err != nil {
		return storeError(err, "the objection could not be withdrawn")
	}
	return nil
}

// plausibleID reports whether id could name a record: ids are short
// printable ASCII, so anything else names nothing and need not reach the
// store (a NUL byte would make PostgreSQL refuse the statement).
func plausibleID(id string) bool {
	if id == "" || len(id) > MaxRecordID {
		return false
	}
	for i := 0; i < len(id); i++ {
		if id[i] <= ' ' || id[i] >= 0x7f {
			return false
		}
	}
	return true
}

// fields collects the wrong fields of one request.
type fields []fault.FieldError

func (f *fields) add(field, msg string) {
	*f = append(*f, fault.FieldError{Field: field, Message: msg})
}

func (f fields) err() error {
	if len(f) == 0 {
		return nil
	}
	sorted := slices.SortedStableFunc(slices.Values(f), func(a, b fault.FieldError) int { return strings.Compare(a.Field, b.Field) })
	return fault.Invalid(fault.InvalidRequest, sorted...)
}

func storeError(err error, msg string) error {
	return fault.Wrap(fault.StoreUnavailable, err, "%s", msg)
}
