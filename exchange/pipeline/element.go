package pipeline

import (
	"context"
	"crypto/rand"
	"errors"
	"time"

	"github.com/pontexchange/pont/exchange/auth"
	"github.com/pontexchange/pont/exchange/envelope"
	"github.com/pontexchange/pont/exchange/fault"
	"github.com/pontexchange/pont/exchange/store"
)

// QueryParsed answers one query whose envelope was already parsed and
// validated (an element of a batch), exactly as Query answers a body:
// recorded, and committed before anything is returned.
func (p *Pipeline) QueryParsed(ctx context.Context, principal auth.Principal, service string, q envelope.Query) (Answer, error) {
	return p.QueryParsedWith(ctx, principal, service, q, Origin{})
}

// Origin is the request a query was asked in, beyond its envelope, as its
// transfer record names it. The zero Origin is a query of Pont's own API.
type Origin struct {
	// SCSPRequestID is the Atributos/IdPeticion (up to 26 characters) of
	// the SCSP v3 Peticion the query answers, and SCSPSolicitudID the
	// Transmision/IdSolicitud (up to 40) of its SolicitudTransmision: a
	// query that came through the SCSP door. They are recorded as given
	// (store.Transfer.SCSPRequestID, SCSPSolicitudID).
	SCSPRequestID   string
	SCSPSolicitudID string
}

// QueryParsedWith answers like QueryParsed, with a record that names
// origin, whatever the query ends with (a refusal for the requester's
// quota included): so that the record of an SCSP request is found by its
// IdPeticion (store.Filter.SCSPRequestID).
func (p *Pipeline) QueryParsedWith(ctx context.Context, principal auth.Principal, service string, q envelope.Query, origin Origin) (Answer, error) {
	return p.recordedFrom(ctx, principal, KindQuery, service, origin, func(rec *store.Transfer) (served, error) {
		describe(rec, q)
		return p.answerParsed(ctx, principal, service, q, nil, rec)
	})
}

// Element is one subject of a job, as RunElement runs it.
type Element struct {
	Query envelope.Query
	// TransferID is the id of the element's record, fixed when the job
	// was created, so that the element has one record however often it is
	// attempted.
	TransferID string
	// JobID links the record to its job.
	JobID string
	// Origin names the SCSP request the element came in, if any.
	Origin Origin
	// BeforeCall, when set, runs once the policy allowed the element and
	// before its adapter is called: the job's claim on the call. When it
	// fails the element ends unrecorded, with an error for which NotRun
	// reports true.
	BeforeCall func(ctx context.Context) error
}

// RunElement answers one element of a job and returns its transfer
// record without committing it: the caller commits it, with the element's
// result, before the answer or the error may leave. ans is the answer's
// body with its receipt when err is nil. The requester's quota is not
// asked: a job is paced by its runner, and an element refused for a rate
// would only make the requester ask again.
func (p *Pipeline) RunElement(ctx context.Context, principal auth.Principal, service string, e Element) (rec store.Transfer, ans Answer, err error) {
	rec, ans, err = p.run(ctx, principal, KindQuery, service, e.TransferID, e.Origin, false, func(rec *store.Transfer) (served, error) {
		describe(rec, e.Query)
		rec.JobID = e.JobID
		return p.answerParsed(ctx, principal, service, e.Query, e.BeforeCall, rec)
	})
	if NotRun(err) {
		return store.Transfer{}, Answer{}, err
	}
	if err == nil {
		ans, err = withReceipt(rec, ans)
	}
	return rec, ans, err
}

// notRun is the error of an element whose BeforeCall failed.
type notRun struct{ err error }

func (e *notRun) Error() string { return "the element was not run: " + e.err.Error() }
func (e *notRun) Unwrap() error { return e.err }

// NotRun reports whether err ended an element before its adapter was
// called because its BeforeCall failed: nothing about it is to be recorded.
func NotRun(err error) bool {
	var nr *notRun
	return errors.As(err, &nr)
}

// Interrupted answers the record of an element whose attempt stopped
// during its call to the source (the job's claim on the call outlived
// it): the policy had allowed it, as the claim is taken after the policy,
// and no data left. Nothing else of that attempt is known.
func (p *Pipeline) Interrupted(principal auth.Principal, service string, e Element) store.Transfer {
	rec := store.Transfer{
		ID:           e.TransferID,
		Time:         p.cfg.Now().UTC().Truncate(time.Microsecond),
		Node:         p.cfg.Node,
		Kind:         KindQuery,
		RequesterOrg: principal.Org,
		Decision:     store.Allow,
		JobID:        e.JobID,
		Salt:         make([]byte, store.SaltSize),
	}
	rec.SCSPRequestID, rec.SCSPSolicitudID = e.Origin.SCSPRequestID, e.Origin.SCSPSolicitudID
	_, _ = rand.Read(rec.Salt)
	if _, ok := p.cfg.Catalog.Service(service); ok {
		rec.Service = service
	}
	describe(&rec, e.Query)
	spec := fault.SpecOf(fault.JobInterrupted)
	rec.Outcome, rec.HTTPStatus, rec.SCSPCode = string(fault.JobInterrupted), spec.Status, spec.SCSP
	rec.Reasons = []store.Reason{{Code: string(fault.JobInterrupted), Message: "the node running this element stopped during its call to the source; the element was not asked again"}}
	return rec
}

// SourceOf names the adapter that would answer a query on service with
// params, or "" when none would: jobs pace their calls per source.
func (p *Pipeline) SourceOf(service string, params envelope.Params) string {
	svc, ok := p.cfg.Catalog.Service(service)
	if !ok {
		return ""
	}
	a, err := p.cfg.Router.Route(svc, params)
	if err != nil {
		return ""
	}
	return a.Manifest().Name
}
