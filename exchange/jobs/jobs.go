// Package jobs runs asynchronous requests: a job asks one service about one
// or many subjects, is stored whole before it is accepted, and is worked
// through the same pipeline as a synchronous query, one element at a time,
// by whichever node is up. It changes when the way jobs are queued, shared
// between nodes or paced changes.
//
// A job's elements are split into chunks, and each chunk is a job of the
// river queue (github.com/riverqueue/river), in the same database as the
// store: a node that dies mid-chunk leaves it to river's rescuer, and the
// next attempt carries on from the elements the store says are not done.
// An element is claimed in the store just before its adapter is called, and
// its result and transfer record are written together: an element is asked
// of its source at most once and recorded exactly once, whichever node
// finishes the job. An element whose claim outlived its attempt (the node
// died during the call) is not asked again: whether the source answered is
// unknown, so it is recorded as interrupted, and the requester may ask for
// that subject again.
package jobs

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"sync"
	"time"

	"github.com/riverqueue/river"

	"github.com/pontexchange/pont/exchange/audit"
	"github.com/pontexchange/pont/exchange/auth"
	"github.com/pontexchange/pont/exchange/envelope"
	"github.com/pontexchange/pont/exchange/fault"
	"github.com/pontexchange/pont/exchange/pipeline"
	"github.com/pontexchange/pont/exchange/store"
)

// MaxSubjects is the most subjects one job may ask about, as SCSP's
// asynchronous Peticion.
const MaxSubjects = 1000

// Pipeline runs one element of a job. *pipeline.Pipeline implements it.
type Pipeline interface {
	RunElement(ctx context.Context, principal auth.Principal, service string, e pipeline.Element) (store.Transfer, pipeline.Answer, error)
	Interrupted(principal auth.Principal, service string, e pipeline.Element) store.Transfer
	SourceOf(service string, params envelope.Params) string
}

// Config configures a Runner. Store, Pipeline and Queue are required.
type Config struct {
	Store    store.Jobs
	Pipeline Pipeline
	// Queue is the river queue in the store's database (NewPostgresQueue,
	// NewSQLiteQueue).
	Queue Queue
	Node  string
	// Workers is how many chunks a node works at once. Defaults to 4.
	Workers int
	// PerSource and PerOrganisation bound the elements a node runs at once
	// against one source (an adapter) and for one requesting organisation,
	// so that jobs take a bounded share below the synchronous traffic.
	// Default 2 and 4.
	PerSource, PerOrganisation int
	// ChunkSize is how many elements one river job carries. Defaults to 25.
	ChunkSize int
	// RetainFor is how long results are kept after a job is done.
	// Defaults to 7 days.
	RetainFor time.Duration
	// ChunkTimeout bounds one attempt at a chunk; RescueAfter is when
	// river gives a chunk whose node went quiet to another attempt (more
	// than ChunkTimeout). Defaults 2 and 3 minutes.
	ChunkTimeout, RescueAfter time.Duration
	// SweepEvery is how often a node looks for jobs to resume, callbacks to
	// send and results to delete. Defaults to 1 minute.
	SweepEvery time.Duration
	// Notifier posts a finished job's callback; nil: callbacks are not sent.
	Notifier *Notifier
	Logger   *slog.Logger
	Now      func() time.Time
}

// Runner accepts and works jobs. Safe for concurrent use.
type Runner struct {
	cfg     Config
	log     *slog.Logger
	sources limiter
	orgs    limiter
	rate    rateMeter
	stopped chan struct{}
	stop    sync.Once
}

// New checks cfg and returns a Runner; Start starts working.
func New(cfg Config) (*Runner, error) {
	switch {
	case cfg.Store == nil:
		return nil, errors.New("jobs: Store is required")
	case cfg.Pipeline == nil:
		return nil, errors.New("jobs: Pipeline is required")
	case cfg.Queue == nil:
		return nil, errors.New("jobs: Queue is required")
	}
	if cfg.Workers <= 0 {
		cfg.Workers = 4
	}
	if cfg.PerSource <= 0 {
		cfg.PerSource = 2
	}
	if cfg.PerOrganisation <= 0 {
		cfg.PerOrganisation = 4
	}
	if cfg.ChunkSize <= 0 {
		cfg.ChunkSize = 25
	}
	if cfg.RetainFor <= 0 {
		cfg.RetainFor = 7 * 24 * time.Hour
	}
	if cfg.ChunkTimeout <= 0 {
		cfg.ChunkTimeout = 2 * time.Minute
	}
	if cfg.RescueAfter <= cfg.ChunkTimeout {
		cfg.RescueAfter = cfg.ChunkTimeout + time.Minute
	}
	if cfg.SweepEvery <= 0 {
		cfg.SweepEvery = time.Minute
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	r := &Runner{
		cfg: cfg, log: cfg.Logger,
		sources: newLimiter(cfg.PerSource), orgs: newLimiter(cfg.PerOrganisation),
		stopped: make(chan struct{}),
	}
	return r, nil
}

// Start migrates the queue's tables and starts working chunks, callbacks
// and the periodic sweep; it returns once they run.
func (r *Runner) Start(ctx context.Context) error {
	return r.cfg.Queue.start(ctx, queueConfig{
		workers:      r.cfg.Workers,
		chunkTimeout: r.cfg.ChunkTimeout,
		rescueAfter:  r.cfg.RescueAfter,
		sweepEvery:   r.cfg.SweepEvery,
		chunk:        r.runChunk,
		callback:     r.sendCallback,
		sweep:        r.Sweep,
		logger:       r.log,
	})
}

// Stop stops taking work and waits for the chunks in hand, at most until
// ctx ends; what is not done is resumed by the next attempt.
func (r *Runner) Stop(ctx context.Context) error {
	return r.cfg.Queue.stop(ctx)
}

// Request is a job as a requester submits it, validated.
type Request struct {
	Principal auth.Principal
	Service   string
	Elements  []envelope.Query
	// Body is the request body, whose SHA-256 tells a repeated request
	// from another one with the same idempotency key.
	Body           []byte
	IdempotencyKey string
	CallbackURL    string
	// SCSP is set for a job that came through the SCSP door as an
	// asynchronous Peticion.
	SCSP *SCSPOrigin
}

// SCSPOrigin is what a job from the SCSP door keeps of its Peticion.
type SCSPOrigin struct {
	// RequestID is the Peticion's IdPeticion, recorded with every
	// element's transfer.
	RequestID string
	// SolicitudIDs are the elements' IdSolicitud, in order.
	SolicitudIDs []string
	// Peticion is the verified Body of the Peticion, kept with the
	// results (and deleted with them) to write the Respuesta.
	Peticion []byte
}

// keyReused is the error of an idempotency key the requester used for
// another request (another body or service); a new value each time, since
// the HTTP layer may add to a fault's message.
func keyReused() error {
	return fault.New(fault.IdempotencyKeyReused, "the Idempotency-Key was already used by this organisation for another request (another body or service)")
}

// Accepted is the answer to a submitted job.
type Accepted struct {
	Job store.Job
	// Repeated is true when the idempotency key named a job accepted
	// before: Job is that one, and nothing new was queued.
	Repeated bool
	// EstimatedAt is when the job is expected to be done.
	EstimatedAt time.Time
}

// Submit stores the job and queues its chunks. The elements must have been
// validated (envelope.ParseBatch and the service's params schema): the
// policy decides each one when it runs.
func (r *Runner) Submit(ctx context.Context, req Request) (Accepted, error) {
	if len(req.Elements) == 0 || len(req.Elements) > MaxSubjects {
		return Accepted{}, fault.New(fault.TooManySubjects, "a job asks about 1 to %d subjects, not %d", MaxSubjects, len(req.Elements))
	}
	if req.SCSP != nil && len(req.SCSP.SolicitudIDs) != len(req.Elements) {
		return Accepted{}, fault.New(fault.Internal, "%d IdSolicitud for %d elements", len(req.SCSP.SolicitudIDs), len(req.Elements))
	}
	sum := sha256.Sum256(req.Body)
	now := r.cfg.Now().UTC().Truncate(time.Microsecond)
	job := store.Job{
		ID: audit.NewID(), Requester: req.Principal.Org, RequestedBy: req.Principal.Sub,
		Service: req.Service, CallbackURL: req.CallbackURL, Total: len(req.Elements),
		RequestSHA256: hex.EncodeToString(sum[:]), IdempotencyKey: req.IdempotencyKey,
		RetainFor: r.cfg.RetainFor, CreatedAt: now,
	}
	if req.SCSP != nil {
		job.SCSPRequestID, job.SCSPPeticion = req.SCSP.RequestID, req.SCSP.Peticion
	}
	elements := make([]store.JobElement, len(req.Elements))
	for i, q := range req.Elements {
		body, err := q.MarshalJSON() // not json.Marshal: its HTML escaping would change the params' text
		if err != nil {
			return Accepted{}, fault.Wrap(fault.Internal, err, "element %d could not be stored", i)
		}
		elements[i] = store.JobElement{JobID: job.ID, Index: i, TransferID: audit.NewID(), Query: body, State: store.ElementPending}
		if req.SCSP != nil {
			elements[i].SCSPSolicitudID = req.SCSP.SolicitudIDs[i]
		}
	}
	stored, err := r.cfg.Store.CreateJob(ctx, job, elements)
	switch {
	case errors.Is(err, store.ErrExists):
		if stored.RequestSHA256 != job.RequestSHA256 || stored.Service != job.Service {
			return Accepted{}, keyReused()
		}
		return Accepted{Job: stored, Repeated: true, EstimatedAt: r.estimate(stored)}, nil
	case err != nil:
		return Accepted{}, fault.Wrap(fault.StoreUnavailable, err, "the job could not be stored; nothing was queued")
	}
	if err := r.enqueue(ctx, stored); err != nil {
		// The job is stored: the sweep queues it if this did not.
		r.log.Warn("job stored but not queued; the sweep will queue it", slog.String("job", stored.ID), slog.String("error", err.Error()))
	}
	return Accepted{Job: stored, EstimatedAt: r.estimate(stored)}, nil
}

// estimate is when job should be done at the rate this node finished
// elements lately.
func (r *Runner) estimate(job store.Job) time.Time {
	left := job.Total - job.Done
	perSecond := r.rate.perSecond(r.cfg.Now())
	if perSecond < 1 {
		perSecond = float64(r.cfg.PerSource) // a guess before any element ran: one a second per call slot
	}
	return r.cfg.Now().UTC().Add(time.Duration(float64(left)/perSecond*float64(time.Second)) + time.Second).Truncate(time.Second)
}

// enqueue queues job's chunks; unique by their arguments, so that queuing
// again (the sweep) adds nothing while they are queued or running.
func (r *Runner) enqueue(ctx context.Context, job store.Job) error {
	var chunks []river.InsertManyParams
	for from := 0; from < job.Total; from += r.cfg.ChunkSize {
		to := min(from+r.cfg.ChunkSize, job.Total)
		chunks = append(chunks, river.InsertManyParams{Args: chunkArgs{Job: job.ID, From: from, To: to}})
	}
	return r.cfg.Queue.insert(ctx, chunks)
}

// runChunk works the elements [from, to) of a job that are not done, as
// the attempt named claim.
func (r *Runner) runChunk(ctx context.Context, args chunkArgs, claim string) error {
	job, err := r.cfg.Store.GetJob(ctx, args.Job)
	if errors.Is(err, store.ErrNotFound) {
		return river.JobCancel(fmt.Errorf("job %s is not in the store", args.Job))
	}
	if err != nil {
		return fmt.Errorf("jobs: read job %s: %w", args.Job, err)
	}
	elements, err := r.cfg.Store.JobElements(ctx, job.ID, args.From, args.To-args.From)
	if err != nil {
		return fmt.Errorf("jobs: read elements of %s: %w", job.ID, err)
	}
	principal := auth.Principal{Role: auth.RoleRequester, Org: job.Requester, Sub: job.RequestedBy}
	var (
		wg       sync.WaitGroup
		mu       sync.Mutex
		firstErr error
	)
	for _, e := range elements {
		if e.State == store.ElementDone {
			continue
		}
		if err := ctx.Err(); err != nil {
			break
		}
		q, perr := envelope.Parse(e.Query)
		el := pipeline.Element{Query: q, TransferID: e.TransferID, JobID: job.ID,
			Origin: pipeline.Origin{SCSPRequestID: job.SCSPRequestID, SCSPSolicitudID: e.SCSPSolicitudID}}
		source := r.cfg.Pipeline.SourceOf(job.Service, q.Params)
		// The organisation's slot is taken here, before the goroutine, so
		// that a chunk never starts more elements than the slots allow.
		if err := r.orgs.acquire(ctx, job.Requester); err != nil {
			break
		}
		wg.Add(1)
		go func(e store.JobElement) {
			defer wg.Done()
			defer r.orgs.release(job.Requester)
			err := r.runElement(ctx, job, principal, e, el, perr, source, claim)
			if err != nil {
				mu.Lock()
				if firstErr == nil {
					firstErr = err
				}
				mu.Unlock()
			}
		}(e)
	}
	wg.Wait()
	if firstErr != nil {
		return firstErr
	}
	return ctx.Err()
}

// runElement runs one element and stores its result with its record.
func (r *Runner) runElement(ctx context.Context, job store.Job, principal auth.Principal, e store.JobElement, el pipeline.Element, parseErr error, source, claim string) error {
	var (
		rec store.Transfer
		ans pipeline.Answer
		err error
	)
	switch {
	case e.State == store.ElementClaimed && e.Claim != claim:
		// Claimed by an attempt that is gone, during its call: the source
		// may have answered it, so it is not asked again.
		rec = r.cfg.Pipeline.Interrupted(principal, job.Service, el)
		err = interrupted
	case e.State == store.ElementClaimed:
		return nil // this attempt's own, in hand
	case parseErr != nil:
		// Validated when the job was accepted: only a store that changed
		// the element's bytes gets here. Recorded like any refusal.
		rec = r.cfg.Pipeline.Interrupted(principal, job.Service, el)
		rec.Outcome, rec.Decision = string(fault.InvalidRequest), store.Deny
		err = parseErr
	default:
		if source != "" {
			if aerr := r.sources.acquire(ctx, source); aerr != nil {
				return aerr
			}
			defer r.sources.release(source)
		}
		el.BeforeCall = func(ctx context.Context) error {
			return r.cfg.Store.ClaimJobElement(ctx, job.ID, e.Index, claim)
		}
		rec, ans, err = r.cfg.Pipeline.RunElement(ctx, principal, job.Service, el)
		if pipeline.NotRun(err) {
			if errors.Is(err, store.ErrTaken) {
				// Another attempt of this chunk claimed the element
				// between this attempt's read and its claim (river
				// rescued the chunk while that attempt still ran).
				// Completing the chunk now would leave the element to
				// that attempt alone: were its node to die, nothing
				// would finish it, and the sweep cannot queue a
				// completed chunk again. Failed, the chunk is tried
				// again later and finds the element done, or held by
				// an attempt that is gone and recorded interrupted.
				return fmt.Errorf("jobs: element %d of %s is held by another attempt; the chunk will be tried again: %w", e.Index, job.ID, err)
			}
			return fmt.Errorf("jobs: claim element %d of %s: %w", e.Index, job.ID, err)
		}
	}
	done := store.JobElement{JobID: job.ID, Index: e.Index, Claim: claim, Outcome: rec.Outcome, HTTPStatus: rec.HTTPStatus, SCSPCode: rec.SCSPCode}
	if e.State == store.ElementClaimed {
		done.Claim = e.Claim
	}
	if err == nil {
		done.Result = ans.Body
	} else {
		done.Result = problemJSON(err, rec.ID)
	}
	// The commit outlives a chunk that timed out: the call was made, and
	// its record must be written.
	cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	finished, cerr := r.cfg.Store.CompleteJobElement(cctx, done, rec)
	switch {
	case errors.Is(cerr, store.ErrTaken):
		return nil
	case cerr != nil:
		return fmt.Errorf("jobs: complete element %d of %s: %w", e.Index, job.ID, cerr)
	}
	r.rate.add(r.cfg.Now())
	if finished && job.CallbackURL != "" {
		if err := r.cfg.Queue.insert(cctx, []river.InsertManyParams{{Args: callbackArgs{Job: job.ID}}}); err != nil {
			r.log.Warn("callback not queued; the sweep will queue it", slog.String("job", job.ID), slog.String("error", err.Error()))
		}
	}
	return nil
}

// interrupted is the problem of an element whose attempt stopped during
// its call to the source.
var interrupted = fault.New(fault.JobInterrupted, "the node running this element stopped during its call to the source; whether the source answered is not known, no data left Pont, and the element was not asked again: ask for this subject again")

// problemJSON is a failed element's result: the problem document a
// synchronous query would have answered.
func problemJSON(err error, transferID string) []byte {
	p := fault.ProblemOf(err)
	p.TransferID = transferID
	b, _ := json.Marshal(p) // strings, ints and slices of them always encode
	return b
}

// Sweep queues the chunks of unfinished jobs and the callbacks not yet
// delivered (what a node that died between storing and queuing left, and
// callbacks whose retries ran out, until the job's results are deleted),
// and deletes the results whose retention ended. Every node's queue runs it
// periodically; it is safe to run anywhere at any time.
func (r *Runner) Sweep(ctx context.Context) error {
	jobs, err := r.cfg.Store.UnfinishedJobs(ctx)
	if err != nil {
		return fmt.Errorf("jobs: sweep: %w", err)
	}
	for _, j := range jobs {
		if !j.Finished() {
			if err := r.enqueue(ctx, j); err != nil {
				return fmt.Errorf("jobs: sweep: queue %s: %w", j.ID, err)
			}
			continue
		}
		if j.DeletedAt != nil {
			continue // nothing left to fetch: the notification would only mislead
		}
		if err := r.cfg.Queue.insert(ctx, []river.InsertManyParams{{Args: callbackArgs{Job: j.ID}}}); err != nil {
			return fmt.Errorf("jobs: sweep: queue callback of %s: %w", j.ID, err)
		}
	}
	n, err := r.cfg.Store.DeleteExpiredJobResults(ctx, r.cfg.Now(), r.cfg.Node)
	if err != nil {
		return fmt.Errorf("jobs: sweep: delete expired results: %w", err)
	}
	if n > 0 {
		r.log.Info("job results deleted at the end of their retention", slog.Int("jobs", n))
	}
	return nil
}

// sendCallback posts job's notification and records its delivery.
func (r *Runner) sendCallback(ctx context.Context, id string) error {
	job, err := r.cfg.Store.GetJob(ctx, id)
	if errors.Is(err, store.ErrNotFound) {
		return river.JobCancel(err)
	}
	if err != nil {
		return err
	}
	if job.NotifiedAt != nil || job.CallbackURL == "" || r.cfg.Notifier == nil {
		return nil
	}
	if err := r.cfg.Notifier.Notify(ctx, job); err != nil {
		return err
	}
	return r.cfg.Store.MarkJobNotified(ctx, job.ID, r.cfg.Now().UTC().Truncate(time.Microsecond))
}

// Get answers a job for principal: ErrNotFound (a fault.NotFound) when it
// does not exist or is another organisation's.
func (r *Runner) Get(ctx context.Context, principal auth.Principal, id string) (store.Job, error) {
	job, err := r.cfg.Store.GetJob(ctx, id)
	if errors.Is(err, store.ErrNotFound) || (err == nil && job.Requester != principal.Org) {
		return store.Job{}, fault.New(fault.NotFound, "no job %s of this organisation", strconv.Quote(fault.SafeText(id)))
	}
	if err != nil {
		return store.Job{}, fault.Wrap(fault.StoreUnavailable, err, "the job could not be read")
	}
	return job, nil
}

// Results answers up to limit elements of job from index from.
func (r *Runner) Results(ctx context.Context, job store.Job, from, limit int) ([]store.JobElement, error) {
	els, err := r.cfg.Store.JobElements(ctx, job.ID, from, limit)
	if err != nil {
		return nil, fault.Wrap(fault.StoreUnavailable, err, "the job's results could not be read")
	}
	return els, nil
}

// Estimate answers when job is expected to be done.
func (r *Runner) Estimate(job store.Job) time.Time {
	if job.FinishedAt != nil {
		return *job.FinishedAt
	}
	return r.estimate(job)
}

var _ Pipeline = (*pipeline.Pipeline)(nil)

// SCSPKey is the idempotency key of the job of an asynchronous SCSP
// Peticion: its IdPeticion, under a prefix of its own.
func SCSPKey(idPeticion string) string { return "scsp:" + idPeticion }

// ByKey answers principal's job whose idempotency key is key:
// a fault.NotFound when there is none.
func (r *Runner) ByKey(ctx context.Context, principal auth.Principal, key string) (store.Job, error) {
	job, err := r.cfg.Store.JobByKey(ctx, principal.Org, key)
	if errors.Is(err, store.ErrNotFound) {
		return store.Job{}, fault.New(fault.NotFound, "no job of this organisation with that key")
	}
	if err != nil {
		return store.Job{}, fault.Wrap(fault.StoreUnavailable, err, "the job could not be read")
	}
	return job, nil
}

// Peticion answers the SCSP Peticion job came with: nil once its results
// were deleted, and for a job of the JSON API.
func (r *Runner) Peticion(ctx context.Context, job store.Job) ([]byte, error) {
	b, err := r.cfg.Store.JobPeticion(ctx, job.ID)
	if err != nil {
		return nil, fault.Wrap(fault.StoreUnavailable, err, "the job's request could not be read")
	}
	return b, nil
}
