package trace

import (
	"context"
	"fmt"
	"io"
	"runtime"
	"sync"
)

// Unreadable is a line that trace had to read but that held no audit
// event.
type Unreadable struct {
	Source string
	Line   int
	Err    error
}

func (u Unreadable) String() string { return fmt.Sprintf("%s line %d: %v", u.Source, u.Line, u.Err) }

// WarnUnreadable says, on w, how many lines held no audit event, and the
// first of them.
func WarnUnreadable(w io.Writer, bad []Unreadable) {
	if len(bad) > 0 {
		fmt.Fprintf(w, "warning: %d lines held no audit event and were skipped; the first: %s\n", len(bad), bad[0])
	}
}

// batchLines is how many lines to decode a worker takes at once.
const batchLines = 512

// batch is lines of one log read in order: those to decode, copied, and a
// count of those the prefilter let pass without decoding.
type batch struct {
	source  string
	lines   []numbered
	skipped int
	done    chan []decoded
}

type numbered struct {
	n    int
	line []byte
}

type decoded struct {
	n   int
	e   *Event
	a   *Attribution
	err error
}

// ReadLogs reads every log named ("-" is stdin) through t into a report,
// calling each, when not nil, with every event it read in full and its
// attribution, in the order of the logs. Lines it had to read but could
// not are counted, not fatal: a log being written ends in a partial line.
//
// One goroutine reads and prefilters (Tracer.mayConcern, at the speed of
// a byte search); the lines that may concern kubeaccess are decoded by one
// worker per CPU, in batches whose results are taken in order.
func ReadLogs(ctx context.Context, names []string, stdin io.Reader, t *Tracer, each func(*Event, *Attribution)) (*Report, []Unreadable, error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	work := make(chan *batch, 2*runtime.GOMAXPROCS(0))
	ordered := make(chan *batch, 4*runtime.GOMAXPROCS(0))
	var workers sync.WaitGroup
	for range runtime.GOMAXPROCS(0) {
		workers.Go(func() {
			for b := range work {
				out := make([]decoded, len(b.lines))
				for i, l := range b.lines {
					e, a, err := t.decode(l.line)
					out[i] = decoded{n: l.n, e: e, a: a, err: err}
				}
				b.done <- out
			}
		})
	}
	readErr := make(chan error, 1)
	go func() {
		defer close(ordered)
		defer close(work)
		readErr <- readAll(ctx, names, stdin, t, func(b *batch) bool {
			select {
			case ordered <- b:
			case <-ctx.Done():
				return false
			}
			select {
			case work <- b:
				return true
			case <-ctx.Done():
				return false
			}
		})
	}()
	report := NewReport()
	var bad []Unreadable
	for b := range ordered {
		var results []decoded
		select {
		case results = <-b.done:
		case <-ctx.Done():
		}
		report.Events += b.skipped
		for _, r := range results {
			if r.err != nil {
				bad = append(bad, Unreadable{Source: b.source, Line: r.n, Err: r.err})
				continue
			}
			report.Add(r.e, r.a)
			if each != nil {
				each(r.e, r.a)
			}
		}
	}
	cancel()
	workers.Wait()
	if err := <-readErr; err != nil {
		return nil, nil, err
	}
	return report, bad, nil
}

// readAll reads the logs into batches, handing each to send in order.
func readAll(ctx context.Context, names []string, stdin io.Reader, t *Tracer, send func(*batch) bool) error {
	for _, name := range names {
		src, err := Open(name, stdin)
		if err != nil {
			return err
		}
		b := &batch{source: name, done: make(chan []decoded, 1)}
		stopped := false
		err = src.Lines(func(n int, line []byte) error {
			if n%4096 == 0 && ctx.Err() != nil {
				return ctx.Err()
			}
			if !t.mayConcern(line) {
				b.skipped++
				return nil
			}
			b.lines = append(b.lines, numbered{n, append([]byte(nil), line...)})
			if len(b.lines) < batchLines {
				return nil
			}
			if !send(b) {
				stopped = true
				return ctx.Err()
			}
			b = &batch{source: name, done: make(chan []decoded, 1)}
			return nil
		})
		src.Close()
		if err == nil && !stopped && !send(b) {
			err = ctx.Err()
		}
		if err != nil {
			return err
		}
	}
	return ctx.Err()
}
