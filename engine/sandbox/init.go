package sandbox

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"syscall"

	"golang.org/x/sys/unix"
)

// initName is the argv[0] under which the server's binary acts as the
// namespace's first process instead of starting normally.
const initName = "steward-step-sandbox"

// The plan arrives on fd 3 and the report leaves on fd 4 (ExtraFiles).
const (
	planFD   = 3
	reportFD = 4
)

// initPlan is what the init is asked to do.
type initPlan struct {
	Args   []string `json:"args"`
	Dir    string   `json:"dir"`
	Env    []string `json:"env"`
	Hide   []string `json:"hide"`
	Expose []string `json:"expose"`
	UID    int      `json:"uid"` // -1: stay, but drop every capability
	GID    int      `json:"gid"`
}

// initReport is how the command ended, or why it could not run.
type initReport struct {
	Code   int    `json:"code"`
	Signal int    `json:"signal,omitempty"`
	Error  string `json:"error,omitempty"`
}

func init() {
	if len(os.Args) == 1 && os.Args[0] == initName {
		os.Exit(runInit())
	}
}

func runInit() int {
	// Capabilities and no_new_privs are per thread, and the command is
	// forked from this one.
	runtime.LockOSThread()
	report := os.NewFile(reportFD, "report")
	send := func(r initReport) int {
		_ = json.NewEncoder(report).Encode(r)
		report.Close()
		if r.Error != "" {
			return 125
		}
		return 0
	}
	var plan initPlan
	planFile := os.NewFile(planFD, "plan")
	err := json.NewDecoder(planFile).Decode(&plan)
	planFile.Close()
	if err != nil {
		return send(initReport{Error: "sandbox: reading the plan: " + err.Error()})
	}
	if err := setUp(&plan); err != nil {
		return send(initReport{Error: "sandbox: " + err.Error()})
	}
	cmd := exec.Command(plan.Args[0], plan.Args[1:]...)
	cmd.Dir, cmd.Env, cmd.Stdout, cmd.Stderr = plan.Dir, plan.Env, os.Stdout, os.Stderr
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if plan.UID >= 0 {
		cmd.SysProcAttr.Credential = &syscall.Credential{Uid: uint32(plan.UID), Gid: uint32(plan.GID), Groups: []uint32{}}
	}
	// Descriptors the server inherited without close-on-exec (a
	// supervisor's pipe, an activated socket) must not reach the command:
	// it gets 0, 1 and 2 only.
	if err := closeOnExec(3); err != nil {
		return send(initReport{Error: "sandbox: " + err.Error()})
	}
	if err := dropPrivileges(plan.UID < 0); err != nil {
		return send(initReport{Error: "sandbox: " + err.Error()})
	}
	// The command is in this process's group, so the engine's signals to
	// the group reach it directly. As the namespace's first process this
	// one would ignore them anyway; handling them keeps it alive to report
	// (a handled signal is reset to the default for the command).
	signal.Notify(make(chan os.Signal, 1), syscall.SIGTERM, syscall.SIGINT, syscall.SIGHUP, syscall.SIGQUIT)
	if err := cmd.Start(); err != nil {
		return send(initReport{Error: fmt.Sprintf("starting %s: %v", plan.Args[0], err)})
	}
	x := exitOf(cmd.Wait())
	// Returning ends the namespace: the kernel kills whatever the command
	// left running in it.
	return send(initReport{Code: x.Code, Signal: int(x.Signal)})
}

// privateTmp are the world-writable folders each command gets empty and
// of its own.
var privateTmp = []string{"/tmp", "/var/tmp", "/dev/shm"}

// setUp builds the command's view of the filesystem: nothing it does
// propagates back; private temporary folders; the hidden directories
// empty but for the exposed ones, bound back at their own paths; and a
// /proc that shows only this namespace's processes.
func setUp(plan *initPlan) error {
	if err := unix.Mount("", "/", "", unix.MS_REC|unix.MS_PRIVATE, ""); err != nil {
		return fmt.Errorf("making mounts private: %w", err)
	}
	// Exposed folders are opened before anything covers them, and bound
	// back from those descriptors afterwards.
	fds := make([]int, len(plan.Expose))
	for i, p := range plan.Expose {
		fd, err := unix.Open(p, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
		if err != nil {
			return fmt.Errorf("opening %s: %w", p, err)
		}
		fds[i] = fd
	}
	for _, t := range privateTmp {
		if fi, err := os.Stat(t); err != nil || !fi.IsDir() {
			continue
		}
		if err := unix.Mount("tmpfs", t, "tmpfs", unix.MS_NOSUID|unix.MS_NODEV, "mode=1777"); err != nil {
			return fmt.Errorf("a private %s: %w", t, err)
		}
	}
	for _, h := range outermost(plan.Hide) {
		if fi, err := os.Stat(h); err != nil || !fi.IsDir() {
			continue // not there, or inside a fresh temporary folder already
		}
		if err := unix.Mount("tmpfs", h, "tmpfs", unix.MS_NOSUID|unix.MS_NODEV|unix.MS_NOEXEC, "mode=0755,size=1m"); err != nil {
			return fmt.Errorf("hiding %s: %w", h, err)
		}
	}
	for i, p := range plan.Expose {
		if err := os.MkdirAll(p, 0o755); err != nil {
			return fmt.Errorf("making %s: %w", p, err)
		}
		if err := unix.Mount(fmt.Sprintf("/proc/self/fd/%d", fds[i]), p, "", unix.MS_BIND|unix.MS_REC, ""); err != nil {
			return fmt.Errorf("exposing %s: %w", p, err)
		}
		unix.Close(fds[i])
	}
	if err := unix.Mount("proc", "/proc", "proc", unix.MS_NOSUID|unix.MS_NODEV|unix.MS_NOEXEC, ""); err != nil {
		return fmt.Errorf("mounting /proc: %w", err)
	}
	return nil
}

// outermost drops the directories that lie inside another one of dirs.
func outermost(dirs []string) []string {
	sorted := append([]string(nil), dirs...)
	sort.Strings(sorted)
	var out []string
	for _, d := range sorted {
		d = filepath.Clean(d)
		covered := false
		for _, o := range out {
			if d == o || strings.HasPrefix(d, o+"/") {
				covered = true
				break
			}
		}
		if !covered {
			out = append(out, d)
		}
	}
	return out
}

// closeOnExec marks every descriptor from first up close-on-exec.
func closeOnExec(first int) error {
	if err := unix.CloseRange(uint(first), ^uint(0), unix.CLOSE_RANGE_CLOEXEC); err == nil {
		return nil
	}
	// Kernels before 5.11: one at a time.
	entries, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		return fmt.Errorf("listing descriptors: %w", err)
	}
	for _, e := range entries {
		if fd, err := strconv.Atoi(e.Name()); err == nil && fd >= first {
			unix.CloseOnExec(fd)
		}
	}
	return nil
}

// dropPrivileges makes sure the command can never gain privileges (no
// setuid binaries, no file capabilities) and, when it keeps this process's
// uid (root of a user namespace), holds no capability at all, so it cannot
// undo the mounts.
func dropPrivileges(all bool) error {
	if err := unix.Prctl(unix.PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0); err != nil {
		return fmt.Errorf("no_new_privs: %w", err)
	}
	if !all {
		return nil // the command's own uid is unprivileged
	}
	for c := 0; c <= unix.CAP_LAST_CAP; c++ {
		if err := unix.Prctl(unix.PR_CAPBSET_DROP, uintptr(c), 0, 0, 0); err != nil && err != unix.EINVAL {
			return fmt.Errorf("dropping capability %d: %w", c, err)
		}
	}
	hdr := unix.CapUserHeader{Version: unix.LINUX_CAPABILITY_VERSION_3}
	var data [2]unix.CapUserData
	if err := unix.Capset(&hdr, &data[0]); err != nil {
		return fmt.Errorf("dropping capabilities: %w", err)
	}
	return nil
}
