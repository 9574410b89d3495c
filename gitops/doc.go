// Package gitops is Steward's Git client (go-git v5): one bare mirror per remote
// URL under the data dir, revs resolved to commits, files and folders read at a
// commit without a work tree, commits materialised for runs, ls-remote for polling.
package gitops
