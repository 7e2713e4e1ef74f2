package apply

import (
	"fmt"
	"strings"

	"github.com/kubeaccess/kubeaccess/internal/impact"
	"github.com/kubeaccess/kubeaccess/internal/records"
	"github.com/kubeaccess/kubeaccess/internal/safe"
	"github.com/kubeaccess/kubeaccess/internal/team"
)

// planSummary is the plan as -o prints it.
type planSummary struct {
	File    string        `json:"file"`
	OutDir  string        `json:"outDir"`
	Changes []team.Change `json:"changes"`
	// Unchanged counts the credentials that need nothing.
	Unchanged int `json:"unchangedCredentials"`
	// Untrusted are the team's records left alone as tampered.
	Untrusted []records.Untrusted `json:"untrustedRecords,omitempty"`
	// Impact is diff's: who gains and loses which permissions.
	Impact *impact.Impact `json:"impact,omitempty"`
}

// resultSummary is what an apply did, as -o prints it.
type resultSummary struct {
	File        string         `json:"file"`
	OutDir      string         `json:"outDir"`
	Plan        []team.Change  `json:"plan"`
	Done        []team.Change  `json:"done"`
	Failures    []team.Failure `json:"failures"`
	Interrupted bool           `json:"interrupted,omitempty"`
}

func unchanged(p *team.Plan) int {
	n := 0
	for _, c := range p.Credentials {
		if c.Action == "" && c.Refused == "" {
			n++
		}
	}
	return n
}

// printPlan prints the plan, and diff's impact with -o.
func (o *Options) printPlan(p *team.Plan, im *impact.Impact) error {
	changes := p.Changes()
	name := p.Resolved.Team()
	// Records that disagree with themselves are not acted on, and are
	// said: someone who may write the records namespace made or changed
	// them.
	for _, u := range p.State.Untrusted {
		fmt.Fprintf(o.ErrOut, "warning: record %s of team %s is not trusted and is left alone: %s\n", u.Name, name, safe.Printable(u.Reason))
	}
	if o.Output.Structured() {
		s := planSummary{File: o.file.Path, OutDir: o.OutDir, Changes: changes, Unchanged: unchanged(p), Untrusted: p.State.Untrusted, Impact: im}
		if s.Changes == nil {
			s.Changes = []team.Change{}
		}
		if err := o.Output.PrintSummary(o.Out, "TeamAccessPlan", name, s); err != nil {
			return err
		}
	} else if len(changes) == 0 {
		fmt.Fprintf(o.Out, "No changes: the cluster and %s match %s (team %s, %d credentials valid); nothing was written.\n",
			o.OutDir, o.file.Path, name, unchanged(p))
	} else {
		verb := "apply will"
		if o.dryRun != "" {
			verb = "apply would"
		}
		fmt.Fprintf(o.Out, "Plan for team %s (%s): %s make %s; %d credentials need nothing.\n", name, o.file.Path, verb, count(changes), unchanged(p))
		for _, c := range changes {
			fmt.Fprintln(o.Out, "  "+safe.Printable(c.String()))
		}
	}
	return nil
}

// count says how many changes of each action a list holds.
func count(changes []team.Change) string {
	n := map[string]int{}
	for _, c := range changes {
		n[c.Action]++
	}
	var parts []string
	for _, a := range []string{team.Issue, team.Renew, team.Revoke, "create", "update", "delete", "refuse"} {
		if n[a] > 0 {
			parts = append(parts, fmt.Sprintf("%d %s", n[a], a))
		}
	}
	if len(parts) == 0 {
		return "no changes"
	}
	return strings.Join(parts, ", ")
}

// printOutcome says what was done and what failed.
func (o *Options) printOutcome(p *team.Plan, out *team.Outcome) error {
	if out == nil {
		return nil
	}
	if o.Output.Structured() {
		s := resultSummary{File: o.file.Path, OutDir: o.OutDir, Plan: p.Changes(), Done: out.Done, Failures: out.Failures, Interrupted: out.Interrupted}
		for _, l := range []*[]team.Change{&s.Plan, &s.Done} {
			if *l == nil {
				*l = []team.Change{}
			}
		}
		if s.Failures == nil {
			s.Failures = []team.Failure{}
		}
		return o.Output.PrintSummary(o.Out, "TeamAccessResult", p.Resolved.Team(), s)
	}
	if out.Interrupted {
		fmt.Fprintf(o.Out, "Interrupted; done before the interruption: %s.\n", count(out.Done))
		for _, c := range out.Done {
			fmt.Fprintln(o.Out, "  "+safe.Printable(c.String()))
		}
	} else {
		fmt.Fprintf(o.Out, "Applied team %s: %s.\n", p.Resolved.Team(), count(out.Done))
	}
	for _, f := range out.Failures {
		fmt.Fprintf(o.Out, "  failed: %s %s: %s\n", f.Kind, safe.Printable(f.Name), f.Error)
	}
	if len(out.Failures) > 0 {
		fmt.Fprintf(o.Out, "%d of them failed; the others were applied. Fix what is said above and apply again.\n", len(out.Failures))
	}
	return nil
}
