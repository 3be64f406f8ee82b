package sender

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/hookd/hookd/internal/cache"
	"github.com/hookd/hookd/internal/clock"
)

// metrics are the sender's Prometheus series.
type metrics struct {
	deliveries *prometheus.CounterVec // hookd_deliveries_total{status}
	duration   prometheus.Histogram   // hookd_attempt_duration_seconds
	claimed    prometheus.Counter     // hookd_queue_claimed_total
	handed     prometheus.Counter     // hookd_queue_handed_total
	inFlight   prometheus.Gauge       // hookd_sender_in_flight
	panics     prometheus.Counter     // hookd_sender_panics_total
	// Per-webhook series, only with Config.PerWebhookMetrics (one series per webhook: cardinality).
	webhookDeliveries *prometheus.CounterVec   // hookd_webhook_deliveries_total{webhook_id,status}
	webhookDuration   *prometheus.HistogramVec // hookd_webhook_attempt_duration_seconds{webhook_id}
}

// attemptBuckets are the bounds of the attempt-duration histograms (seconds).
var attemptBuckets = []float64{.005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 15}

func newMetrics(reg prometheus.Registerer, perWebhook bool) *metrics {
	m := &metrics{
		deliveries: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "hookd_deliveries_total",
			Help: "Delivery outcomes written by the sender, by new status (queued = delayed by a rate limit, or a listen webhook with no client connected).",
		}, []string{"status"}),
		duration: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "hookd_attempt_duration_seconds",
			Help:    "Duration of delivery attempts (HTTP request and response body).",
			Buckets: attemptBuckets,
		}),
		claimed: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "hookd_queue_claimed_total",
			Help: "Deliveries leased from the queue by this process.",
		}),
		handed: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "hookd_queue_handed_total",
			Help: "Deliveries that publishes of this process handed to its sender already leased (no claim needed).",
		}),
		inFlight: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "hookd_sender_in_flight",
			Help: "Claimed deliveries in this process's worker pool (running or about to run).",
		}),
		panics: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "hookd_sender_panics_total",
			Help: "Delivery attempts that panicked (contained: the delivery failed with a \"panic: …\" reason, the process went on).",
		}),
	}
	if reg != nil {
		m.deliveries = register(reg, m.deliveries)
		m.duration = register(reg, m.duration)
		m.claimed = register(reg, m.claimed)
		m.handed = register(reg, m.handed)
		m.inFlight = register(reg, m.inFlight)
		m.panics = register(reg, m.panics)
	}
	if perWebhook {
		m.webhookDeliveries = prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "hookd_webhook_deliveries_total",
			Help: "Delivery outcomes written by the sender, by webhook and new status (--metrics-per-webhook).",
		}, []string{"webhook_id", "status"})
		m.webhookDuration = prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "hookd_webhook_attempt_duration_seconds",
			Help:    "Duration of delivery attempts, by webhook (--metrics-per-webhook).",
			Buckets: attemptBuckets,
		}, []string{"webhook_id"})
		if reg != nil {
			m.webhookDeliveries = register(reg, m.webhookDeliveries)
			m.webhookDuration = register(reg, m.webhookDuration)
		}
	}
	return m
}

// outcome counts an outcome written for webhookID.
func (m *metrics) outcome(webhookID string, status string) {
	m.deliveries.WithLabelValues(status).Inc()
	if m.webhookDeliveries != nil {
		m.webhookDeliveries.WithLabelValues(webhookID, status).Inc()
	}
}

// attempt observes the duration of an attempt to webhookID.
func (m *metrics) attempt(webhookID string, d time.Duration) {
	m.duration.Observe(d.Seconds())
	if m.webhookDuration != nil {
		m.webhookDuration.WithLabelValues(webhookID).Observe(d.Seconds())
	}
}

// register registers c, or returns the collector already registered under its name (a second Sender on the
// same registry shares the series).
func register[C prometheus.Collector](reg prometheus.Registerer, c C) C {
	if err := reg.Register(c); err != nil {
		var are prometheus.AlreadyRegisteredError
		if errors.As(err, &are) {
			if existing, ok := are.ExistingCollector.(C); ok {
				return existing
			}
		}
		panic(err)
	}
	return c
}

// queueDepth is hookd_queue_depth: unfinished deliveries in the database (all processes), counted at most
// every queueDepthTTL (on the injected clock) however often /metrics is scraped; a failed count shows the last one.
type queueDepth struct {
	store Queue
	log   *slog.Logger
	desc  *prometheus.Desc
	depth *cache.TTL[struct{}, float64]

	mu   sync.Mutex
	last float64
}

const queueDepthTTL = 5 * time.Second

func newQueueDepth(st Queue, log *slog.Logger, clk clock.Clock) *queueDepth {
	return &queueDepth{store: st, log: log, depth: cache.New[struct{}, float64](queueDepthTTL, 1, clk),
		desc: prometheus.NewDesc("hookd_queue_depth", "Unfinished deliveries (QUEUED, RETRYING, WAITING) in the database, all processes.", nil, nil)}
}

// Describe implements prometheus.Collector.
func (q *queueDepth) Describe(ch chan<- *prometheus.Desc) { ch <- q.desc }

// Collect implements prometheus.Collector.
func (q *queueDepth) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	v, err := q.depth.Get(ctx, struct{}{}, func(ctx context.Context) (float64, error) {
		n, err := q.store.QueueDepth(ctx)
		return float64(n), err
	})
	q.mu.Lock()
	if err != nil {
		q.log.Warn("queue depth", "error", err)
		v = q.last
	} else {
		q.last = v
	}
	q.mu.Unlock()
	ch <- prometheus.MustNewConstMetric(q.desc, prometheus.GaugeValue, v)
}
