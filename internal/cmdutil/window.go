package cmdutil

import (
	"time"

	"github.com/kubeaccess/kubeaccess/internal/lifetime"
)

// ParseWindow reads a flag's duration, which may be given in days ("7d").
func ParseWindow(s string) (time.Duration, error) { return lifetime.Parse(s) }
