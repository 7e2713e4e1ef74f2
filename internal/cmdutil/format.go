// The plain JSON and YAML documents of commands that print no Kubernetes
// object (version, the claims whoami decodes), and the formats they take.

package cmdutil

import (
	"github.com/kubeaccess/kubeaccess/internal/failure"

	"encoding/json"
	"fmt"
	"io"

	"sigs.k8s.io/yaml"
)

// ValidateOutputFormat checks an -o value against the formats a command
// supports; the empty string always means the human-readable default.
func ValidateOutputFormat(format string, allowed ...string) error {
	if format == "" {
		return nil
	}
	for _, a := range allowed {
		if format == a {
			return nil
		}
	}
	return failure.UsageErrorf("unknown output format %q: allowed formats are %v", format, allowed)
}

// PrintStructured writes v as exactly one JSON or YAML document.
func PrintStructured(w io.Writer, format string, v any) error {
	switch format {
	case "json":
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		return enc.Encode(v)
	case "yaml":
		out, err := yaml.Marshal(v)
		if err != nil {
			return err
		}
		_, err = w.Write(out)
		return err
	}
	return fmt.Errorf("unsupported structured output format %q", format)
}
