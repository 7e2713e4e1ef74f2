package controller

import (
	"strconv"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/labels"
	corelisters "k8s.io/client-go/listers/core/v1"

	"github.com/kubeaccess/kubeaccess/internal/records"
)

// Metrics are what the controller exports on /metrics.
type Metrics struct {
	Reconciles *prometheus.CounterVec
	Refusals   *prometheus.CounterVec
	Renewals   *prometheus.CounterVec
	Expiries   prometheus.Counter
	Drift      prometheus.Counter
	// Invitations counts team invitations by result: sent, revoked.
	Invitations *prometheus.CounterVec
	Duration    *prometheus.HistogramVec
	Leader      prometheus.Gauge

	credentials *credentialsCollector
}

// NewMetrics registers the controller's metrics with reg.
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		Reconciles: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "kubeaccess_reconciles_total",
			Help: "Reconciles by loop (expiry, renewal, team) and result."}, []string{"loop", "result"}),
		Refusals: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "kubeaccess_refusals_total",
			Help: "What the controller refused to act on, by loop and reason."}, []string{"loop", "reason"}),
		Renewals: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "kubeaccess_renewals_total",
			Help: "Certificate requests examined as renewals, by result: approved, refused (a kubeaccess credential's, failing a check), ignored (not a kubeaccess credential's)."},
			[]string{"result"}),
		Expiries: prometheus.NewCounter(prometheus.CounterOpts{Name: "kubeaccess_expiries_total",
			Help: "Time-bound access taken away when its time came."}),
		Drift: prometheus.NewCounter(prometheus.CounterOpts{Name: "kubeaccess_drift_corrected_total",
			Help: "Times a team's roles and bindings, changed by someone else, were put back."}),
		Invitations: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "kubeaccess_invitations_total",
			Help: "Invitations of teams' pending users, by result: sent (a link sent to a destination for the first time), revoked (no longer due)."}, []string{"result"}),
		Duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "kubeaccess_reconcile_duration_seconds",
			Help: "Time to reconcile one item, by loop.", Buckets: prometheus.ExponentialBuckets(0.005, 2, 14)}, []string{"loop"}),
		Leader: prometheus.NewGauge(prometheus.GaugeOpts{Name: "kubeaccess_leader",
			Help: "1 while this replica holds the lease and reconciles, else 0."}),
		credentials: &credentialsCollector{
			byState: prometheus.NewDesc("kubeaccess_credentials", "Credentials kubeaccess keeps records of, by state (active, expired, revoked, tampered); reported by the leader.",
				[]string{"state"}, nil),
			expiring: prometheus.NewDesc("kubeaccess_credentials_expiring", "Active credentials that expire within a number of days; reported by the leader.",
				[]string{"within_days"}, nil),
		},
	}
	reg.MustRegister(m.Reconciles, m.Refusals, m.Renewals, m.Expiries, m.Drift, m.Invitations, m.Duration, m.Leader, m.credentials)
	return m
}

// observe counts one reconcile of loop that began at start.
func (m *Metrics) observe(loop, result string, start time.Time) {
	m.Reconciles.WithLabelValues(loop, result).Inc()
	m.Duration.WithLabelValues(loop).Observe(time.Since(start).Seconds())
}

// credentialsCollector counts the records as the leader's informer holds
// them, when scraped.
type credentialsCollector struct {
	byState, expiring *prometheus.Desc
	// mu guards lister, which the leader sets while it reconciles and a
	// scrape reads.
	mu     sync.Mutex
	lister corelisters.ConfigMapNamespaceLister
}

// use sets the lister scrapes count from (nil: report nothing).
func (c *credentialsCollector) use(l corelisters.ConfigMapNamespaceLister) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.lister = l
}

func (c *credentialsCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- c.byState
	ch <- c.expiring
}

// expiringDays are the windows of kubeaccess_credentials_expiring.
var expiringDays = []int{1, 7, 30}

func (c *credentialsCollector) Collect(ch chan<- prometheus.Metric) {
	c.mu.Lock()
	lister := c.lister
	c.mu.Unlock()
	if lister == nil {
		return
	}
	cms, err := lister.List(labels.Everything())
	if err != nil {
		return
	}
	states := map[string]int{"active": 0, "expired": 0, "revoked": 0, "tampered": 0}
	within := make([]int, len(expiringDays))
	now := time.Now()
	for _, cm := range cms {
		state := stateOf(cm, now)
		states[state]++
		if state != "active" {
			continue
		}
		left := records.Read(cm).NotAfter.Sub(now)
		for i, d := range expiringDays {
			if left <= time.Duration(d)*24*time.Hour {
				within[i]++
			}
		}
	}
	for state, n := range states {
		ch <- prometheus.MustNewConstMetric(c.byState, prometheus.GaugeValue, float64(n), state)
	}
	for i, d := range expiringDays {
		ch <- prometheus.MustNewConstMetric(c.expiring, prometheus.GaugeValue, float64(within[i]), strconv.Itoa(d))
	}
}

// stateOf is a record's state now.
func stateOf(cm *corev1.ConfigMap, now time.Time) string {
	r := records.Read(cm)
	switch {
	case r.Check() != nil:
		return "tampered"
	case r.Revoked != nil:
		return "revoked"
	case now.After(r.NotAfter):
		return "expired"
	}
	return "active"
}
