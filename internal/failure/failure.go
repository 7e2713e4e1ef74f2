// Package failure holds the typed errors that decide kubeaccess's exit
// codes, apart from any command-line library so that the engine and the
// domain packages can return them.
package failure

import (
	"context"
	"errors"
	"fmt"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
)

// Exit codes, documented in the README. Every command returns an error and
// only ExitCode decides which of these the process ends with.
const (
	ExitOK          = 0
	ExitError       = 1   // anything not covered below
	ExitUsage       = 2   // bad flags or arguments, or refused by policy: nothing was changed
	ExitTimeout     = 3   // a wait ran out of time
	ExitDenied      = 4   // the API server or an approver said no
	ExitInterrupted = 130 // Ctrl-C or SIGTERM, as shells report SIGINT
)

// codedError carries an exit code alongside the error it wraps.
type codedError struct {
	code int
	err  error
}

func (e *codedError) Error() string { return e.err.Error() }
func (e *codedError) Unwrap() error { return e.err }

// UsageErrorf reports bad input: a wrong flag, argument or value, or a
// request refused by policy. Commands return it before making any change.
func UsageErrorf(format string, args ...any) error {
	return &codedError{code: ExitUsage, err: fmt.Errorf(format, args...)}
}

// TimeoutErrorf reports a wait that ran out of time.
func TimeoutErrorf(format string, args ...any) error {
	return &codedError{code: ExitTimeout, err: fmt.Errorf(format, args...)}
}

// DeniedErrorf reports a refusal by the cluster: missing permission, or a
// request denied by an approver.
func DeniedErrorf(format string, args ...any) error {
	return &codedError{code: ExitDenied, err: fmt.Errorf(format, args...)}
}

// InterruptedErrorf reports work stopped by a signal.
func InterruptedErrorf(format string, args ...any) error {
	return &codedError{code: ExitInterrupted, err: fmt.Errorf(format, args...)}
}

// Interrupted reports whether err is, or wraps, an interruption.
func Interrupted(err error) bool {
	var coded *codedError
	return errors.As(err, &coded) && coded.code == ExitInterrupted
}

// silentError ends the process with its code and prints nothing: the
// command has already said what it had to (can's "no").
type silentError struct{ code int }

func (e silentError) Error() string { return fmt.Sprintf("exit status %d", e.code) }

// ExitSilently ends the command with code, printing no error.
func ExitSilently(code int) error { return silentError{code} }

// Silent reports whether err only carries an exit code.
func Silent(err error) bool {
	var s silentError
	return errors.As(err, &s)
}

// ExitCode maps an error returned by a command to the process exit code.
func ExitCode(err error) int {
	if err == nil {
		return ExitOK
	}
	var (
		coded  *codedError
		silent silentError
	)
	switch {
	case errors.As(err, &silent):
		return silent.code
	case errors.As(err, &coded):
		return coded.code
	case errors.Is(err, context.DeadlineExceeded):
		return ExitTimeout
	case apierrors.IsForbidden(err) || apierrors.IsUnauthorized(err):
		return ExitDenied
	}
	return ExitError
}
