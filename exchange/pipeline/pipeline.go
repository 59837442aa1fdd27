// Package pipeline answers one query from start to end: validate the
// envelope, look the service up, ask the policy, route to the adapter, check
// and minimise its answer, and commit the transfer record before anything
// leaves. It is the one place that knows the order of those steps, and it
// changes when that order or what is recorded changes.
package pipeline

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync/atomic"
	"time"

	"github.com/pontexchange/pont/catalog"
	"github.com/pontexchange/pont/exchange/audit"
	"github.com/pontexchange/pont/exchange/auth"
	"github.com/pontexchange/pont/exchange/envelope"
	"github.com/pontexchange/pont/exchange/fault"
	"github.com/pontexchange/pont/exchange/policy"
	"github.com/pontexchange/pont/exchange/quota"
	"github.com/pontexchange/pont/exchange/router"
	"github.com/pontexchange/pont/exchange/store"
	"github.com/pontexchange/pont/exchange/translog"
	"github.com/pontexchange/pont/sdk-wasm/abi"
)

// Decider decides whether a query may be answered, and which fields.
// *policy.Engine implements it.
type Decider interface {
	Decide(ctx context.Context, in policy.Input) (policy.Decision, error)
	// Revision names the policies and data deciding, for the record.
	Revision() string
}

// Routes finds the adapter that serves a query. *router.Router implements it.
type Routes interface {
	Route(svc *catalog.Service, params envelope.Params) (router.Adapter, error)
}

// Recorder makes one transfer record durable; nil from Append means
// durable. *audit.Log implements it.
type Recorder interface {
	Append(ctx context.Context, t store.Transfer) error
}

// CitizenRecords reads what citizens recorded that the policy weighs: a
// consent named as legal basis and objections to presumed consultation.
// Both answer store.ErrNotFound when there is none. store.Citizens
// implements it.
type CitizenRecords interface {
	GetConsent(ctx context.Context, id string) (store.Consent, error)
	FindObjection(ctx context.Context, subject, service, procedure string) (store.Objection, error)
}

// Quota refuses a caller over its allowance, with a fault.RateLimited that
// says when to retry. *quota.Limiter implements it.
type Quota interface {
	Check(kind, id string) error
}

// Observer is told of decisions and adapter calls, for metrics. Optional.
type Observer interface {
	Decision(service, decision string)
	AdapterCall(adapter, outcome string, elapsed time.Duration)
}

// Config holds the parts a Pipeline drives. Catalog, Policy, Router and Log
// are required.
type Config struct {
	Catalog *catalog.Catalog
	Policy  Decider
	Router  Routes
	Log     Recorder
	// Citizens holds consents and objections; nil means none are recorded.
	Citizens CitizenRecords
	// Quota shares the node between callers: a requesting organisation's
	// queries, a citizen's reads of her data. nil: no limit.
	Quota    Quota
	Node     string           // recorded in every transfer
	Observer Observer         // nil: nothing observed
	Now      func() time.Time // defaults to time.Now
	// RecordTimeout bounds the wait for a record's commit; the commit is
	// attempted even when the caller has gone, so no decision goes unrecorded.
	// Defaults to 5 s.
	RecordTimeout time.Duration
}

// Pipeline answers queries. Safe for concurrent use.
type Pipeline struct {
	cfg    Config
	policy atomic.Pointer[decider]
	// services holds each catalog service's policy view converted once for
	// the policy engine (policy.Input.ServiceValue). A service's view is
	// built at load and never changes (catalog.Service.PolicyView), so its
	// conversion stays valid.
	services map[*catalog.Service]policy.Value
}

// decider boxes a Decider for atomic replacement.
type decider struct{ Decider }

// New checks cfg and returns a Pipeline.
func New(cfg Config) (*Pipeline, error) {
	switch {
	case cfg.Catalog == nil:
		return nil, errors.New("pipeline: Catalog is required")
	case cfg.Policy == nil:
		return nil, errors.New("pipeline: Policy is required")
	case cfg.Router == nil:
		return nil, errors.New("pipeline: Router is required")
	case cfg.Log == nil:
		return nil, errors.New("pipeline: Log is required")
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.RecordTimeout <= 0 {
		cfg.RecordTimeout = 5 * time.Second
	}
	p := &Pipeline{cfg: cfg, services: make(map[*catalog.Service]policy.Value)}
	for _, name := range cfg.Catalog.ServiceNames() {
		svc, _ := cfg.Catalog.Service(name)
		v, err := policy.NewValue(svc.PolicyView())
		if err != nil {
			return nil, fmt.Errorf("pipeline: service %s: %w", name, err)
		}
		p.services[svc] = v
	}
	p.SetPolicy(cfg.Policy)
	return p, nil
}

// SetPolicy replaces the policy; requests already deciding finish with the
// one they started with, and record its revision.
func (p *Pipeline) SetPolicy(d Decider) { p.policy.Store(&decider{d}) }

// Policy is the policy deciding now.
func (p *Pipeline) Policy() Decider { return p.policy.Load().Decider }

// Failure is the error of a query that was refused or failed after it was
// recorded: it carries the transfer id, so that the requester can cite it.
type Failure struct {
	TransferID string
	Err        error
}

func (f *Failure) Error() string { return f.Err.Error() }
func (f *Failure) Unwrap() error { return f.Err }

// Query answers one query on service for principal, with body as the
// request's JSON envelope. Every call that returns is recorded: an Answer
// only after its record has committed; an error (a *Failure when the record
// committed) otherwise. If the record cannot be committed the error is
// fault.StoreUnavailable and no data is returned.
func (p *Pipeline) Query(ctx context.Context, principal auth.Principal, service string, body []byte) (Answer, error) {
	return p.recorded(ctx, principal, KindQuery, service, func(rec *store.Transfer) (served, error) {
		return p.answerQuery(ctx, principal, service, body, rec)
	})
}

// SelfAccess answers a citizen's read of her own data on service, with
// params as the service's params. The subject is always the principal's
// own: nothing in the request can name another. It is recorded like a
// query, as KindSelfAccess.
func (p *Pipeline) SelfAccess(ctx context.Context, principal auth.Principal, service string, params envelope.Params) (Answer, error) {
	return p.recorded(ctx, principal, KindSelfAccess, service, func(rec *store.Transfer) (served, error) {
		return p.answerSelf(ctx, principal, service, params, rec)
	})
}

// Refuse records a request on service that the HTTP layer refused before it
// could become a query (a body of the wrong media type or size, a query
// string it could not read), so that every attempt is in the log, and
// returns err carrying the record's transfer id (a *Failure), or
// fault.StoreUnavailable when the record could not be committed.
func (p *Pipeline) Refuse(ctx context.Context, principal auth.Principal, kind, service string, err error) error {
	return p.RefuseFrom(ctx, principal, kind, service, Origin{}, err)
}

// RefuseFrom is Refuse for a request that came through another door
// (origin names it in the record), such as an SCSP Peticion refused after
// its signature told who sent it.
func (p *Pipeline) RefuseFrom(ctx context.Context, principal auth.Principal, kind, service string, origin Origin, err error) error {
	_, rerr := p.recordedFrom(ctx, principal, kind, service, origin, func(rec *store.Transfer) (served, error) {
		if kind == KindSelfAccess {
			rec.SubjectIDType, rec.SubjectID, rec.LegalBasis = idType(principal.Sub), principal.Sub, "self"
		}
		return served{}, refused(rec, err)
	})
	return rerr
}

// Kinds of transfer records.
const (
	KindQuery      = "query"
	KindSelfAccess = "self_access"
)

// served is what an allowed request produced before it is encoded: the
// data that leaves (compact JSON, already minimised) and its source.
type served struct {
	service string
	data    json.RawMessage
	source  Source
}

// recorded runs answer with a new transfer record, encodes the answer's
// body, records the SHA-256 of exactly the data bytes in it, and commits
// the record before it returns anything.
func (p *Pipeline) recorded(ctx context.Context, principal auth.Principal, kind, service string, answer func(*store.Transfer) (served, error)) (Answer, error) {
	return p.recordedFrom(ctx, principal, kind, service, Origin{}, answer)
}

// recordedFrom is recorded with a record that names origin.
func (p *Pipeline) recordedFrom(ctx context.Context, principal auth.Principal, kind, service string, origin Origin, answer func(*store.Transfer) (served, error)) (Answer, error) {
	rec, ans, err := p.run(ctx, principal, kind, service, "", origin, true, answer)
	if cerr := p.commit(ctx, rec); cerr != nil {
		return Answer{}, cerr
	}
	if err != nil {
		return Answer{}, &Failure{TransferID: rec.ID, Err: err}
	}
	return withReceipt(rec, ans)
}

// run runs answer with a new transfer record (of id, or a fresh id when
// id is empty) that names origin, and answers the record, complete but not
// committed, with the answer's body or the error that ended the request.
// With quota, a caller over its quota is refused first.
func (p *Pipeline) run(ctx context.Context, principal auth.Principal, kind, service, id string, origin Origin, quota bool, answer func(*store.Transfer) (served, error)) (store.Transfer, Answer, error) {
	start := p.cfg.Now()
	if id == "" {
		id = audit.NewID()
	}
	rec := store.Transfer{
		ID:           id,
		Time:         start.UTC().Truncate(time.Microsecond),
		Node:         p.cfg.Node,
		Kind:         kind,
		RequesterOrg: principal.Org,
		Decision:     store.Deny,
		Salt:         make([]byte, store.SaltSize),

		SCSPRequestID:   origin.SCSPRequestID,
		SCSPSolicitudID: origin.SCSPSolicitudID,
	}
	_, _ = rand.Read(rec.Salt) // crypto/rand never fails on the systems Go supports
	_, known := p.cfg.Catalog.Service(service)
	if known {
		// Only the catalog's names reach the log: a path is the caller's
		// to fill, with a megabyte of anything.
		rec.Service = service
	}
	var out served
	var err error
	if quota {
		err = p.withinQuota(principal, kind)
	}
	if err == nil {
		out, err = answer(&rec)
	}
	var ans Answer
	if err == nil {
		ans = encodeAnswer(rec.ID, out)
		sum := sha256.Sum256(ans.Data)
		rec.DataSHA256 = hex.EncodeToString(sum[:])
		rec.Outcome, rec.HTTPStatus, rec.SCSPCode = OutcomeOK, http.StatusOK, fault.SCSPProcessed
	} else {
		code := fault.CodeOf(err)
		spec := fault.SpecOf(code)
		rec.Outcome, rec.HTTPStatus, rec.SCSPCode = string(code), spec.Status, spec.SCSP
		if len(rec.Reasons) == 0 {
			rec.Reasons = reasonsOf(err) // why it ended, however it ended
		}
	}
	rec.LatencyMicros = p.cfg.Now().Sub(start).Microseconds()
	if p.cfg.Observer != nil {
		label := service
		if !known {
			label = "unknown" // callers choose the path: keep metric labels bounded
		}
		p.cfg.Observer.Decision(label, rec.Decision)
	}
	return rec, ans, err
}

// withReceipt closes ans with the receipt of rec, its committed record.
// The leaf is the record as the store keeps it (store.Storable): the same
// bytes the sealer will read back.
func withReceipt(rec store.Transfer, ans Answer) (Answer, error) {
	kept := store.Storable(rec)
	entry, err := translog.Entry(&kept, nil)
	if err != nil {
		return Answer{}, fault.Wrap(fault.Internal, err, "the answer's receipt could not be written")
	}
	leaf := translog.LeafHash(entry)
	return ans.withReceipt(leaf[:]), nil
}

// withinQuota refuses a caller over its quota: a requesting organisation
// for its queries, a citizen for her reads. The refusal is recorded like
// any other, so that an auditor sees who was turned away.
func (p *Pipeline) withinQuota(principal auth.Principal, kind string) error {
	if p.cfg.Quota == nil {
		return nil
	}
	if kind == KindSelfAccess {
		return p.cfg.Quota.Check(quota.Citizen, principal.Sub)
	}
	return p.cfg.Quota.Check(quota.Requester, principal.Org)
}

// OutcomeOK is the outcome of a record whose request was answered.
const OutcomeOK = "ok"

func (p *Pipeline) commit(ctx context.Context, rec store.Transfer) error {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), p.cfg.RecordTimeout)
	defer cancel()
	if err := p.cfg.Log.Append(ctx, rec); err != nil {
		return fault.Wrap(fault.StoreUnavailable, err, "the transfer log could not record the request; nothing was returned")
	}
	return nil
}

// answerQuery runs a requester's query, filling rec as it learns; it
// returns what was served or the error that ended the request.
func (p *Pipeline) answerQuery(ctx context.Context, principal auth.Principal, service string, body []byte, rec *store.Transfer) (served, error) {
	q, err := envelope.Parse(body)
	describe(rec, q) // even when refused: an auditor searches attempts by subject too
	if err != nil {
		return served{}, refused(rec, err)
	}
	return p.answerParsed(ctx, principal, service, q, nil, rec)
}

// answerParsed runs a parsed query; beforeCall, when set, runs once the
// policy allowed it and before its adapter is called.
func (p *Pipeline) answerParsed(ctx context.Context, principal auth.Principal, service string, q envelope.Query, beforeCall func(context.Context) error, rec *store.Transfer) (served, error) {
	svc, err := p.service(service, q.Params)
	if err != nil {
		return served{}, refused(rec, err)
	}
	consent, objection, err := p.citizenRecords(ctx, svc, q)
	if err != nil {
		return served{}, err
	}
	dec, err := p.decide(ctx, rec, policy.Input{
		Request:      q.PolicyView(),
		Principal:    policyPrincipal(principal),
		Service:      svc.PolicyView(),
		ServiceValue: p.services[svc],
		Consent:      consent,
		Objection:    objection,
		Now:          p.cfg.Now(),
	})
	if err != nil {
		return served{}, err
	}
	return p.serve(ctx, svc, q, dec, beforeCall, rec)
}

// answerSelf runs a citizen's read of her own data.
func (p *Pipeline) answerSelf(ctx context.Context, principal auth.Principal, service string, params envelope.Params, rec *store.Transfer) (served, error) {
	q := envelope.Query{
		Subject: envelope.Subject{IDType: idType(principal.Sub), ID: principal.Sub},
		Params:  params,
	}
	describe(rec, q)
	rec.LegalBasis = "self"
	svc, err := p.service(service, params)
	if err != nil {
		return served{}, refused(rec, err)
	}
	dec, err := p.decide(ctx, rec, policy.Input{
		Access:       policy.AccessSelf,
		Request:      q.PolicyView(),
		Principal:    policyPrincipal(principal),
		Service:      svc.PolicyView(),
		ServiceValue: p.services[svc],
		Now:          p.cfg.Now(),
	})
	if err != nil {
		return served{}, err
	}
	return p.serve(ctx, svc, q, dec, nil, rec)
}

// service looks the service up and checks params against its schema.
func (p *Pipeline) service(name string, params envelope.Params) (*catalog.Service, error) {
	svc, ok := p.cfg.Catalog.Service(name)
	if !ok {
		return nil, fault.New(fault.UnknownService, "the catalog has no such service (GET /v1/catalog/services lists them)")
	}
	if fields := svc.ValidateParams(params.Object()); len(fields) > 0 {
		return nil, fault.Invalid(fault.InvalidRequest, fields...)
	}
	return svc, nil
}

// citizenRecords fetches what the citizen recorded that the policy weighs:
// the consent named as legal basis, and her objection to presumed
// consultation of this service and procedure. Absent records are nil.
func (p *Pipeline) citizenRecords(ctx context.Context, svc *catalog.Service, q envelope.Query) (consent, objection any, err error) {
	if p.cfg.Citizens == nil {
		return nil, nil, nil
	}
	switch q.LegalBasis.Type {
	case envelope.BasisConsent:
		c, err := p.cfg.Citizens.GetConsent(ctx, q.LegalBasis.ConsentID)
		switch {
		case errors.Is(err, store.ErrNotFound):
		case err != nil:
			return nil, nil, fault.Wrap(fault.StoreUnavailable, err, "the consent could not be read")
		default:
			consent = consentView(c)
		}
	case envelope.BasisPresumed:
		o, err := p.cfg.Citizens.FindObjection(ctx, q.Subject.ID, svc.Name, q.Procedure.Code)
		switch {
		case errors.Is(err, store.ErrNotFound):
		case err != nil:
			return nil, nil, fault.Wrap(fault.StoreUnavailable, err, "the citizen's objections could not be read")
		default:
			objection = map[string]any{"id": o.ID, "service": o.Service, "procedure": o.Procedure}
		}
	}
	return consent, objection, nil
}

// consentView is a consent as the policies see it.
func consentView(c store.Consent) map[string]any {
	services := make([]any, len(c.Services))
	for i, s := range c.Services {
		services[i] = s
	}
	var revoked any
	if c.RevokedAt != nil {
		revoked = c.RevokedAt.UTC().Format(time.RFC3339Nano)
	}
	return map[string]any{
		"id": c.ID, "subject": c.Subject, "requester": c.Requester, "procedure": c.Procedure,
		"services": services, "purpose": c.Purpose,
		"expires_at": c.ExpiresAt.UTC().Format(time.RFC3339Nano), "revoked_at": revoked,
	}
}

// decide asks the policy and records its decision and reasons in rec.
func (p *Pipeline) decide(ctx context.Context, rec *store.Transfer, in policy.Input) (policy.Decision, error) {
	engine := p.Policy()
	dec, err := engine.Decide(ctx, in)
	rec.PolicyRevision = engine.Revision()
	if err != nil {
		return dec, fault.Wrap(fault.Internal, err, "the policy could not decide")
	}
	if !dec.Allow {
		rec.Reasons = storeReasons(dec.Deny)
		return dec, denial(dec.Deny)
	}
	rec.Decision = store.Allow
	return dec, nil
}

// serve runs an allowed request: route, call the adapter, check its answer
// and keep only what the decision lets out.
func (p *Pipeline) serve(ctx context.Context, svc *catalog.Service, q envelope.Query, dec policy.Decision, beforeCall func(context.Context) error, rec *store.Transfer) (served, error) {
	var expected map[string]any
	if dec.VerifyOnly {
		var err error
		if expected, err = expectations(q.Params, dec); err != nil {
			return served{}, err
		}
	}
	adapter, err := p.cfg.Router.Route(svc, q.Params)
	if err != nil {
		return served{}, err
	}
	src := sourceOf(adapter)
	rec.Adapter, rec.AdapterVersion, rec.ModuleSHA256 = src.Adapter, src.Version, src.ModuleSHA256
	if beforeCall != nil {
		if err := beforeCall(ctx); err != nil {
			return served{}, &notRun{err}
		}
	}

	data, err := p.call(ctx, adapter, svc, q, rec)
	if dec.VerifyOnly {
		switch {
		case fault.CodeOf(err) == fault.SubjectNotFound:
			return served{svc.Name, verdict(false), src}, nil
		case err != nil:
			return served{}, err
		}
		return served{svc.Name, verdict(matches(data, expected)), src}, nil
	}
	if err != nil {
		return served{}, err
	}
	if !dec.AllFields {
		if data, err = minimise(data, dec.Fields); err != nil {
			return served{}, err
		}
	}
	return served{svc.Name, data, src}, nil
}

// refused notes a request refused before the policy in rec and returns err.
func refused(rec *store.Transfer, err error) error {
	rec.Reasons = reasonsOf(err)
	return err
}

func policyPrincipal(p auth.Principal) policy.Principal {
	return policy.Principal{Role: string(p.Role), Org: p.Org, Sub: p.Sub, Owner: p.Owner}
}

// idType tells a citizen's document type from its number: NIEs start with X, Y or Z.
func idType(id string) string {
	if id != "" && (id[0] == 'X' || id[0] == 'Y' || id[0] == 'Z') {
		return envelope.IDTypeNIE
	}
	return envelope.IDTypeDNI
}

// call runs the adapter and checks its data against the service's answer
// schema; the data it returns is compact JSON.
func (p *Pipeline) call(ctx context.Context, adapter router.Adapter, svc *catalog.Service, q envelope.Query, rec *store.Transfer) (json.RawMessage, error) {
	start := p.cfg.Now()
	data, err := adapter.Call(ctx, abi.Input{
		ABI:        abi.Version,
		TransferID: rec.ID,
		Service:    svc.Name,
		Purpose:    q.Purpose,
		Requester:  rec.RequesterOrg,
		Procedure:  q.Procedure.Code,
		Subject:    q.Subject,
		Params:     q.Params.JSON(),
	})
	if err == nil {
		if err = schemaBreaks(adapter.Manifest().Name, svc, data); err == nil {
			data, err = compact(data)
		}
	}
	if p.cfg.Observer != nil {
		outcome := OutcomeOK
		if err != nil {
			outcome = string(fault.CodeOf(err))
		}
		p.cfg.Observer.AdapterCall(adapter.Manifest().Name, outcome, p.cfg.Now().Sub(start))
	}
	return data, err
}

// maxViolationsNamed is how many violations of the answer schema a failure
// names: enough to fix an adapter, few enough for a log line.
const maxViolationsNamed = 3

// schemaBreaks checks an adapter's data against the service's answer
// schema. The error names each violation by its JSON pointer and schema
// keyword only: it is logged, answered to the requester and recorded, and
// the value that broke the rule is the citizen's data (a street, a date),
// so no cause carries it either.
func schemaBreaks(adapter string, svc *catalog.Service, data json.RawMessage) error {
	vs, err := svc.AnswerViolations(data)
	switch {
	case errors.Is(err, catalog.ErrNotAnObject):
		return fault.New(fault.AdapterFailed, "adapter %s answered data that is not a JSON object", adapter)
	case err != nil:
		return fault.Wrap(fault.Internal, err, "the answer of adapter %s could not be checked against the %s answer schema", adapter, svc.Name)
	case len(vs) == 0:
		return nil
	}
	named := make([]string, 0, maxViolationsNamed+1)
	for i, v := range vs {
		if i == maxViolationsNamed {
			named = append(named, fmt.Sprintf("and %d more", len(vs)-i))
			break
		}
		named = append(named, v.String())
	}
	return fault.New(fault.AdapterFailed, "adapter %s answered data that breaks the %s answer schema at %s", adapter, svc.Name, strings.Join(named, ", "))
}

// verdict is the data of verify mode: whether the source holds a record
// matching the query (for padró: is she registered in that municipality?),
// and nothing else.
func verdict(verified bool) json.RawMessage {
	if verified {
		return json.RawMessage(`{"verified":true}`)
	}
	return json.RawMessage(`{"verified":false}`)
}

func sourceOf(a router.Adapter) Source {
	m := a.Manifest()
	return Source{Adapter: m.Name, Version: m.Version, ModuleSHA256: a.SHA256()}
}

func describe(rec *store.Transfer, q envelope.Query) {
	rec.OfficialID, rec.OfficialName = q.Official.ID, q.Official.Name
	rec.ProcedureCode, rec.ProcedureName = q.Procedure.Code, q.Procedure.Name
	rec.Purpose = q.Purpose
	rec.LegalBasis, rec.LawReference, rec.ConsentID = q.LegalBasis.Type, q.LegalBasis.Reference, q.LegalBasis.ConsentID
	rec.CaseID = q.CaseID
	rec.SubjectIDType, rec.SubjectID = q.Subject.IDType, q.Subject.ID
}

// denial turns the policy's reasons into one error whose code is the first
// reason's (the reasons are sorted by the policy), carrying them all.
func denial(reasons []fault.Reason) error {
	if len(reasons) == 0 {
		return fault.New(fault.NotAuthorized, "the policy denied the request without a reason")
	}
	e := fault.New(reasons[0].Code, "%s", reasons[0].Message)
	if len(reasons) > 1 {
		e.Message = fmt.Sprintf("%s (and %d more reasons)", reasons[0].Message, len(reasons)-1)
	}
	e.Reasons = reasons
	return e
}

func reasonsOf(err error) []store.Reason {
	fe, ok := fault.As(err)
	if !ok {
		return []store.Reason{{Code: string(fault.Internal), Message: fault.SafeText(err.Error())}}
	}
	if len(fe.Fields) == 0 {
		return []store.Reason{{Code: string(fe.Code), Message: fault.SafeText(fe.Message)}}
	}
	out := make([]store.Reason, len(fe.Fields))
	for i, f := range fe.Fields {
		out[i] = store.Reason{Code: string(fe.Code), Message: fault.SafeText(f.Field + ": " + f.Message)}
	}
	return out
}

func storeReasons(rs []fault.Reason) []store.Reason {
	out := make([]store.Reason, len(rs))
	for i, r := range rs {
		out[i] = store.Reason{Code: fault.SafeText(string(r.Code)), Message: fault.SafeText(r.Message)}
	}
	return out
}
