package sandbox

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"syscall"
)

// Mode says how steps are isolated.
type Mode string

const (
	// Namespace runs each command in its own mount and PID namespaces as an
	// unprivileged user (or, when the server is not root, in a user
	// namespace with every capability dropped).
	Namespace Mode = "namespace"
	// None runs commands with the server's own access: any step can read the
	// server's data dir and environment. Only ever chosen explicitly.
	None Mode = "none"
)

// Config chooses how a Sandbox isolates.
type Config struct {
	Mode Mode
	// User is the name or uid commands run as when the server is root
	// (default "nobody").
	User string
	// Hide are directories a command must not see: each becomes an empty
	// directory inside the sandbox (the server's data dir, its work trees).
	Hide []string
}

// Sandbox starts commands with the isolation it was opened with.
type Sandbox struct {
	mode     Mode
	hide     []string
	uid, gid int  // the command's user; -1 when the server is not root
	userns   bool // isolation through a user namespace (server not root)
	// err is why isolation is unavailable; every Start fails with it, so
	// that no step runs unisolated unless None was chosen.
	err error
}

// Open prepares a sandbox and, for Namespace, proves that it works on this
// machine by running `true` in it. When it does not, the Sandbox is still
// returned, refusing every command with Unavailable's reason.
func Open(cfg Config) *Sandbox {
	s := &Sandbox{mode: cfg.Mode, uid: -1, gid: -1}
	for _, h := range cfg.Hide {
		if h == "" {
			continue
		}
		abs, err := filepath.Abs(h)
		if err != nil {
			s.err = err
			return s
		}
		if abs == "/" {
			// Hiding it would leave the command no system to run on.
			s.err = errors.New("the server's files must not be at the root of the filesystem: give the data dir (and a SQLite file) a folder of their own")
			return s
		}
		s.hide = append(s.hide, abs)
	}
	switch cfg.Mode {
	case None:
		return s
	case Namespace:
	default:
		s.err = fmt.Errorf("unknown step isolation %q (namespace or none)", cfg.Mode)
		return s
	}
	if os.Geteuid() == 0 {
		name := cfg.User
		if name == "" {
			name = "nobody"
		}
		uid, gid, err := lookupUser(name)
		if err != nil {
			s.err = err
			return s
		}
		if uid == 0 {
			s.err = fmt.Errorf("steps must not run as root: STEWARD_STEP_USER %q is uid 0", name)
			return s
		}
		s.uid, s.gid = uid, gid
	} else {
		s.userns = true
	}
	if err := s.probe(); err != nil {
		s.err = fmt.Errorf("namespaces are not available here (%v)", err)
	}
	return s
}

func lookupUser(name string) (uid, gid int, err error) {
	if n, err := strconv.Atoi(name); err == nil && n >= 0 {
		if u, err := user.LookupId(name); err == nil {
			g, _ := strconv.Atoi(u.Gid)
			return n, g, nil
		}
		return n, n, nil
	}
	u, err := user.Lookup(name)
	if err != nil {
		return 0, 0, fmt.Errorf("step user %q: %w", name, err)
	}
	uid, _ = strconv.Atoi(u.Uid)
	gid, _ = strconv.Atoi(u.Gid)
	return uid, gid, nil
}

// Mode is the isolation commands get.
func (s *Sandbox) Mode() Mode { return s.mode }

// Unavailable is why no command can run, nil when they can.
func (s *Sandbox) Unavailable() error { return s.err }

// Owner is the uid and gid files a command must write should belong to;
// ok is false when they can stay the server's.
func (s *Sandbox) Owner() (uid, gid int, ok bool) {
	return s.uid, s.gid, s.mode == Namespace && s.uid >= 0
}

// Describe says in a phrase how commands are isolated, for the start-up log.
func (s *Sandbox) Describe() string {
	switch {
	case s.err != nil:
		return "unavailable: " + s.err.Error()
	case s.mode == None:
		return "none: steps can read the server's data dir, environment and secrets"
	case s.userns:
		return "namespace: new mount, PID and user namespaces, no capabilities"
	default:
		return fmt.Sprintf("namespace: new mount and PID namespaces, as uid %d", s.uid)
	}
}

// Spec is one command to run.
type Spec struct {
	Args []string // argv; Args[0] is a path
	Dir  string
	Env  []string
	// Expose are directories under hidden ones the command may use, read
	// and write, at their own paths.
	Expose []string
	Stdout io.Writer // both default to discarding
	Stderr io.Writer
}

// Exit is how a command ended.
type Exit struct {
	Code   int
	Signal syscall.Signal // non-zero when a signal ended it
}

// OK says the command exited with status 0.
func (x Exit) OK() bool { return x.Code == 0 && x.Signal == 0 }

func (x Exit) String() string {
	if x.Signal != 0 {
		return "killed by signal " + x.Signal.String()
	}
	return fmt.Sprintf("exit status %d", x.Code)
}

// Process is a started command.
type Process struct {
	cmd    *exec.Cmd
	status *os.File // the init's report, nil without a sandbox
	// Pid is also the id of the command's process group: signalling -Pid
	// reaches everything it started.
	Pid int
}

// Start starts spec in its own process group, killed if this process dies.
func (s *Sandbox) Start(spec Spec) (*Process, error) {
	if s.err != nil {
		return nil, fmt.Errorf("step isolation is unavailable: %v; set STEWARD_STEP_ISOLATION=none to run steps without it", s.err)
	}
	if len(spec.Args) == 0 {
		return nil, errors.New("sandbox: no command")
	}
	if s.mode == None {
		cmd := exec.Command(spec.Args[0], spec.Args[1:]...)
		cmd.Dir, cmd.Env, cmd.Stdout, cmd.Stderr = spec.Dir, spec.Env, spec.Stdout, spec.Stderr
		cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
		if err := cmd.Start(); err != nil {
			return nil, err
		}
		return &Process{cmd: cmd, Pid: cmd.Process.Pid}, nil
	}
	for _, p := range append([]string{spec.Dir}, spec.Expose...) {
		if !filepath.IsAbs(p) {
			return nil, fmt.Errorf("sandbox: %q is not an absolute path", p)
		}
	}
	plan, err := json.Marshal(initPlan{Args: spec.Args, Dir: spec.Dir, Env: spec.Env, Hide: s.hide,
		Expose: spec.Expose, UID: s.uid, GID: s.gid})
	if err != nil {
		return nil, err
	}
	planR, planW, err := os.Pipe()
	if err != nil {
		return nil, err
	}
	statusR, statusW, err := os.Pipe()
	if err != nil {
		planR.Close()
		planW.Close()
		return nil, err
	}
	// The init's own environment is the command's: nothing of the server's
	// reaches the namespace, and leftover processes still carry their step id.
	// The init starts in / : the server's working directory may be one
	// that the sandbox hides or replaces.
	cmd := &exec.Cmd{Path: "/proc/self/exe", Args: []string{initName}, Env: spec.Env, Dir: "/",
		Stdout: spec.Stdout, Stderr: spec.Stderr, ExtraFiles: []*os.File{planR, statusW}}
	attr := &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL,
		Cloneflags: syscall.CLONE_NEWNS | syscall.CLONE_NEWPID | syscall.CLONE_NEWIPC | syscall.CLONE_NEWUTS}
	if s.userns {
		attr.Cloneflags |= syscall.CLONE_NEWUSER
		attr.UidMappings = []syscall.SysProcIDMap{{ContainerID: 0, HostID: os.Geteuid(), Size: 1}}
		attr.GidMappings = []syscall.SysProcIDMap{{ContainerID: 0, HostID: os.Getegid(), Size: 1}}
		attr.GidMappingsEnableSetgroups = false
	}
	cmd.SysProcAttr = attr
	err = cmd.Start()
	planR.Close()
	statusW.Close()
	if err != nil {
		planW.Close()
		statusR.Close()
		return nil, err
	}
	_, err = planW.Write(plan)
	planW.Close()
	if err != nil {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		statusR.Close()
		return nil, err
	}
	return &Process{cmd: cmd, status: statusR, Pid: cmd.Process.Pid}, nil
}

// Wait waits for the command to end. err is set when it could not run at
// all (the sandbox could not be set up, or the command not started).
func (p *Process) Wait() (Exit, error) {
	werr := p.cmd.Wait()
	own := exitOf(werr)
	if p.status == nil {
		if werr != nil && own.OK() {
			return own, werr
		}
		return own, nil
	}
	defer p.status.Close()
	var rep initReport
	if err := json.NewDecoder(io.LimitReader(p.status, 1<<16)).Decode(&rep); err != nil {
		// The init was killed before it reported (SIGKILL after a timeout or
		// a cancel): how it ended is how the command ended.
		return own, nil
	}
	if rep.Error != "" {
		return Exit{Code: -1}, errors.New(rep.Error)
	}
	return Exit{Code: rep.Code, Signal: syscall.Signal(rep.Signal)}, nil
}

func exitOf(err error) Exit {
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		if ws, ok := ee.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
			return Exit{Signal: ws.Signal()}
		}
		return Exit{Code: ee.ExitCode()}
	}
	if err != nil {
		return Exit{Code: -1}
	}
	return Exit{}
}

// probe runs `true` in the sandbox.
func (s *Sandbox) probe() error {
	p, err := s.Start(Spec{Args: []string{"/bin/true"}, Dir: "/", Env: []string{"PATH=/usr/bin:/bin"}})
	if err != nil {
		return err
	}
	x, err := p.Wait()
	if err != nil {
		return err
	}
	if !x.OK() {
		return fmt.Errorf("a test command ended with %s", x)
	}
	return nil
}
