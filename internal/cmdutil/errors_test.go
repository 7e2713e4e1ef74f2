package cmdutil

import (
	"context"
	"errors"
	"fmt"
	"testing"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

func TestExitCode(t *testing.T) {
	tests := map[string]struct {
		err  error
		want int
	}{
		"success":            {nil, ExitOK},
		"plain error":        {errors.New("boom"), ExitError},
		"usage":              {UsageErrorf("bad flag"), ExitUsage},
		"wrapped usage":      {fmt.Errorf("grant: %w", UsageErrorf("bad flag")), ExitUsage},
		"timeout":            {TimeoutErrorf("no certificate"), ExitTimeout},
		"context deadline":   {fmt.Errorf("waiting: %w", context.DeadlineExceeded), ExitTimeout},
		"denied":             {DeniedErrorf("CSR denied"), ExitDenied},
		"forbidden from API": {apierrors.NewForbidden(schema.GroupResource{Resource: "pods"}, "x", errors.New("no")), ExitDenied},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			if got := ExitCode(tc.err); got != tc.want {
				t.Errorf("ExitCode(%v) = %d, want %d", tc.err, got, tc.want)
			}
		})
	}
}

func TestValidateOutputFormat(t *testing.T) {
	if err := ValidateOutputFormat("", "json"); err != nil {
		t.Errorf("empty format: %v", err)
	}
	if err := ValidateOutputFormat("yaml", "json", "yaml"); err != nil {
		t.Errorf("yaml: %v", err)
	}
	err := ValidateOutputFormat("xml", "json", "yaml")
	if want := `unknown output format "xml": allowed formats are [json yaml]`; err == nil || err.Error() != want {
		t.Errorf("xml: error %v, want %q", err, want)
	}
	if ExitCode(err) != ExitUsage {
		t.Errorf("xml: exit code %d, want %d", ExitCode(err), ExitUsage)
	}
}
