package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"sort"
	"strings"

	"github.com/stewardhq/steward/client"
)

// Exit codes of the client commands, for pipelines to act on (the README's
// "Use it from CI" lists them). A command that follows a change exits with
// the code of the change's final status.
const (
	exitSuccess     = 0   // done; a followed change ended success
	exitChangeError = 1   // a followed change ended error
	exitUsage       = 2   // bad command line
	exitCancelled   = 3   // a followed change ended cancelled
	exitRejected    = 4   // a followed change ended rejected
	exitAborted     = 5   // a followed change ended aborted
	exitAPIError    = 6   // the API refused the request: its detail is on stderr
	exitFailed      = 7   // no answer: server unreachable, stream lost, nothing to act on
	exitInterrupted = 130 // interrupted (SIGINT/SIGTERM)
)

// exitForStatus is the exit code for a change's final status.
func exitForStatus(status string) int {
	switch status {
	case client.StatusSuccess:
		return exitSuccess
	case client.StatusError:
		return exitChangeError
	case client.StatusCancelled:
		return exitCancelled
	case client.StatusRejected:
		return exitRejected
	case client.StatusAborted:
		return exitAborted
	}
	return exitFailed
}

// exitCode carries a client command's exit code out of run, so main exits
// with it; the command has already said why on stderr.
type exitCode int

func (e exitCode) Error() string { return fmt.Sprintf("exit status %d", int(e)) }

// cli is one client command being run.
type cli struct {
	ctx    context.Context
	stdout io.Writer
	stderr io.Writer
	api    *client.Client
	json   bool // -o json
	o      *options
}

// command is one client command: its usage line, flags and body.
type command struct {
	usage   string
	minArgs int
	maxArgs int
	flags   func(fs *flag.FlagSet, o *options)
	run     func(c *cli, args []string) int
}

// clientCommands maps "changes create" and the like to the command.
var clientCommands = map[string]*command{}

func register(name string, cmd *command) { clientCommands[name] = cmd }

// runClient runs a client command (`steward changes ...`, `projects list`,
// `environments list`) against STEWARD_URL with STEWARD_TOKEN (or --url,
// --token) and returns its exit code. Data goes to stdout, messages to
// stderr. Tests call it directly, with their own getenv.
func runClient(ctx context.Context, args []string, stdout, stderr io.Writer, getenv func(string) string) int {
	if len(args) < 2 || args[1] == "-h" || args[1] == "--help" || args[1] == "help" {
		fmt.Fprint(stderr, clientUsage())
		if len(args) >= 2 {
			return exitSuccess
		}
		return exitUsage
	}
	name := args[0] + " " + args[1]
	cmd, ok := clientCommands[name]
	if !ok {
		fmt.Fprintf(stderr, "steward: unknown command %q\n\n%s", name, clientUsage())
		return exitUsage
	}
	fs := flag.NewFlagSet("steward "+name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintf(stderr, "usage: steward %s\n\nflags:\n", cmd.usage)
		fs.PrintDefaults()
	}
	var url, token, output string
	fs.StringVar(&url, "url", "", "server URL (default $STEWARD_URL, else http://127.0.0.1:8080)")
	fs.StringVar(&token, "token", "", "API token (default $STEWARD_TOKEN)")
	fs.StringVar(&output, "o", "table", "output: table or json")
	fs.StringVar(&output, "output", "table", "output: table or json")
	o := &options{}
	if cmd.flags != nil {
		cmd.flags(fs, o)
	}
	pos, err := parseInterleaved(fs, args[2:])
	switch {
	case errors.Is(err, flag.ErrHelp):
		return exitSuccess
	case err != nil:
		return exitUsage // flag has printed the error and the usage
	case len(pos) < cmd.minArgs || len(pos) > cmd.maxArgs:
		fmt.Fprintf(stderr, "usage: steward %s\n", cmd.usage)
		return exitUsage
	case output != "table" && output != "json":
		fmt.Fprintf(stderr, "steward: -o must be table or json, not %q\n", output)
		return exitUsage
	}
	if url == "" {
		url = getenv("STEWARD_URL")
	}
	if url == "" {
		url = "http://127.0.0.1:8080"
	}
	if token == "" {
		token = getenv("STEWARD_TOKEN")
	}
	if token == "" {
		fmt.Fprintln(stderr, "steward: no API token: set STEWARD_TOKEN or pass --token")
		return exitUsage
	}
	api, err := client.New(url, token)
	if err != nil {
		fmt.Fprintln(stderr, "steward:", err)
		return exitUsage
	}
	api.UserAgent = "steward-cli/" + version
	c := &cli{ctx: ctx, stdout: stdout, stderr: stderr, api: api, json: output == "json", o: o}
	return cmd.run(c, pos)
}

// parseInterleaved parses flags that may come before, between or after the
// positional arguments (`changes create PATH ACTION --remote R`), which
// flag.Parse alone stops at, and returns the positional ones.
func parseInterleaved(fs *flag.FlagSet, args []string) ([]string, error) {
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			return nil, err
		}
		args = fs.Args()
		if len(args) == 0 {
			return pos, nil
		}
		pos, args = append(pos, args[0]), args[1:]
	}
}

// clientUsage lists the client commands.
func clientUsage() string {
	names := make([]string, 0, len(clientCommands))
	for n := range clientCommands {
		names = append(names, n)
	}
	sort.Strings(names)
	var b strings.Builder
	b.WriteString("client commands (STEWARD_URL, STEWARD_TOKEN or --url, --token; -o json for scripts):\n")
	for _, n := range names {
		b.WriteString("  steward " + clientCommands[n].usage + "\n")
	}
	return b.String()
}

// fail reports err on stderr and returns its exit code: the API's refusals
// with their detail (and where in the request it points), anything else as
// a failure to get an answer.
func (c *cli) fail(err error) int {
	var apiErr *client.Error
	switch {
	case errors.As(err, &apiErr):
		msg := apiErr.Error()
		if len(apiErr.Errors) > 0 && apiErr.Errors[0].Source != nil {
			if s := apiErr.Errors[0].Source; s.Pointer != "" {
				msg += " (at " + s.Pointer + ")"
			} else if s.Parameter != "" {
				msg += " (parameter " + s.Parameter + ")"
			}
		}
		fmt.Fprintln(c.stderr, "steward:", msg)
		return exitAPIError
	case c.ctx.Err() != nil:
		fmt.Fprintln(c.stderr, "steward: interrupted")
		return exitInterrupted
	default:
		fmt.Fprintln(c.stderr, "steward:", err)
		return exitFailed
	}
}

// say writes a message for people to stderr.
func (c *cli) say(format string, args ...any) {
	fmt.Fprintf(c.stderr, format+"\n", args...)
}

// printJSON writes one JSON value on one line of stdout: a document as the
// server sent it, compacted, so a stream of them is JSON Lines.
func (c *cli) printJSON(raw []byte) error {
	var buf bytes.Buffer
	if err := json.Compact(&buf, raw); err != nil {
		return err
	}
	buf.WriteByte('\n')
	_, err := c.stdout.Write(buf.Bytes())
	return err
}
