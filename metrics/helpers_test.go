package metrics_test

import (
	"testing"

	"github.com/prometheus/client_golang/prometheus"
)

// histogram is one histogram series as gathered.
type histogram struct {
	labels map[string]string
	count  uint64
	sum    float64
}

// histograms gathers the series of the histogram name.
func histograms(t testing.TB, g prometheus.Gatherer, name string) []histogram {
	t.Helper()
	mfs, err := g.Gather()
	if err != nil {
		t.Fatal(err)
	}
	var hs []histogram
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.GetMetric() {
			h := histogram{labels: map[string]string{}, count: m.GetHistogram().GetSampleCount(), sum: m.GetHistogram().GetSampleSum()}
			for _, l := range m.GetLabel() {
				h.labels[l.GetName()] = l.GetValue()
			}
			hs = append(hs, h)
		}
	}
	return hs
}

// labelValues gathers every label value of every series, by label name.
func labelValues(t testing.TB, g prometheus.Gatherer) map[string]map[string]bool {
	t.Helper()
	mfs, err := g.Gather()
	if err != nil {
		t.Fatal(err)
	}
	values := map[string]map[string]bool{}
	for _, mf := range mfs {
		for _, m := range mf.GetMetric() {
			for _, l := range m.GetLabel() {
				if values[l.GetName()] == nil {
					values[l.GetName()] = map[string]bool{}
				}
				values[l.GetName()][l.GetValue()] = true
			}
		}
	}
	return values
}
