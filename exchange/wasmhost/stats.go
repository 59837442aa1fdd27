package wasmhost

import (
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"golang.org/x/time/rate"

	"github.com/pontexchange/pont/exchange/fault"
)

// Outcomes of a call, as counted by Stats: "ok" or the fault code the call
// ended with.
var outcomes = []string{
	"ok",
	string(fault.SubjectNotFound),
	string(fault.SourceUnavailable),
	string(fault.InvalidRequest),
	string(fault.AdapterFailed),
	string(fault.AdapterTimeout),
	string(fault.AdapterBusy),
	string(fault.AdapterMisconfigured),
	"other",
}

// outcomeIndex maps an outcome to its slot in counters.calls.
var outcomeIndex = func() map[string]int {
	m := make(map[string]int, len(outcomes))
	for i, o := range outcomes {
		m[o] = i
	}
	return m
}()

// counters are an adapter's running totals, updated without locks.
type counters struct {
	created     atomic.Uint64
	discarded   atomic.Uint64
	logsDropped atomic.Uint64
	calls       [9]atomic.Uint64 // by outcomes' index
}

func (c *counters) call(err error) {
	o := "ok"
	if err != nil {
		o = string(fault.CodeOf(err))
	}
	i, ok := outcomeIndex[o]
	if !ok {
		i = outcomeIndex["other"]
	}
	c.calls[i].Add(1)
}

// Stats is a snapshot of an adapter's pool and calls.
type Stats struct {
	// Adapter and Version come from the manifest.
	Adapter, Version string
	// InUse counts the instances running a call (or starting for one);
	// Idle those waiting in the pool. Their sum is at most Capacity.
	InUse, Idle int
	// Created and Discarded count instances since load: discarded ones
	// trapped, timed out, answered broken, or were closed with the adapter.
	Created, Discarded uint64
	// Calls counts finished calls by outcome: "ok" or the fault code
	// (subject_not_found, source_unavailable, invalid_request,
	// adapter_failed, adapter_timeout, adapter_busy, adapter_misconfigured),
	// or "other". Every outcome is present, zero or not.
	Calls map[string]uint64
	// LogsDropped counts log lines (log, stdout, stderr) dropped by the
	// adapter's log rate limit.
	LogsDropped uint64
}

// Stats returns a snapshot of the adapter's pool and call counters.
func (a *Adapter) Stats() Stats {
	idle := len(a.idle)
	s := Stats{
		Adapter:     a.manifest.Name,
		Version:     a.manifest.Version,
		Idle:        idle,
		InUse:       max(len(a.slots)+len(a.extra)-idle, 0),
		Created:     a.counters.created.Load(),
		Discarded:   a.counters.discarded.Load(),
		LogsDropped: a.counters.logsDropped.Load(),
		Calls:       make(map[string]uint64, len(outcomes)),
	}
	for i, o := range outcomes {
		s.Calls[o] = a.counters.calls[i].Load()
	}
	return s
}

// Collector exposes the Stats of a changing set of adapters to Prometheus.
type Collector struct {
	adapters func() []*Adapter

	instances, created, discarded, calls, logsDropped *prometheus.Desc
}

// NewCollector returns a Collector over the adapters that list returns at
// each scrape (so that adapters swapped in later are seen). Register it:
//
//	reg.MustRegister(wasmhost.NewCollector(func() []*wasmhost.Adapter { ... }))
func NewCollector(list func() []*Adapter) *Collector {
	labels := []string{"adapter", "version"}
	return &Collector{
		adapters: list,
		instances: prometheus.NewDesc("pont_adapter_pool_instances",
			"Live instances of an adapter by state (in_use, idle).", append(labels, "state"), nil),
		created: prometheus.NewDesc("pont_adapter_pool_created_total",
			"Instances of an adapter started since it was loaded.", labels, nil),
		discarded: prometheus.NewDesc("pont_adapter_pool_discarded_total",
			"Instances of an adapter dropped (trap, timeout, broken answer, close).", labels, nil),
		calls: prometheus.NewDesc("pont_adapter_pool_calls_total",
			"Calls into an adapter's pool by outcome (ok or the fault code).", append(labels, "outcome"), nil),
		logsDropped: prometheus.NewDesc("pont_adapter_log_dropped_total",
			"Adapter log lines dropped by the log rate limit.", labels, nil),
	}
}

// Describe implements prometheus.Collector.
func (c *Collector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{c.instances, c.created, c.discarded, c.calls, c.logsDropped} {
		ch <- d
	}
}

// Collect implements prometheus.Collector.
func (c *Collector) Collect(ch chan<- prometheus.Metric) {
	for _, a := range c.adapters() {
		s := a.Stats()
		ch <- prometheus.MustNewConstMetric(c.instances, prometheus.GaugeValue, float64(s.InUse), s.Adapter, s.Version, "in_use")
		ch <- prometheus.MustNewConstMetric(c.instances, prometheus.GaugeValue, float64(s.Idle), s.Adapter, s.Version, "idle")
		ch <- prometheus.MustNewConstMetric(c.created, prometheus.CounterValue, float64(s.Created), s.Adapter, s.Version)
		ch <- prometheus.MustNewConstMetric(c.discarded, prometheus.CounterValue, float64(s.Discarded), s.Adapter, s.Version)
		ch <- prometheus.MustNewConstMetric(c.logsDropped, prometheus.CounterValue, float64(s.LogsDropped), s.Adapter, s.Version)
		for _, o := range outcomes {
			ch <- prometheus.MustNewConstMetric(c.calls, prometheus.CounterValue, float64(s.Calls[o]), s.Adapter, s.Version, o)
		}
	}
}

// logLimiter limits an adapter's log lines: Burst lines at once, refilled
// at Rate lines a second. One adapter shares it across its instances, so
// that a pool of noisy instances cannot flood the log either.
type logLimiter struct {
	limiter *rate.Limiter
	// dropped counts the lines dropped since the last one let through, for
	// the warning that precedes it.
	dropped atomic.Uint64
}

func newLogLimiter(perSecond float64, burst int) *logLimiter {
	return &logLimiter{limiter: rate.NewLimiter(rate.Limit(perSecond), burst)}
}

// allow reports whether one line may be logged now and, if so, how many
// lines were dropped since the last one that was.
func (l *logLimiter) allow() (ok bool, dropped uint64) {
	return l.allowAt(time.Now())
}

// allowAt is allow at the time now.
func (l *logLimiter) allowAt(now time.Time) (ok bool, dropped uint64) {
	if !l.limiter.AllowN(now, 1) {
		l.dropped.Add(1)
		return false, 0
	}
	return true, l.dropped.Swap(0)
}
