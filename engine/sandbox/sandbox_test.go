package sandbox_test

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"github.com/stewardhq/steward/engine/sandbox"
)

// open returns a namespace sandbox hiding dataDir, failing the test when
// isolation is unavailable while the tests run as root (CI always does).
func open(t *testing.T, hide ...string) *sandbox.Sandbox {
	t.Helper()
	s := sandbox.Open(sandbox.Config{Mode: sandbox.Namespace, Hide: hide})
	if err := s.Unavailable(); err != nil {
		if os.Geteuid() != 0 {
			t.Skipf("namespaces unavailable to a non-root user here: %v", err)
		}
		t.Fatalf("namespace isolation unavailable as root: %v", err)
	}
	return s
}

func run(t *testing.T, s *sandbox.Sandbox, spec sandbox.Spec) (string, sandbox.Exit) {
	t.Helper()
	var out bytes.Buffer
	spec.Stdout, spec.Stderr = &out, &out
	p, err := s.Start(spec)
	if err != nil {
		t.Fatalf("start: %v", err)
	}
	x, err := p.Wait()
	if err != nil {
		t.Fatalf("wait: %v\n%s", err, out.String())
	}
	return out.String(), x
}

// A data dir laid out as the server's: database, key, mirrors, and two
// changes' work trees, of which the command may use one.
type layout struct{ data, src, steps, other string }

func newLayout(t *testing.T, uid, gid int, own bool) layout {
	t.Helper()
	data := t.TempDir()
	l := layout{data: data, src: filepath.Join(data, "work", "c1", "src"), steps: filepath.Join(data, "work", "c1", "steps", "s1"),
		other: filepath.Join(data, "work", "c2", "src")}
	for path, content := range map[string]string{
		"secret.key":                   "KEY-0123456789abcdef",
		"steward.db":                   "DATABASE-CONTENT",
		"git/mirrors/x.git/config":     "MIRROR-CONFIG",
		"work/c2/src/other-secret.txt": "OTHER-CHANGE",
		"work/c1/src/actions.yaml":     "MY-CHECKOUT",
		"work/c1/steps/s1/props.json":  `{"mine":true}`,
	} {
		p := filepath.Join(data, path)
		if err := os.MkdirAll(filepath.Dir(p), 0o700); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	if own {
		for _, dir := range []string{l.src, l.steps} {
			_ = filepath.Walk(dir, func(p string, _ os.FileInfo, _ error) error { return os.Lchown(p, uid, gid) })
		}
	}
	return l
}

func TestCommandCannotReadServerSecrets(t *testing.T) {
	t.Setenv("STEWARD_SECRET_KEY", "ENV-SECRET-KEY")
	t.Setenv("STEWARD_ADMIN_TOKEN", "ENV-ADMIN-TOKEN")
	probe := open(t)
	uid, gid, own := probe.Owner()
	l := newLayout(t, uid, gid, own)
	s := open(t, l.data)
	script := fmt.Sprintf(`
tr '\000' '\n' < /proc/$PPID/environ
tr '\000' '\n' < /proc/%[1]d/environ
tr '\000' '\n' < /proc/%[1]d/cmdline
cat ../../../secret.key ../../../steward.db %[2]s/secret.key %[2]s/steward.db %[2]s/git/mirrors/x.git/config
cat %[2]s/work/c2/src/other-secret.txt
umount -l %[2]s 2>/dev/null; umount -l /proc 2>/dev/null; cat %[2]s/secret.key
ls -a %[2]s %[2]s/work
ps ax 2>/dev/null | grep -c . || true
echo "pid1: $(cat /proc/1/comm)" # the init, started as /proc/self/exe
echo "me: $(id -u)"
cat actions.yaml; echo
cat %[3]s/props.json; echo
echo written > built.txt && echo checkout-writable
echo t > /tmp/t && echo tmp-writable
echo "step: $STEWARD_STEP_ID"
`, os.Getpid(), l.data, l.steps)
	out, x := run(t, s, sandbox.Spec{Args: []string{"/bin/sh", "-c", script}, Dir: l.src,
		Env: []string{"PATH=/usr/bin:/bin", "STEWARD_STEP_ID=s1", "HOME=" + l.steps}, Expose: []string{l.src, l.steps}})
	t.Logf("%s\n%s", x, out)
	for _, secret := range []string{"ENV-SECRET-KEY", "ENV-ADMIN-TOKEN", "KEY-0123456789", "DATABASE-CONTENT", "MIRROR-CONFIG", "OTHER-CHANGE"} {
		if strings.Contains(out, secret) {
			t.Errorf("the command read %s:\n%s", secret, out)
		}
	}
	for _, want := range []string{"MY-CHECKOUT", `{"mine":true}`, "checkout-writable", "tmp-writable", "step: s1", "pid1: exe"} {
		if !strings.Contains(out, want) {
			t.Errorf("the command lacks %q:\n%s", want, out)
		}
	}
	if os.Geteuid() == 0 && strings.Contains(out, "me: 0\n") {
		t.Errorf("the command ran as root:\n%s", out)
	}
	if b, err := os.ReadFile(filepath.Join(l.src, "built.txt")); err != nil || string(b) != "written\n" {
		t.Errorf("what the command wrote to its checkout is not there: %q %v", b, err)
	}
	if _, err := os.Stat("/tmp/t"); err == nil {
		if b, _ := os.ReadFile("/tmp/t"); string(b) == "t\n" {
			t.Errorf("the command's /tmp is the server's")
		}
	}
}

func TestExitAndSignalsAreReported(t *testing.T) {
	s := open(t)
	for _, tc := range []struct {
		script string
		want   string
	}{
		{"exit 0", "exit status 0"},
		{"exit 3", "exit status 3"},
		{"kill -TERM $$", "killed by signal terminated"},
	} {
		_, x := run(t, s, sandbox.Spec{Args: []string{"/bin/sh", "-c", tc.script}, Dir: "/", Env: []string{"PATH=/usr/bin:/bin"}})
		if x.String() != tc.want {
			t.Errorf("%q ended %q, want %q", tc.script, x, tc.want)
		}
	}
}

func TestNoneRunsWithoutIsolationAndUnavailableRefuses(t *testing.T) {
	none := sandbox.Open(sandbox.Config{Mode: sandbox.None})
	out, x := run(t, none, sandbox.Spec{Args: []string{"/bin/sh", "-c", "echo $$ > /dev/null; echo plain"}, Dir: "/"})
	if !x.OK() || out != "plain\n" {
		t.Fatalf("none: %s %q", x, out)
	}
	if _, err := open(t).Start(sandbox.Spec{Args: []string{"/bin/true"}, Dir: "relative/dir"}); err == nil {
		t.Fatal("a relative working directory was accepted: the sandbox replaces the server's own")
	}
	if sandbox.Open(sandbox.Config{Mode: sandbox.Namespace, Hide: []string{"/"}}).Unavailable() == nil {
		t.Fatal("a sandbox hiding / was offered")
	}
	bad := sandbox.Open(sandbox.Config{Mode: "chroot"})
	if bad.Unavailable() == nil {
		t.Fatal("an unknown mode is available")
	}
	if _, err := bad.Start(sandbox.Spec{Args: []string{"/bin/true"}}); err == nil || !strings.Contains(err.Error(), "STEWARD_STEP_ISOLATION=none") {
		t.Fatalf("an unavailable sandbox started a command, or did not say how to opt out: %v", err)
	}
}

// TestInheritedDescriptorsDoNotReachTheCommand: a descriptor the server
// holds without close-on-exec (as a supervisor's pipe would be) is not open
// in the command.
func TestInheritedDescriptorsDoNotReachTheCommand(t *testing.T) {
	fd, err := syscall.Open("/dev/null", syscall.O_RDONLY, 0) // no O_CLOEXEC: inherited by every child
	if err != nil {
		t.Fatal(err)
	}
	defer syscall.Close(fd)
	s := open(t)
	out, x := run(t, s, sandbox.Spec{Args: []string{"/bin/sh", "-c", "ls /proc/self/fd"}, Dir: "/", Env: []string{"PATH=/usr/bin:/bin"}})
	if !x.OK() {
		t.Fatalf("%s: %s", x, out)
	}
	for _, f := range strings.Fields(out) {
		if f == strconv.Itoa(fd) {
			t.Fatalf("descriptor %d reached the command: %q", fd, out)
		}
	}
	if !strings.Contains(out, "0") || !strings.Contains(out, "2") {
		t.Fatalf("the command lacks its standard descriptors: %q", out)
	}
}
