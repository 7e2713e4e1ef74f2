package apply

import (
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"golang.org/x/term"

	"github.com/kubeaccess/kubeaccess/internal/team"
)

// progress shows a long run: on a terminal a bar with counts and the time
// left, redrawn in place; otherwise one plain line per credential.
type progress struct {
	w        io.Writer
	terminal bool
	start    time.Time
	width    int
}

func newProgress(w io.Writer) *progress {
	p := &progress{w: w, start: time.Now(), width: 30}
	if f, ok := w.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
		p.terminal = true
	}
	return p
}

func (p *progress) update(s team.Progress) {
	finished := s.Done + s.Failed
	if !p.terminal {
		status := "issued"
		if s.Failed > 0 {
			status = fmt.Sprintf("issued, %d failed", s.Failed)
		}
		fmt.Fprintf(p.w, "[%d/%d %s] %s\n", finished, s.Total, status, s.Last)
		return
	}
	filled := 0
	if s.Total > 0 {
		filled = p.width * finished / s.Total
	}
	bar := strings.Repeat("=", filled) + strings.Repeat(" ", p.width-filled)
	left := "?"
	if finished > 0 {
		elapsed := time.Since(p.start)
		left = (elapsed * time.Duration(s.Total-finished) / time.Duration(finished)).Round(time.Second).String()
	}
	fmt.Fprintf(p.w, "\r[%s] %d/%d credentials, %d failed, %s left ", bar, finished, s.Total, s.Failed, left)
	if finished == s.Total {
		fmt.Fprintln(p.w)
	}
}
