package apply

import (
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/kubeaccess/kubeaccess/internal/failure"
	"github.com/kubeaccess/kubeaccess/internal/impact"
	"github.com/kubeaccess/kubeaccess/internal/rbac"
	"github.com/kubeaccess/kubeaccess/internal/safe"
	"github.com/kubeaccess/kubeaccess/internal/team"
)

// What --fail-on of diff takes.
const (
	failOnEscalation = "escalation"
	failOnGain       = "gain"
)

// planFromSnapshot works out the plan against a snapshot instead of the
// cluster: the snapshot's roles, bindings and namespaces, and no records,
// so every member counts as holding a credential once applied.
func (o *Options) planFromSnapshot() (*team.Plan, *impact.Snapshot, error) {
	snap, err := impact.ReadSnapshot(o.Snapshot)
	if err != nil {
		return nil, nil, failure.UsageErrorf("--snapshot: %w", err)
	}
	st := team.StateFrom(o.file.Metadata.Name, snap.Index(), snap.Namespaces, nil, nil)
	resolved, err := team.Resolve(o.file, snap.Catalog(), st.Index, o.problems)
	if err != nil {
		return nil, nil, failure.UsageErrorf("%w\nnothing was applied", err)
	}
	plan, err := team.MakePlan(resolved, st, o.OutDir, time.Now(), o.Force)
	if err != nil {
		return nil, nil, failure.UsageErrorf("%w\nnothing was applied", err)
	}
	return plan, snap, nil
}

// impactOf is what the plan's object changes give and take: to its
// members, and to every subject of a binding it changes.
func impactOf(p *team.Plan, u impact.Universe) (impact.Impact, error) {
	var c impact.Change
	for _, m := range p.Resolved.Users {
		c.Subjects = append(c.Subjects, impact.UserSubject(m.Name, m.Groups))
	}
	for _, m := range p.Resolved.ServiceAccounts {
		c.Subjects = append(c.Subjects, impact.SubjectOf(rbac.ServiceAccountSubject(m.Namespace, m.ServiceAccount), ""))
	}
	for _, ch := range p.Objects {
		if ch.Action == "delete" {
			c.Remove = append(c.Remove, ch.Ref)
		} else {
			c.Put = append(c.Put, ch.Object)
		}
	}
	return impact.Of(p.State.Index, u, c)
}

// printMarkdown prints the plan and its impact for a pull request's comment.
func printMarkdown(w io.Writer, name, file string, changes []team.Change, im impact.Impact) {
	fmt.Fprintf(w, "### kubeaccess diff: team `%s` (`%s`)\n\n", md(name), md(file))
	if len(im.Escalations) > 0 {
		fmt.Fprintf(w, "> [!CAUTION]\n> This change gives escalation-grade permissions:\n")
		for _, e := range im.Escalations {
			fmt.Fprintf(w, "> - **%s** would hold `%s`: %s (through %s)\n", md(e.Subject), e.Entry, md(e.Reason), md(e.Through))
		}
		fmt.Fprintln(w)
	}
	if im.Empty() {
		fmt.Fprintln(w, "Nobody gains or loses a permission.")
	} else {
		fmt.Fprintf(w, "%d permissions gained, %d lost.\n\n| Subject | Change | Verbs | Resources | Where |\n|---|---|---|---|---|\n", im.Gained, im.Lost)
		for _, l := range im.Lines {
			fmt.Fprintf(w, "| %s | %s | %s | %s | %s |\n", md(l.Subject), l.Change, strings.Join(l.Verbs, ", "), md(strings.Join(l.Resources, ", ")), md(l.Where()))
		}
	}
	if len(changes) > 0 {
		fmt.Fprintf(w, "\n<details><summary>Plan: %s</summary>\n\n```\n", count(changes))
		for _, c := range changes {
			fmt.Fprintln(w, safe.Printable(c.String()))
		}
		fmt.Fprintln(w, "```\n</details>")
	}
}

// md keeps a name others chose from breaking the table or the markup.
func md(s string) string {
	s = safe.Printable(s)
	return strings.NewReplacer("|", `\|`, "`", "'", "<", "&lt;", ">", "&gt;", "\n", " ").Replace(s)
}

// failing is diff's verdict under --fail-on: whether the impact has what
// it names.
func (o *Options) failing(im impact.Impact) bool {
	switch o.FailOn {
	case failOnEscalation:
		return len(im.Escalations) > 0
	case failOnGain:
		return im.Gained > 0 || len(im.Escalations) > 0
	}
	return false
}
