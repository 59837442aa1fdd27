package api

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/go-chi/chi/v5"

	"github.com/pontexchange/pont/catalog"
	"github.com/pontexchange/pont/exchange/auth"
	"github.com/pontexchange/pont/exchange/envelope"
	"github.com/pontexchange/pont/exchange/fault"
	"github.com/pontexchange/pont/exchange/jobs"
	"github.com/pontexchange/pont/exchange/pipeline"
	"github.com/pontexchange/pont/exchange/quota"
	"github.com/pontexchange/pont/exchange/store"
)

// MaxSyncSubjects is the most subjects a synchronous query may list: a
// household for a form, not a census (jobs take up to jobs.MaxSubjects).
const MaxSyncSubjects = 25

// Headers of a job's submission.
const (
	// IdempotencyKeyHeader names a submission: the same key from the same
	// organisation answers the job it first created.
	IdempotencyKeyHeader = "Idempotency-Key"
	// CallbackHeader is the URL notified when the job is done; the catalog
	// must allow it for the organisation.
	CallbackHeader = "Pont-Callback"
	// maxIdempotencyKey bounds the key, in bytes of printable ASCII.
	maxIdempotencyKey = 255
	// maxCallbackURL bounds the callback URL, in bytes.
	maxCallbackURL = 1024
)

// jobRoutes mounts the asynchronous queries on r, for requesters.
func (s *server) jobRoutes(r chi.Router) {
	r.Group(func(r chi.Router) {
		r.Use(requireRole(s.log, auth.RoleRequester))
		r.Post("/services/{service}/jobs", s.submitJob)
		r.Get("/jobs/{id}", s.getJob)
	})
}

// submitJob answers POST /v1/services/{service}/jobs: the whole request is
// validated and stored before it is accepted with 202.
func (s *server) submitJob(w http.ResponseWriter, r *http.Request) {
	principal, _ := PrincipalFrom(r.Context())
	service := chi.URLParam(r, "service")
	req, err := s.jobRequest(w, r, principal, service)
	if err != nil {
		// A refused submission is an attempt all the same: recorded, as
		// a refused query is.
		writeProblem(w, r, s.log, s.cfg.Pipeline.Refuse(r.Context(), principal, pipeline.KindQuery, service, err))
		return
	}
	acc, err := s.cfg.Jobs.Submit(r.Context(), req)
	if err != nil {
		writeProblem(w, r, s.log, err)
		return
	}
	loc := "/v1/jobs/" + acc.Job.ID
	w.Header().Set("Location", loc)
	if acc.Repeated {
		w.Header().Set("Idempotent-Replayed", "true")
	}
	writeJSON(w, http.StatusAccepted, jobAccepted{
		ID: acc.Job.ID, Service: acc.Job.Service, State: jobs.StateInProcess, StateText: stateText[jobs.StateInProcess],
		Subjects: acc.Job.Total, CreatedAt: acc.Job.CreatedAt, EstimatedAt: acc.EstimatedAt, Location: loc,
	})
}

// jobAccepted is the body of a 202: SCSP's ConfirmacionPeticion.
type jobAccepted struct {
	ID          string    `json:"id"`
	Service     string    `json:"service"`
	State       string    `json:"state"`
	StateText   string    `json:"state_text"`
	Subjects    int       `json:"subjects"`
	CreatedAt   time.Time `json:"created_at"`
	EstimatedAt time.Time `json:"estimated_at"`
	Location    string    `json:"location"`
}

var stateText = map[string]string{
	jobs.StatePending:   "Pendiente",
	jobs.StateInProcess: "En proceso",
	jobs.StateDone:      "Tramitada",
}

// jobRequest reads and validates a submission as a whole: any problem in
// any element refuses it all, naming each element by its index.
func (s *server) jobRequest(w http.ResponseWriter, r *http.Request, principal auth.Principal, service string) (jobs.Request, error) {
	// A submission is one request of the organisation's quota; its
	// elements are paced by the jobs' own limits instead.
	if s.cfg.Quota != nil {
		if err := s.cfg.Quota.Check(quota.Requester, principal.Org); err != nil {
			return jobs.Request{}, err
		}
	}
	body, err := readBody(w, r, s.cfg.MaxJobBodyBytes)
	if err != nil {
		return jobs.Request{}, err
	}
	key, err := idempotencyKey(r.Header.Get(IdempotencyKeyHeader))
	if err != nil {
		return jobs.Request{}, err
	}
	batch, err := s.parseBatch(service, body, jobs.MaxSubjects)
	if err != nil {
		return jobs.Request{}, err
	}
	callback, err := s.callbackURL(principal, r.Header.Get(CallbackHeader))
	if err != nil {
		return jobs.Request{}, err
	}
	return jobs.Request{
		Principal: principal, Service: service, Elements: batch.Elements, Body: body,
		IdempotencyKey: key, CallbackURL: callback,
	}, nil
}

// parseBatch reads a batch of at most max subjects for service and checks
// each element's params against the service's schema, as the pipeline
// would when it runs them, so that a batch is refused whole before
// anything runs; every problem of the envelope and of the params is
// named at once.
func (s *server) parseBatch(service string, body []byte, max int) (envelope.Batch, error) {
	batch, err := envelope.ParseBatch(body, max)
	return s.checkBatch(service, batch, err)
}

// checkBatch is parseBatch after envelope.ParseBatch answered batch, err.
func (s *server) checkBatch(service string, batch envelope.Batch, err error) (envelope.Batch, error) {
	fe, _ := fault.As(err)
	if err != nil && (fe == nil || fe.Code != fault.InvalidRequest) {
		return batch, err
	}
	svc, ok := s.cfg.Catalog.Service(service)
	if !ok {
		return batch, fault.New(fault.UnknownService, "the catalog has no such service (GET /v1/catalog/services lists them)")
	}
	var fields []fault.FieldError
	if fe != nil {
		fields = fe.Fields
	}
	// Params that the envelope already refused are not checked again:
	// what was read of them is not what was sent.
	refused := func(prefix string) bool {
		for _, f := range fields {
			if f.Field == "params" || strings.HasPrefix(f.Field, "params.") || f.Field == prefix+"params" || strings.HasPrefix(f.Field, prefix+"params.") {
				return true
			}
		}
		return false
	}
	n := len(fields)
	for i, q := range batch.Elements {
		prefix := ""
		if !batch.Single {
			prefix = "subjects[" + strconv.Itoa(i) + "]."
		}
		if refused(prefix) {
			continue
		}
		for _, f := range svc.ValidateParams(q.Params.Object()) {
			f.Field = prefix + f.Field
			fields = append(fields, f)
		}
	}
	if len(fields) > n || err != nil {
		return batch, fault.Invalid(fault.InvalidRequest, fields...)
	}
	return batch, nil
}

func idempotencyKey(k string) (string, error) {
	if k == "" {
		return "", nil
	}
	bad := len(k) > maxIdempotencyKey
	for i := 0; i < len(k) && !bad; i++ {
		bad = k[i] < 0x21 || k[i] > 0x7e
	}
	if bad {
		return "", fault.Invalid(fault.InvalidRequest, fault.FieldError{Field: IdempotencyKeyHeader,
			Message: "must be 1 to " + strconv.Itoa(maxIdempotencyKey) + " printable ASCII characters without spaces"})
	}
	return k, nil
}

// callbackURL checks a callback against the catalog's list for the
// organisation: a job may only make Pont post where its organisation said.
func (s *server) callbackURL(principal auth.Principal, raw string) (string, error) {
	if raw == "" {
		return "", nil
	}
	if len(raw) > maxCallbackURL {
		return "", fault.Invalid(fault.InvalidRequest, fault.FieldError{Field: CallbackHeader, Message: "must be at most " + strconv.Itoa(maxCallbackURL) + " bytes"})
	}
	if s.cfg.CallbackKeys == nil {
		return "", fault.Invalid(fault.InvalidRequest, fault.FieldError{Field: CallbackHeader, Message: "is not served by this node: it has no key to sign callbacks; poll GET /v1/jobs/{id} instead"})
	}
	u, err := url.Parse(raw)
	if err != nil || !u.IsAbs() || u.User != nil || u.Fragment != "" || (u.Scheme != "https" && u.Scheme != "http") {
		return "", fault.Invalid(fault.InvalidRequest, fault.FieldError{Field: CallbackHeader, Message: "must be an absolute http or https URL without credentials or fragment"})
	}
	org := s.cfg.Catalog.Authorisations[principal.Org]
	if !catalog.CallbackAllowed(org.Callbacks, u) {
		e := fault.New(fault.CallbackNotAllowed, "the catalog does not allow this callback URL for organisation %s", principal.Org)
		e.Fields = []fault.FieldError{{Field: CallbackHeader, Message: "is not under one of the organisation's callback URLs in the catalog"}}
		return "", e
	}
	return u.String(), nil
}

// getJob answers GET /v1/jobs/{id}: the job's state and counts and, once
// it is done, its results in request order, a page at a time, or all as
// NDJSON when the client accepts application/x-ndjson.
func (s *server) getJob(w http.ResponseWriter, r *http.Request) {
	principal, _ := PrincipalFrom(r.Context())
	job, err := s.cfg.Jobs.Get(r.Context(), principal, chi.URLParam(r, "id"))
	if err != nil {
		writeProblem(w, r, s.log, err)
		return
	}
	from, limit, err := resultPage(r.URL.Query())
	if err != nil {
		writeProblem(w, r, s.log, err)
		return
	}
	view := s.jobView(job)
	w.Header().Set("Pont-Job-State", view.State)
	if !job.Finished() || job.DeletedAt != nil {
		writeJSON(w, http.StatusOK, view)
		return
	}
	if acceptsNDJSON(r.Header.Get("Accept")) {
		s.streamResults(w, r, job)
		return
	}
	els, err := s.cfg.Jobs.Results(r.Context(), job, from, limit+1)
	if err != nil {
		writeProblem(w, r, s.log, err)
		return
	}
	if len(els) > limit {
		els = els[:limit]
		view.Next = "/v1/jobs/" + job.ID + "?from=" + strconv.Itoa(from+limit) + "&limit=" + strconv.Itoa(limit)
	}
	view.Results = make([]elementResult, len(els))
	for i, e := range els {
		view.Results[i] = resultOf(e)
	}
	writeJSON(w, http.StatusOK, view)
}

// Page sizes of a job's results.
const (
	defaultResultPage = 100
	maxResultPage     = 1000
)

func resultPage(q url.Values) (from, limit int, err error) {
	from, limit = 0, defaultResultPage
	if v := q.Get("from"); v != "" {
		if from, err = strconv.Atoi(v); err != nil || from < 0 {
			return 0, 0, fault.Invalid(fault.InvalidRequest, fault.FieldError{Field: "from", Message: "must be a result index, 0 or more"})
		}
	}
	if v := q.Get("limit"); v != "" {
		if limit, err = strconv.Atoi(v); err != nil || limit < 1 || limit > maxResultPage {
			return 0, 0, fault.Invalid(fault.InvalidRequest, fault.FieldError{Field: "limit", Message: "must be 1 to " + strconv.Itoa(maxResultPage)})
		}
	}
	return from, limit, nil
}

func acceptsNDJSON(accept string) bool {
	for _, part := range strings.Split(accept, ",") {
		mt, _, _ := strings.Cut(part, ";")
		if strings.EqualFold(strings.TrimSpace(mt), "application/x-ndjson") {
			return true
		}
	}
	return false
}

// streamResults writes every result of a done job, one JSON object a
// line, reading the store a page at a time.
func (s *server) streamResults(w http.ResponseWriter, r *http.Request, job store.Job) {
	w.Header().Set("Content-Type", "application/x-ndjson")
	w.WriteHeader(http.StatusOK)
	enc := json.NewEncoder(w)
	for from := 0; from < job.Total; from += maxResultPage {
		els, err := s.cfg.Jobs.Results(r.Context(), job, from, maxResultPage)
		if err != nil {
			// The status is sent: end the stream short; a reader counts
			// its lines against the job's total.
			s.log.Warn("job results stream cut", "job", job.ID, "error", err.Error())
			return
		}
		for _, e := range els {
			if err := enc.Encode(resultOf(e)); err != nil {
				return
			}
		}
	}
}

// jobView is the body of GET /v1/jobs/{id}.
type jobView struct {
	ID          string          `json:"id"`
	Service     string          `json:"service"`
	State       string          `json:"state"`
	StateText   string          `json:"state_text"`
	Total       int             `json:"total"`
	Done        int             `json:"done"`
	Counts      map[string]int  `json:"counts"`
	CreatedAt   time.Time       `json:"created_at"`
	EstimatedAt *time.Time      `json:"estimated_at,omitempty"`
	FinishedAt  *time.Time      `json:"finished_at,omitempty"`
	ExpiresAt   *time.Time      `json:"results_expire_at,omitempty"`
	DeletedAt   *time.Time      `json:"results_deleted_at,omitempty"`
	Results     []elementResult `json:"results,omitempty"`
	Next        string          `json:"next,omitempty"`
}

func (s *server) jobView(job store.Job) jobView {
	v := jobView{
		ID: job.ID, Service: job.Service, Total: job.Total, Done: job.Done, Counts: job.Counts,
		CreatedAt: job.CreatedAt, FinishedAt: job.FinishedAt, ExpiresAt: job.ExpiresAt, DeletedAt: job.DeletedAt,
	}
	switch {
	case job.Finished():
		v.State = jobs.StateDone
	case job.Done == 0:
		v.State = jobs.StatePending
	default:
		v.State = jobs.StateInProcess
	}
	if !job.Finished() {
		at := s.cfg.Jobs.Estimate(job)
		v.EstimatedAt = &at
	}
	if v.Counts == nil {
		v.Counts = map[string]int{}
	}
	v.StateText = stateText[v.State]
	return v
}

// elementResult is one subject's result: its answer, or its problem.
type elementResult struct {
	Index      int             `json:"index"`
	Status     int             `json:"status"`
	SCSPCode   string          `json:"scsp_code"`
	TransferID string          `json:"transfer_id,omitempty"`
	Answer     json.RawMessage `json:"answer,omitempty"`
	Problem    json.RawMessage `json:"problem,omitempty"`
}

func resultOf(e store.JobElement) elementResult {
	res := elementResult{Index: e.Index, Status: e.HTTPStatus, SCSPCode: e.SCSPCode, TransferID: e.TransferID}
	if e.Outcome == pipeline.OutcomeOK {
		res.Answer = e.Result
	} else {
		res.Problem = e.Result
	}
	return res
}

// callbackKeys answers the JWKS that callbacks are signed with.
func (s *server) callbackKeys(w http.ResponseWriter, r *http.Request) {
	set, err := s.cfg.CallbackKeys.PublicKeys()
	if err != nil {
		writeProblem(w, r, s.log, err)
		return
	}
	w.Header().Set("Content-Type", "application/jwk-set+json")
	w.Header().Set("Cache-Control", "max-age=3600")
	_ = json.NewEncoder(w).Encode(set)
}

// batchQuery answers a synchronous query that lists several subjects:
// validated whole, then each subject answered and recorded as a query of
// its own, the answers in request order.
func (s *server) batchQuery(w http.ResponseWriter, r *http.Request, principal auth.Principal, service string, body []byte) bool {
	batch, err := envelope.ParseBatch(body, MaxSyncSubjects)
	if batch.Single {
		return false // one subject: the query's own path, errors and all
	}
	batch, err = s.checkBatch(service, batch, err)
	if fault.CodeOf(err) == fault.TooManySubjects {
		fe, _ := fault.As(err)
		fe.Message += "; send more as a job: POST /v1/services/" + fault.SafeText(service) + "/jobs"
	}
	if err != nil {
		writeProblem(w, r, s.log, s.cfg.Pipeline.Refuse(r.Context(), principal, pipeline.KindQuery, service, err))
		return true
	}
	results := make([]elementResult, len(batch.Elements))
	var wg sync.WaitGroup
	for i, q := range batch.Elements {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ans, err := s.cfg.Pipeline.QueryParsed(r.Context(), principal, service, q)
			if err != nil {
				p := problemOf(r, err)
				p.Instance = ""
				b, _ := json.Marshal(p)
				results[i] = elementResult{Index: i, Status: p.Status, SCSPCode: p.SCSPCode, TransferID: p.TransferID, Problem: b}
				return
			}
			results[i] = elementResult{Index: i, Status: http.StatusOK, SCSPCode: fault.SCSPProcessed, TransferID: ans.TransferID, Answer: bytes.Clone(ans.Body)}
		}()
	}
	wg.Wait()
	writeJSON(w, http.StatusOK, batchAnswer{Results: results})
	return true
}

// batchAnswer is the body of a synchronous batch's answer.
type batchAnswer struct {
	Results []elementResult `json:"results"`
}
