// Command steward is the Steward service, its administration CLI (serve,
// migrate, token create, user create, version) and its API client (changes,
// projects, environments; cli*.go).
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
)

// version is set at build time with -ldflags "-X main.version=...".
var version = "0.1.0-dev"

const usage = `usage: steward <command> [flags]

commands:
  serve                       run the API server (embedded SQLite unless STEWARD_DATABASE_URL is set)
  migrate                     apply database migrations and exit
  token create --user NAME    create an API token; prints only the token on stdout
               [--expires 720h] [--name LABEL]
  user create NAME [--group G]...
                              create a local user (missing groups are created)
  version                     print the version

client commands (talk to STEWARD_URL with STEWARD_TOKEN, or --url, --token):
  changes create NODE_PATH ACTION --remote R --rev V [--follow]
  changes list|show|logs [--follow]|approve|reject|continue|cancel|retry
  projects list
  environments list PROJECT
                              -o json for scripts; 'steward changes help' lists them all

Run 'steward <command> -h' for the flags of a command.
`

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Stdout, os.Stderr); err != nil {
		var code exitCode
		if errors.As(err, &code) {
			stop()
			os.Exit(int(code)) // a client command has already said why
		}
		fmt.Fprintln(os.Stderr, "steward:", err)
		os.Exit(1)
	}
}

// run dispatches a command; tests call it directly.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return fmt.Errorf("no command given")
	}
	switch cmd, rest := args[0], args[1:]; cmd {
	case "serve":
		return serve(ctx, rest, stdout, stderr, nil)
	case "migrate":
		return migrate(ctx, rest, stderr)
	case "token":
		if len(rest) == 0 || rest[0] != "create" {
			return fmt.Errorf("usage: steward token create --user NAME [--expires 720h]")
		}
		return tokenCreate(ctx, rest[1:], stdout, stderr)
	case "user":
		if len(rest) == 0 || rest[0] != "create" {
			return fmt.Errorf("usage: steward user create NAME [--group G]...")
		}
		return userCreate(ctx, rest[1:], stdout, stderr)
	case "changes", "projects", "environments":
		if code := runClient(ctx, args, stdout, stderr, os.Getenv); code != exitSuccess {
			return exitCode(code)
		}
		return nil
	case "version", "--version", "-v":
		fmt.Fprintln(stdout, "steward", version)
		return nil
	case "help", "-h", "--help":
		fmt.Fprint(stdout, usage)
		return nil
	default:
		fmt.Fprint(stderr, usage)
		return fmt.Errorf("unknown command %q", cmd)
	}
}
