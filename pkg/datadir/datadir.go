// Package datadir guards a server's data directory: one `steward serve` at a
// time holds it (an exclusive lock on a file inside), and the lock file
// remembers which process held it last, so its successor can end at once
// the steps that process was running instead of waiting for their leases.
package datadir

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"syscall"
)

// FileName is the lock file inside the data dir.
const FileName = "steward.lock"

// Lock is a held data dir.
type Lock struct {
	f        *os.File
	previous holder
}

// holder is what the lock file says about the process that holds it.
type holder struct {
	Owner string `json:"owner"` // the engine's lease owner name
	PID   int    `json:"pid"`
}

// ErrInUse is returned when another process holds the data dir.
var ErrInUse = errors.New("data dir in use")

// Acquire creates dir (mode 0700) when missing, tightens it to 0700, and
// takes its lock without waiting: a second server on the same data dir
// gets ErrInUse, wrapped with the holder's pid.
func Acquire(dir string) (*Lock, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	// Steps never see the data dir (they run sandboxed), and nobody else
	// on the machine should either: it holds the key and the database.
	if err := os.Chmod(dir, 0o700); err != nil {
		return nil, err
	}
	f, err := os.OpenFile(filepath.Join(dir, FileName), os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, err
	}
	var prev holder
	raw, _ := io.ReadAll(io.LimitReader(f, 4096))
	_ = json.Unmarshal(raw, &prev)
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		f.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			who := "another process"
			if prev.PID > 0 {
				who = fmt.Sprintf("process %d", prev.PID)
			}
			abs, _ := filepath.Abs(dir)
			return nil, fmt.Errorf("%w: %s is used by %s (another steward serve); stop it, or give this server its own STEWARD_DATA_DIR", ErrInUse, abs, who)
		}
		return nil, fmt.Errorf("locking the data dir: %w", err)
	}
	return &Lock{f: f, previous: prev}, nil
}

// Previous is the lease owner name of the process that held the data dir
// before this one ("" if none recorded). That process is gone: its lock
// was released, so nothing it ran is still running.
func (l *Lock) Previous() string { return l.previous.Owner }

// Record writes this process's lease owner name into the lock file, for
// the next holder.
func (l *Lock) Record(owner string) error {
	b, err := json.Marshal(holder{Owner: owner, PID: os.Getpid()})
	if err != nil {
		return err
	}
	if err := l.f.Truncate(0); err != nil {
		return err
	}
	if _, err := l.f.WriteAt(append(b, '\n'), 0); err != nil {
		return err
	}
	return l.f.Sync()
}

// Release gives the data dir up. The lock is dropped explicitly before the
// file is closed: a child this process is forking at that moment holds a
// copy of the descriptor until it execs, and closing alone would leave the
// lock held through that copy. (A process that dies drops it anyway.)
func (l *Lock) Release() error {
	_ = syscall.Flock(int(l.f.Fd()), syscall.LOCK_UN)
	return l.f.Close()
}
