//go:build linux

package daemon

import (
	"net/http"
	"sync/atomic"

	grpcprom "github.com/grpc-ecosystem/go-grpc-middleware/providers/prometheus"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"google.golang.org/grpc"

	apiv1 "github.com/paddock-sh/paddock/agentd/api/v1"
)

// metrics are the daemon's Prometheus metrics: every RPC, every
// enforcement action by layer, and every point where an event can be lost.
type metrics struct {
	reg     *prometheus.Registry
	grpc    *grpcprom.ServerMetrics
	actions *prometheus.CounterVec // layer, action
	lost    *prometheus.CounterVec // where: ring-buffer, pipeline, subscriber, log
	refused *prometheus.CounterVec // why an API call was refused before its handler
	panics  prometheus.Counter
	events  prometheus.Counter // written to the log
	// approvals counts approval requests by outcome; approvalsPending is
	// how many wait for an answer now.
	approvals        *prometheus.CounterVec
	approvalsPending prometheus.Gauge

	// byAction caches actions' counters: every event counts in one, and
	// a label lookup per event shows in the pipeline's profile.
	byAction [16][8]atomic.Pointer[prometheus.Counter]
}

// action is the counter of decisions by layer l with action a.
func (m *metrics) action(l apiv1.Layer, a apiv1.Action) prometheus.Counter {
	if l < 0 || a < 0 || int(l) >= len(m.byAction) || int(a) >= len(m.byAction[0]) {
		return m.actions.WithLabelValues(l.String(), a.String())
	}
	if c := m.byAction[l][a].Load(); c != nil {
		return *c
	}
	c := m.actions.WithLabelValues(l.String(), a.String())
	m.byAction[l][a].Store(&c)
	return c
}

func newMetrics() *metrics {
	m := &metrics{
		reg:  prometheus.NewRegistry(),
		grpc: grpcprom.NewServerMetrics(),
		actions: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "paddock_enforcement_actions_total", Help: "Decisions by the layer that made them and their action.",
		}, []string{"layer", "action"}),
		lost: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "paddock_events_lost_total", Help: "Events lost, by where they were lost.",
		}, []string{"where"}),
		refused: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "paddock_api_refused_total", Help: "API calls refused before reaching a handler, by reason.",
		}, []string{"reason"}),
		panics: prometheus.NewCounter(prometheus.CounterOpts{Name: "paddock_api_panics_total", Help: "Handler panics recovered."}),
		events: prometheus.NewCounter(prometheus.CounterOpts{Name: "paddock_events_logged_total", Help: "Events written to the durable log."}),
		approvals: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "paddock_approvals_total", Help: "Approval requests (on_unknown = ask): requested, and each outcome: deny, allow-once, allow-sandbox, allow-permanent, timed-out, withdrawn, allowed-without-asking (by an earlier answer).",
		}, []string{"outcome"}),
		approvalsPending: prometheus.NewGauge(prometheus.GaugeOpts{Name: "paddock_approvals_pending", Help: "Approval requests waiting for an answer."}),
	}
	for _, o := range []string{"requested", "deny", "allow-once", "allow-sandbox", "allow-permanent", "timed-out", "withdrawn", "allowed-without-asking"} {
		m.approvals.WithLabelValues(o)
	}
	for _, w := range []string{"ring-buffer", "pipeline", "subscriber", "log"} {
		m.lost.WithLabelValues(w)
	}
	m.reg.MustRegister(m.grpc, m.actions, m.lost, m.refused, m.panics, m.events, m.approvals, m.approvalsPending,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}

func (m *metrics) initServer(s *grpc.Server) { m.grpc.InitializeMetrics(s) }

// Handler serves the metrics in the Prometheus text format.
func (d *Daemon) MetricsHandler() http.Handler {
	return promhttp.HandlerFor(d.metrics.reg, promhttp.HandlerOpts{})
}
