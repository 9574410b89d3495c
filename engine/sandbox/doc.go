// Package sandbox runs a step's command where it cannot reach the server's
// secrets: in new mount and PID namespaces, as an unprivileged user, with the
// server's directories replaced by empty ones and only the step's own folders
// bound back in.
//
// The command is started through the server's own binary (/proc/self/exe)
// under a marker name; this package's init recognises the marker, sets the
// namespaces up as their first process, runs the command and reports how it
// ended. Any binary that links this package (the server, its tests) can
// therefore sandbox without helpers installed on the machine.
package sandbox
