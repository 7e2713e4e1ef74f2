package trace

import (
	"context"
	"fmt"
	"io"
)

// Unreadable is a line that trace had to read but that held no audit
// event.
type Unreadable struct {
	Source string
	Line   int
	Err    error
}

func (u Unreadable) String() string { return fmt.Sprintf("%s line %d: %v", u.Source, u.Line, u.Err) }

// ReadLogs reads every log named ("-" is stdin) through t into a report,
// calling each, when not nil, with every event it read in full and its
// attribution. Lines it had to read but could not are counted, not
// fatal: a log being written ends in a partial line.
func ReadLogs(ctx context.Context, names []string, stdin io.Reader, t *Tracer, each func(*Event, *Attribution)) (*Report, []Unreadable, error) {
	report := NewReport()
	var bad []Unreadable
	for _, name := range names {
		src, err := Open(name, stdin)
		if err != nil {
			return nil, nil, err
		}
		err = src.Lines(func(n int, line []byte) error {
			if n%4096 == 0 && ctx.Err() != nil {
				return ctx.Err()
			}
			e, a, err := t.Read(line)
			if err != nil {
				bad = append(bad, Unreadable{Source: name, Line: n, Err: err})
				return nil
			}
			report.Add(e, a)
			if e != nil && each != nil {
				each(e, a)
			}
			return nil
		})
		src.Close()
		if err != nil {
			return nil, nil, err
		}
	}
	return report, bad, nil
}
