// Package safe keeps what others wrote from reaching a terminal as control
// characters, and secrets from reaching the logs.
package safe

import (
	"context"

	"github.com/go-logr/logr"
	"k8s.io/klog/v2"
)

// Quiet returns a context whose requests client-go does not log, at any
// -v: for requests and responses that carry a secret (a TokenRequest's
// token, a TokenReview's, a Secret's data), whose bodies -v=8 and above
// would print.
func Quiet(ctx context.Context) context.Context {
	return klog.NewContext(ctx, logr.Discard())
}
