package main

import (
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/stewardhq/steward/client"
)

func init() {
	register("projects list", &command{usage: "projects list", run: projectsList})
	register("environments list", &command{usage: "environments list PROJECT", minArgs: 1, maxArgs: 1, run: environmentsList})
}

func projectsList(c *cli, _ []string) int {
	l, err := c.api.ListProjects(c.ctx, client.ListOptions{Limit: 1000})
	if err != nil {
		return c.fail(err)
	}
	if c.json {
		return c.done(c.printJSON(l.Document))
	}
	t := newTable(c.stdout, "CODE", "NAME", "TYPE", "ARCHIVED", "DESCRIPTION")
	for _, p := range l.Items {
		t.row(p.Code, p.Name, p.ProjectType, yesNo(p.Archived), deref(p.Description))
	}
	return c.done(t.flush())
}

// environmentsList takes a project code, or its path /projects/CODE.
func environmentsList(c *cli, args []string) int {
	project := args[0]
	if strings.HasPrefix(project, "/") {
		n, err := client.ParseNodePath(project)
		if err != nil || n.Environment != "" || n.Asset != "" {
			return c.usage(fmt.Errorf("%q is not a project: give its code or /projects/CODE", project))
		}
		project = n.Project
	}
	l, err := c.api.ListEnvironments(c.ctx, project, client.ListOptions{Limit: 1000})
	if err != nil {
		return c.fail(err)
	}
	if c.json {
		return c.done(c.printJSON(l.Document))
	}
	t := newTable(c.stdout, "CODE", "NAME", "PATH", "ARCHIVED", "DESCRIPTION")
	for _, e := range l.Items {
		t.row(e.Code, e.Name, "/projects/"+project+"/environments/"+e.Code, yesNo(e.Archived), deref(e.Description))
	}
	return c.done(t.flush())
}

// printChange writes a change and its step tree for people.
func printChange(w io.Writer, ch *client.Change) error {
	t := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	field := func(k, v string) { fmt.Fprintf(t, "%s:\t%s\n", k, v) }
	field("change", ch.ID)
	if ch.Name != nil {
		field("name", *ch.Name)
	}
	field("action", ch.Action)
	field("status", ch.Status)
	field("node", ch.NodePath())
	rev := ch.GitRemoteName + " @ " + ch.GitRev
	if ch.CommitSHA != nil {
		rev += " (" + *ch.CommitSHA + ")"
	}
	field("git", rev)
	field("created", when(&ch.CreatedAt)+" by "+ch.CreatedBy)
	field("started", when(ch.StartedAt))
	field("finished", when(ch.FinishedAt))
	if ch.RequiresApprovalFrom != nil {
		field("approval from", *ch.RequiresApprovalFrom)
	}
	fmt.Fprintln(t)
	fmt.Fprintln(t, "STEP\tSTATUS\tNAME\tFINISHED")
	var walk func(s *client.Step, depth int)
	walk = func(s *client.Step, depth int) {
		name := strings.Repeat("  ", depth) + s.Label()
		if s.Status == client.StatusWaiting {
			if s.RequiresApprovalFrom != nil {
				name += " (approve or reject: group " + *s.RequiresApprovalFrom + ")"
			} else {
				name += " (continue)"
			}
		}
		fmt.Fprintf(t, "%s\t%s\t%s\t%s\n", s.ID, s.Status, name, when(s.FinishedAt))
		for _, child := range s.Children {
			walk(child, depth+1)
		}
	}
	if ch.RootStep != nil {
		walk(ch.RootStep, 0)
	}
	return t.Flush()
}

// table is a human table on stdout.
type table struct{ w *tabwriter.Writer }

func newTable(w io.Writer, headers ...string) *table {
	t := &table{w: tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)}
	t.row(headers...)
	return t
}

// row writes one row; tabs and newlines inside a cell would break the
// columns, so they become spaces.
func (t *table) row(cells ...string) {
	for i, c := range cells {
		cells[i] = strings.NewReplacer("\t", " ", "\n", " ").Replace(c)
	}
	fmt.Fprintln(t.w, strings.Join(cells, "\t"))
}

func (t *table) flush() error { return t.w.Flush() }

// when is a time for a table, UTC to the second; "-" for none.
func when(t *time.Time) string {
	if t == nil || t.IsZero() {
		return "-"
	}
	return t.UTC().Format(time.RFC3339)
}

func yesNo(b bool) string {
	if b {
		return "yes"
	}
	return "no"
}

func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}
