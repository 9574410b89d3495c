package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/stewardhq/steward/model"
)

// tokenCreate prints the new token alone on stdout so scripts can capture it.
func tokenCreate(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	var user, name string
	var expires time.Duration
	e, err := open(ctx, "token create", args, stderr, func(fs *flag.FlagSet) {
		fs.StringVar(&user, "user", "", "user the token authenticates as (required)")
		fs.StringVar(&name, "name", "", "a label to recognise the token by")
		fs.DurationVar(&expires, "expires", 0, "lifetime such as 720h; 0 never expires")
	}, nil)
	if err != nil {
		return err
	}
	defer closeDB(e.db)
	if user == "" {
		return fmt.Errorf("--user is required")
	}
	if expires < 0 {
		return fmt.Errorf("--expires must be positive")
	}
	// The built-in admin exists once serve has started; create it here too so
	// `token create --user admin` works on a fresh database, before any serve.
	if err := e.store.EnsureAdmin(ctx); err != nil {
		return err
	}
	tok, secret, err := e.store.CreateToken(ctx, model.SystemActor, user, name, expires, "")
	if err != nil {
		return err
	}
	msg := "created token " + tok.ID + " for " + user
	if tok.ExpiresAt != nil {
		msg += ", expires " + tok.ExpiresAt.Format(time.RFC3339)
	}
	fmt.Fprintln(stderr, msg)
	fmt.Fprintln(stdout, secret)
	return nil
}

type groupList []string

func (g *groupList) String() string     { return strings.Join(*g, ",") }
func (g *groupList) Set(v string) error { *g = append(*g, v); return nil }

// userCreate creates a user; flags may come before or after NAME.
func userCreate(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	var name string
	var rest []string
	for i := 0; i < len(args); i++ {
		if !strings.HasPrefix(args[i], "-") && name == "" && (i == 0 || !isValueFlag(args[i-1])) {
			name = args[i]
			continue
		}
		rest = append(rest, args[i])
	}
	var groups groupList
	e, err := open(ctx, "user create", rest, stderr, func(fs *flag.FlagSet) {
		fs.Var(&groups, "group", "group to add the user to (repeatable; created when missing)")
	}, nil)
	if err != nil {
		return err
	}
	defer closeDB(e.db)
	if name == "" {
		return fmt.Errorf("usage: steward user create NAME [--group G]...")
	}
	u, err := e.store.CreateUser(ctx, model.SystemActor, name, groups)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "created user %s (%s) in groups [%s]\n", u.Username, u.ID, strings.Join(u.GroupNames(), ", "))
	return nil
}

func isValueFlag(arg string) bool {
	if strings.Contains(arg, "=") {
		return false
	}
	switch strings.TrimLeft(arg, "-") {
	case "group", "listen", "data-dir", "database-url", "secret-key", "admin-token", "log-format", "log-level":
		return true
	}
	return false
}
