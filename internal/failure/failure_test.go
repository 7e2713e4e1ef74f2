package failure

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
		"interrupted":        {InterruptedErrorf("stopped"), ExitInterrupted},
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
