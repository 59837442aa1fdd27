package api

import (
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
)

// Metrics are the node's Prometheus metrics. It implements
// pipeline.Observer, so the pipeline reports decisions and adapter calls.
type Metrics struct {
	requests        *prometheus.CounterVec
	latency         *prometheus.HistogramVec
	decisions       *prometheus.CounterVec
	adapterCalls    *prometheus.CounterVec
	adapterDuration *prometheus.HistogramVec
}

// NewMetrics registers Pont's metrics, and the Go and process collectors, on reg.
func NewMetrics(reg *prometheus.Registry) *Metrics {
	m := &Metrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "pont_http_requests_total", Help: "HTTP requests by route, method and status.",
		}, []string{"route", "method", "status"}),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "pont_http_request_duration_seconds", Help: "HTTP request latency by route.",
			Buckets: []float64{.0005, .001, .002, .005, .01, .02, .05, .1, .25, .5, 1, 2.5, 5},
		}, []string{"route"}),
		decisions: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "pont_decisions_total", Help: "Policy decisions by service and decision (allow|deny).",
		}, []string{"service", "decision"}),
		adapterCalls: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "pont_adapter_calls_total", Help: "Adapter calls by adapter and outcome (ok or the problem code).",
		}, []string{"adapter", "outcome"}),
		adapterDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "pont_adapter_call_duration_seconds", Help: "Adapter call latency by adapter.",
			Buckets: []float64{.0001, .0005, .001, .002, .005, .01, .05, .1, .5, 1, 2.5},
		}, []string{"adapter"}),
	}
	reg.MustRegister(m.requests, m.latency, m.decisions, m.adapterCalls, m.adapterDuration,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}

func (m *Metrics) request(route, method string, status int, elapsed time.Duration) {
	m.requests.WithLabelValues(route, method, strconv.Itoa(status)).Inc()
	m.latency.WithLabelValues(route).Observe(elapsed.Seconds())
}

// Decision counts one policy decision.
func (m *Metrics) Decision(service, decision string) {
	m.decisions.WithLabelValues(service, decision).Inc()
}

// AdapterCall counts one adapter call and its latency.
func (m *Metrics) AdapterCall(adapter, outcome string, elapsed time.Duration) {
	m.adapterCalls.WithLabelValues(adapter, outcome).Inc()
	m.adapterDuration.WithLabelValues(adapter).Observe(elapsed.Seconds())
}
