package cmdutil

import (
	"testing"

	"github.com/kubeaccess/kubeaccess/internal/failure"
)

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
	if failure.ExitCode(err) != failure.ExitUsage {
		t.Errorf("xml: exit code %d, want %d", failure.ExitCode(err), failure.ExitUsage)
	}
}
