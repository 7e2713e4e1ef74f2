package version

import (
	"strings"
	"testing"
)

func TestRangeWarning(t *testing.T) {
	for v, want := range map[string]string{
		"":                 "",
		"v1.31.4":          "",
		"v1.37.2":          "",
		"v1.34.1-eks-1234": "",
		"v1.30.9":          "tested against v1.31 to v1.37",
		"v1.38.0":          "tested against v1.31 to v1.37",
		"v1.29.10-gke.100": "tested against v1.31 to v1.37",
		"v2.0.0":           "not one kubeaccess knows",
	} {
		got := rangeWarning(v)
		if want == "" && got != "" || want != "" && !strings.Contains(got, want) {
			t.Errorf("rangeWarning(%q) = %q, want %q", v, got, want)
		}
	}
}
