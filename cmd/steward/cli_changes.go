package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"strings"

	"github.com/google/uuid"

	"github.com/stewardhq/steward/client"
)

func init() {
	register("changes create", &command{
		usage:   "changes create NODE_PATH ACTION --remote R --rev V [--follow] [--name N] [--metadata JSON] [--property-overrides JSON] [--template-version V] [--idempotency-key K]",
		minArgs: 2, maxArgs: 2, flags: createFlags, run: changesCreate})
	register("changes list", &command{
		usage:   "changes list [NODE_PATH] [--status S] [--limit N]",
		maxArgs: 1, flags: listFlags, run: changesList})
	register("changes show", &command{usage: "changes show CHANGE_ID", minArgs: 1, maxArgs: 1, run: changesShow})
	register("changes logs", &command{
		usage:   "changes logs CHANGE_ID [--follow]",
		minArgs: 1, maxArgs: 1, flags: followFlag, run: changesLogs})
	for _, verb := range []string{client.VerbApprove, client.VerbReject, client.VerbContinue} {
		register("changes "+verb, &command{
			usage:   "changes " + verb + " CHANGE_ID [--step STEP_ID] [--message M]",
			minArgs: 1, maxArgs: 1, flags: stepFlags, run: stepVerb(verb)})
	}
	register("changes cancel", &command{usage: "changes cancel CHANGE_ID", minArgs: 1, maxArgs: 1, run: changesCancel})
	register("changes retry", &command{
		usage:   "changes retry CHANGE_ID [--follow] [--idempotency-key K]",
		minArgs: 1, maxArgs: 1, flags: retryFlags, run: changesRetry})
}

// options are the flags of the commands below, one set per run.
type options struct {
	remote, rev, name, metadata, overrides string
	templateVersion, idempotencyKey        string
	status, step, message                  string
	follow                                 bool
	limit                                  int
}

func followFlag(fs *flag.FlagSet, o *options) {
	fs.BoolVar(&o.follow, "follow", false, "print log lines as they arrive until the change ends; exit with its status")
}

func createFlags(fs *flag.FlagSet, o *options) {
	fs.StringVar(&o.remote, "remote", "", "git remote of the project: its name, or its id")
	fs.StringVar(&o.rev, "rev", "", "branch, tag or commit SHA to run")
	fs.StringVar(&o.name, "name", "", "a name for the change")
	fs.StringVar(&o.metadata, "metadata", "", "metadata as a JSON object")
	fs.StringVar(&o.overrides, "property-overrides", "", "property overrides as a JSON object")
	fs.StringVar(&o.templateVersion, "template-version", "", "template version to run (asset changes only)")
	fs.StringVar(&o.idempotencyKey, "idempotency-key", "", "resending with the same key within 24 h returns the first change")
	followFlag(fs, o)
}

func retryFlags(fs *flag.FlagSet, o *options) {
	fs.StringVar(&o.idempotencyKey, "idempotency-key", "", "resending with the same key within 24 h returns the first retry")
	followFlag(fs, o)
}

func listFlags(fs *flag.FlagSet, o *options) {
	fs.StringVar(&o.status, "status", "", "only changes with this status_code")
	fs.IntVar(&o.limit, "limit", 20, "the most changes to list, newest first (1-1000)")
}

func stepFlags(fs *flag.FlagSet, o *options) {
	fs.StringVar(&o.step, "step", "", "the waiting step (default: the change's one waiting step)")
	fs.StringVar(&o.message, "message", "", "a message recorded with it")
}

func changesCreate(c *cli, args []string) int {
	in := client.CreateChange{NodePath: args[0], Action: args[1], GitRemoteName: c.o.remote, GitRev: c.o.rev,
		TemplateVersion: c.o.templateVersion, IdempotencyKey: c.o.idempotencyKey}
	if c.o.name != "" {
		in.Name = &c.o.name
	}
	var err error
	if in.Metadata, err = jsonObject("--metadata", c.o.metadata); err != nil {
		return c.usage(err)
	}
	if in.PropertyOverrides, err = jsonObject("--property-overrides", c.o.overrides); err != nil {
		return c.usage(err)
	}
	if in.GitRemoteName, err = c.remoteName(in.NodePath, c.o.remote); err != nil {
		return c.fail(err)
	}
	ch, err := c.api.CreateChange(c.ctx, in)
	if err != nil {
		return c.fail(err)
	}
	c.say("created change %s (%s) on %s", ch.ID, ch.Status, ch.NodePath())
	return c.started(ch)
}

func changesRetry(c *cli, args []string) int {
	ch, err := c.api.RetryChange(c.ctx, args[0], c.o.idempotencyKey)
	if err != nil {
		return c.fail(err)
	}
	c.say("retrying change %s as %s (%s)", args[0], ch.ID, ch.Status)
	return c.started(ch)
}

// started prints a change just created: its id alone (or its document),
// then with --follow its log until it ends.
func (c *cli) started(ch *client.Change) int {
	if c.json {
		if err := c.printJSON(ch.Document); err != nil {
			return c.fail(err)
		}
	} else if !c.o.follow {
		fmt.Fprintln(c.stdout, ch.ID)
	}
	if !c.o.follow {
		return exitSuccess
	}
	return c.followLog(ch.ID)
}

// remoteName is the name to send as git_remote_name: the API takes names,
// so an id (a UUID) is looked up among the project's remotes.
func (c *cli) remoteName(nodePath, remote string) (string, error) {
	if _, err := uuid.Parse(remote); err != nil {
		return remote, nil
	}
	node, err := client.ParseNodePath(nodePath)
	if err != nil {
		return remote, nil // the API says what is wrong with the path
	}
	g, err := c.api.GetGitRemote(c.ctx, node.Project, remote)
	if err != nil {
		return "", err
	}
	return g.Name, nil
}

// jsonObject reads a flag's JSON object, numbers kept exact.
func jsonObject(flagName, value string) (map[string]any, error) {
	if value == "" {
		return nil, nil
	}
	dec := json.NewDecoder(strings.NewReader(value))
	dec.UseNumber()
	var m map[string]any
	if err := dec.Decode(&m); err != nil || m == nil {
		return nil, fmt.Errorf("%s must be a JSON object: %s", flagName, value)
	}
	return m, nil
}

func (c *cli) usage(err error) int {
	fmt.Fprintln(c.stderr, "steward:", err)
	return exitUsage
}

func changesLogs(c *cli, args []string) int {
	if c.o.follow {
		return c.followLog(args[0])
	}
	err := c.api.EachLogLine(c.ctx, args[0], c.printLine)
	if err != nil {
		return c.fail(err)
	}
	return exitSuccess
}

// followLog prints the change's log as it arrives and returns the exit code
// of its final status.
func (c *cli) followLog(changeID string) int {
	var last string
	status, err := c.api.FollowLog(c.ctx, changeID, client.FollowOptions{OnReconnect: func(err error) {
		c.say("steward: log stream interrupted (%v); resuming after line %q", err, last)
	}}, func(l *client.LogLine) error {
		last = l.ID
		return c.printLine(l)
	})
	if err != nil {
		return c.fail(err)
	}
	c.say("change %s ended %s", changeID, status)
	if c.json {
		// The last JSON line is the change as it ended.
		ch, err := c.api.GetChange(c.ctx, changeID, false)
		if err != nil {
			return c.fail(err)
		}
		if err := c.printJSON(ch.Document); err != nil {
			return c.fail(err)
		}
	}
	return exitForStatus(status)
}

// printLine prints a log line: its message, or with -o json its resource.
func (c *cli) printLine(l *client.LogLine) error {
	if c.json {
		return c.printJSON(l.Resource)
	}
	_, err := fmt.Fprintln(c.stdout, l.Message)
	return err
}

func changesList(c *cli, args []string) int {
	opts := client.ListOptions{Sort: "-created_at", Limit: c.o.limit}
	if c.o.status != "" {
		opts.Filters = map[string]string{"status_code_eq": c.o.status}
	}
	node := ""
	if len(args) == 1 {
		node = args[0]
	}
	l, err := c.api.ListChanges(c.ctx, node, opts)
	if err != nil {
		return c.fail(err)
	}
	if c.json {
		return c.done(c.printJSON(l.Document))
	}
	t := newTable(c.stdout, "ID", "STATUS", "ACTION", "NODE", "CREATED BY", "CREATED")
	for _, ch := range l.Items {
		t.row(ch.ID, ch.Status, ch.Action, ch.NodePath(), ch.CreatedBy, when(&ch.CreatedAt))
	}
	if l.Partial {
		c.say("(more changes match: raise --limit)")
	}
	return c.done(t.flush())
}

func changesShow(c *cli, args []string) int {
	ch, err := c.api.GetChange(c.ctx, args[0], true)
	if err != nil {
		return c.fail(err)
	}
	if c.json {
		return c.done(c.printJSON(ch.Document))
	}
	return c.done(printChange(c.stdout, ch))
}

func changesCancel(c *cli, args []string) int {
	if err := c.api.CancelChange(c.ctx, args[0]); err != nil {
		return c.fail(err)
	}
	c.say("cancelled change %s", args[0])
	return changesShow(c, args)
}

// stepVerb approves, rejects or continues a waiting step of a change.
func stepVerb(verb string) func(c *cli, args []string) int {
	return func(c *cli, args []string) int {
		stepID := c.o.step
		if stepID == "" {
			steps, err := c.api.WaitingSteps(c.ctx, args[0], verb)
			if err != nil {
				return c.fail(err)
			}
			switch len(steps) {
			case 0:
				c.say("steward: change %s has no step waiting to %s%s", args[0], verb, c.otherVerbHint(args[0], verb))
				return exitFailed
			case 1:
				stepID = steps[0].ID
			default:
				var ids []string
				for _, s := range steps {
					ids = append(ids, s.ID+" ("+s.Label()+")")
				}
				c.say("steward: change %s has %d steps waiting to %s; pick one with --step: %s", args[0], len(steps), verb, strings.Join(ids, ", "))
				return exitUsage
			}
		}
		st, err := c.api.ActOnStep(c.ctx, stepID, verb, c.o.message)
		if err != nil {
			return c.fail(err)
		}
		c.say("%s: step %s (%s) of change %s is %s", verb, st.ID, st.Label(), st.ChangeID, st.Status)
		if c.json {
			return c.done(c.printJSON(st.Document))
		}
		t := newTable(c.stdout, "STEP", "STATUS", "NAME", "CHANGE")
		t.row(st.ID, st.Status, st.Label(), st.ChangeID)
		return c.done(t.flush())
	}
}

// done is the exit code after writing output.
func (c *cli) done(err error) int {
	if err != nil {
		return c.fail(err)
	}
	return exitSuccess
}

// otherVerbHint points at the verb a waiting step does take, when the one
// asked for fits none.
func (c *cli) otherVerbHint(changeID, verb string) string {
	other := client.VerbContinue
	if verb == client.VerbContinue {
		other = client.VerbApprove + " or " + client.VerbReject
	}
	if steps, err := c.api.WaitingSteps(c.ctx, changeID, strings.Fields(other)[0]); err == nil && len(steps) > 0 {
		return fmt.Sprintf(" (step %s waits to %s)", steps[0].ID, other)
	}
	return ""
}
