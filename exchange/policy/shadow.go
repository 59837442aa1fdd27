package policy

import (
	"context"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"slices"

	"github.com/open-policy-agent/opa/v1/ast"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/pontexchange/pont/exchange/fault"
)

// The memo (memo.go) is right only while every read OPA makes of the input
// goes through a method of tracked that records it. Nothing in the
// compiler enforces that: ast.Object is OPA's to extend, and a read that
// reaches the embedded object unobserved would let the memo hand one
// input's decision to another. TestTrackedOverridesObject catches a new
// method of the OPA version in go.mod; a shadow evaluation catches
// whatever else goes wrong in production (a new OPA code path, an
// operator's policy the tests never saw): one memo hit in
// DefaultShadowEvery is evaluated again in full, and a disagreement turns
// the Engine's memo off for good.

// DefaultShadowEvery is how many memo hits, on average, answer one that is
// evaluated again by the policies: at 1 in 64 the check costs about one
// evaluation in 64 hits (RATIONALE.md), and a memo that is wrong for a
// kind of query seen a hundred times a minute is found within a minute.
const DefaultShadowEvery = 64

// Option changes how New builds an Engine.
type Option func(*options)

type options struct {
	metrics     *Metrics
	logger      *slog.Logger
	shadowEvery int
}

// WithMetrics has the Engine count its shadow evaluations and their
// disagreements in m. Give every Engine of a process the same m, so that
// the counts survive a policy reload; nil counts nowhere.
func WithMetrics(m *Metrics) Option { return func(o *options) { o.metrics = m } }

// WithLogger has the Engine report a disagreement of its memo to l instead
// of slog.Default().
func WithLogger(l *slog.Logger) Option { return func(o *options) { o.logger = l } }

// WithShadowEvery has one memo hit in every, on average, evaluated again
// by the policies (DefaultShadowEvery unless given). 1 checks every hit;
// below 1 is refused by New: the check is what makes the memo safe to
// keep.
func WithShadowEvery(every int) Option { return func(o *options) { o.shadowEvery = every } }

func newOptions(opts []Option) (options, error) {
	o := options{shadowEvery: DefaultShadowEvery}
	for _, opt := range opts {
		opt(&o)
	}
	if o.shadowEvery < 1 {
		return options{}, fmt.Errorf("policy: shadow evaluation of 1 memo hit in %d: must be at least 1 in 1", o.shadowEvery)
	}
	if o.logger == nil {
		o.logger = slog.Default()
	}
	if o.metrics == nil {
		o.metrics = NewMetrics() // unregistered: counts for nobody
	}
	return o, nil
}

// Metrics counts the memo's shadow evaluations and their disagreements,
// for Prometheus. Make one per process with NewMetrics, register it once
// and give it to every Engine with WithMetrics. Safe for concurrent use.
type Metrics struct {
	shadowed   prometheus.Counter
	mismatches prometheus.Counter
}

// NewMetrics returns counters at zero:
// pont_policy_memo_shadow_evaluations_total, the memo hits evaluated again,
// and pont_policy_memo_mismatches_total, those whose evaluation disagreed
// with the memo (each turned its Engine's memo off; any is a defect to
// report, with the log line that came with it).
func NewMetrics() *Metrics {
	return &Metrics{
		shadowed: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "pont_policy_memo_shadow_evaluations_total",
			Help: "Policy decisions answered by the memo and evaluated again in full to check it.",
		}),
		mismatches: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "pont_policy_memo_mismatches_total",
			Help: "Shadow evaluations that disagreed with the policy memo; each turns that engine's memo off.",
		}),
	}
}

// Describe implements prometheus.Collector.
func (m *Metrics) Describe(ch chan<- *prometheus.Desc) {
	m.shadowed.Describe(ch)
	m.mismatches.Describe(ch)
}

// Collect implements prometheus.Collector.
func (m *Metrics) Collect(ch chan<- prometheus.Metric) {
	m.shadowed.Collect(ch)
	m.mismatches.Collect(ch)
}

// sampled reports whether this memo hit is to be evaluated again. Random
// rather than every n-th: a periodic pattern of queries cannot keep a
// wrong leaf out of the sample.
func (e *Engine) sampled() bool {
	return e.shadowEvery == 1 || rand.Uint64N(e.shadowEvery) == 0
}

// shadow evaluates input in full, as if the memo had not answered, and
// returns what the evaluation decided: the evaluation is the authority.
// A decision unlike the memo's is a defect of the memo; it is counted,
// logged and turns the memo off. A failed evaluation is one too, unless
// ctx ended (the caller gave up; nothing is known of the memo).
func (e *Engine) shadow(ctx context.Context, input ast.Object, remembered Decision) (Decision, error) {
	e.metrics.shadowed.Inc()
	d, err := e.decide(ctx, input)
	switch {
	case err != nil && ctx.Err() != nil:
		return Decision{}, err
	case err != nil:
		e.mismatch(remembered, Decision{}, true)
		return Decision{}, err
	case !sameDecision(d, remembered):
		e.mismatch(remembered, d, false)
	}
	return d, nil
}

// mismatch counts and reports a disagreement and turns the memo off. The
// log line carries codes and counts only: a decision's messages and the
// input may name the citizen.
func (e *Engine) mismatch(remembered, evaluated Decision, failed bool) {
	e.metrics.mismatches.Inc()
	if !e.memo.disable() {
		return // already off: one report is enough
	}
	e.log.Error("policy memo disagreed with the policies; memo off for this engine until restart",
		slog.String("revision", e.revision),
		slog.Bool("memo_allow", remembered.Allow),
		slog.Any("memo_deny", denyCodes(remembered)),
		slog.Int("memo_fields", len(remembered.Fields)),
		slog.Bool("memo_all_fields", remembered.AllFields),
		slog.Bool("memo_verify_only", remembered.VerifyOnly),
		slog.Bool("policy_failed", failed),
		slog.Bool("policy_allow", evaluated.Allow),
		slog.Any("policy_deny", denyCodes(evaluated)),
		slog.Int("policy_fields", len(evaluated.Fields)),
		slog.Bool("policy_all_fields", evaluated.AllFields),
		slog.Bool("policy_verify_only", evaluated.VerifyOnly),
	)
}

func denyCodes(d Decision) []fault.Code {
	codes := make([]fault.Code, len(d.Deny))
	for i, r := range d.Deny {
		codes[i] = r.Code
	}
	return codes
}

// sameDecision reports whether two decisions say the same, an empty list
// being the same as none.
func sameDecision(a, b Decision) bool {
	return a.Allow == b.Allow && a.AllFields == b.AllFields && a.VerifyOnly == b.VerifyOnly &&
		slices.Equal(a.Deny, b.Deny) && slices.Equal(a.Fields, b.Fields)
}
