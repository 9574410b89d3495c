// Package config reads Steward's settings from STEWARD_* environment variables
// and matching command-line flags (flags win), and prepares the data directory
// and the secret key.
package config

import (
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/caarlos0/env/v11"
)

// Config is every setting `steward serve` reads.
type Config struct {
	Listen      string `env:"STEWARD_LISTEN" envDefault:"127.0.0.1:8080"`
	DataDir     string `env:"STEWARD_DATA_DIR" envDefault:"./steward-data"`
	DatabaseURL string `env:"STEWARD_DATABASE_URL"`
	SecretKey   string `env:"STEWARD_SECRET_KEY"`
	AdminToken  string `env:"STEWARD_ADMIN_TOKEN"`
	LogFormat   string `env:"STEWARD_LOG_FORMAT" envDefault:"text"`
	LogLevel    string `env:"STEWARD_LOG_LEVEL" envDefault:"info"`
	// KnownHosts is a known_hosts file for SSH remotes; host keys are always checked.
	KnownHosts string `env:"STEWARD_SSH_KNOWN_HOSTS"`
	// Workers is how many steps this process runs at once.
	Workers int `env:"STEWARD_WORKERS" envDefault:"4"`
	// StepIsolation is how steps are kept from the server's secrets:
	// "namespace" (the default) or "none" (only when set explicitly).
	StepIsolation string `env:"STEWARD_STEP_ISOLATION" envDefault:"namespace"`
	// StepUser is the unprivileged user steps run as when the server runs as root.
	StepUser string `env:"STEWARD_STEP_USER" envDefault:"nobody"`
	// AllowLocalRemotes lets git remotes be file:// URLs or local paths, which
	// reach the server's own disk; off unless set.
	AllowLocalRemotes bool `env:"STEWARD_ALLOW_LOCAL_REMOTES"`
	// RateLimit is each API token's budget (and each address's, for
	// requests without a valid token): "RATE,BURST" in requests per second,
	// or "off".
	RateLimit string `env:"STEWARD_RATE_LIMIT" envDefault:"100,200"`
	// Scheduler runs the scheduled-activity service in this process (every
	// replica may: one evaluates at a time); false leaves it to the others.
	Scheduler bool `env:"STEWARD_SCHEDULER" envDefault:"true"`
	// RetentionSchedule is when the retention job prunes old log lines and
	// events (a cron expression or descriptor, UTC).
	RetentionSchedule string `env:"STEWARD_RETENTION_SCHEDULE" envDefault:"@hourly"`
	// SchedulePrepareAhead is how long before a fire time the scheduler
	// does its firings' reads (0 or less: at the fire time).
	SchedulePrepareAhead time.Duration `env:"STEWARD_SCHEDULE_PREPARE_AHEAD" envDefault:"5s"`
	// CORSOrigins are the browser origins (scheme://host[:port], or *) whose
	// scripts may call the API; none by default, so no CORS headers are sent.
	CORSOrigins []string `env:"STEWARD_CORS_ORIGINS" envSeparator:","`
	// WebhookDelivery runs the webhook delivery service in this process
	// (every replica may: each delivery is claimed by one).
	WebhookDelivery bool `env:"STEWARD_WEBHOOK_DELIVERY" envDefault:"true"`
	// WebhookWorkers is how many webhook deliveries this process sends at once.
	WebhookWorkers int `env:"STEWARD_WEBHOOK_WORKERS" envDefault:"64"`
	// WebhookAllowPrivate lists the private, loopback or link-local
	// destinations (CIDRs, addresses or host names) webhooks may reach.
	WebhookAllowPrivate []string `env:"STEWARD_WEBHOOK_ALLOW_PRIVATE" envSeparator:","`
}

// Load reads the environment, then lets flags on fs override it. args are the
// command's arguments after its name.
func Load(fs *flag.FlagSet, args []string) (*Config, error) {
	var c Config
	if err := env.Parse(&c); err != nil {
		return nil, err
	}
	fs.StringVar(&c.Listen, "listen", c.Listen, "address to listen on (STEWARD_LISTEN)")
	fs.StringVar(&c.DataDir, "data-dir", c.DataDir, "directory for the database, mirrors and work trees (STEWARD_DATA_DIR)")
	fs.StringVar(&c.DatabaseURL, "database-url", c.DatabaseURL, "postgres://... or sqlite://PATH; default a SQLite file in the data dir (STEWARD_DATABASE_URL)")
	fs.StringVar(&c.SecretKey, "secret-key", c.SecretKey, "AES-256 key for secrets at rest, 32 bytes as hex or base64 (STEWARD_SECRET_KEY)")
	fs.StringVar(&c.AdminToken, "admin-token", c.AdminToken, "bootstrap API token for user admin (STEWARD_ADMIN_TOKEN)")
	fs.StringVar(&c.LogFormat, "log-format", c.LogFormat, "text or json (STEWARD_LOG_FORMAT)")
	fs.StringVar(&c.LogLevel, "log-level", c.LogLevel, "debug, info, warn or error (STEWARD_LOG_LEVEL)")
	fs.StringVar(&c.KnownHosts, "ssh-known-hosts", c.KnownHosts, "known_hosts file for SSH git remotes; default <data dir>/known_hosts (STEWARD_SSH_KNOWN_HOSTS)")
	fs.IntVar(&c.Workers, "workers", c.Workers, "steps this process runs at once (STEWARD_WORKERS)")
	fs.StringVar(&c.StepIsolation, "step-isolation", c.StepIsolation, "namespace, or none to run steps with the server's own access (STEWARD_STEP_ISOLATION)")
	fs.StringVar(&c.StepUser, "step-user", c.StepUser, "user (name or uid) steps run as when the server runs as root (STEWARD_STEP_USER)")
	fs.BoolVar(&c.AllowLocalRemotes, "allow-local-remotes", c.AllowLocalRemotes, "accept file:// and local-path git remotes (STEWARD_ALLOW_LOCAL_REMOTES)")
	fs.StringVar(&c.RateLimit, "rate-limit", c.RateLimit, "requests per second and burst per token (and per address without one), as RATE,BURST, or off (STEWARD_RATE_LIMIT)")
	fs.BoolVar(&c.Scheduler, "scheduler", c.Scheduler, "run the scheduler in this process (STEWARD_SCHEDULER)")
	fs.StringVar(&c.RetentionSchedule, "retention-schedule", c.RetentionSchedule, "cron schedule (UTC) of the retention job (STEWARD_RETENTION_SCHEDULE)")
	fs.DurationVar(&c.SchedulePrepareAhead, "schedule-prepare-ahead", c.SchedulePrepareAhead, "how long before a fire time its firings are prepared; 0 for at the fire time (STEWARD_SCHEDULE_PREPARE_AHEAD)")
	fs.Func("cors-origins", "comma-separated browser origins allowed to call the API, e.g. https://ops.example.com; * for any (STEWARD_CORS_ORIGINS)", func(v string) error {
		c.CORSOrigins = strings.Split(v, ",")
		return nil
	})
	fs.BoolVar(&c.WebhookDelivery, "webhook-delivery", c.WebhookDelivery, "run the webhook delivery service in this process (STEWARD_WEBHOOK_DELIVERY)")
	fs.IntVar(&c.WebhookWorkers, "webhook-workers", c.WebhookWorkers, "webhook deliveries this process sends at once (STEWARD_WEBHOOK_WORKERS)")
	fs.Func("webhook-allow-private", "comma-separated private destinations (CIDRs, addresses, host names) webhooks may reach (STEWARD_WEBHOOK_ALLOW_PRIVATE)", func(v string) error {
		c.WebhookAllowPrivate = strings.Split(v, ",")
		return nil
	})
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	origins, err := parseOrigins(c.CORSOrigins)
	if err != nil {
		return nil, err
	}
	c.CORSOrigins = origins
	if _, _, err := ParseRateLimit(c.RateLimit); err != nil {
		return nil, err
	}
	if c.Workers < 1 || c.Workers > 1024 {
		return nil, fmt.Errorf("STEWARD_WORKERS must be between 1 and 1024, not %d", c.Workers)
	}
	if c.WebhookWorkers < 1 || c.WebhookWorkers > 1024 {
		return nil, fmt.Errorf("STEWARD_WEBHOOK_WORKERS must be between 1 and 1024, not %d", c.WebhookWorkers)
	}
	if c.LogFormat != "text" && c.LogFormat != "json" {
		return nil, fmt.Errorf("STEWARD_LOG_FORMAT must be text or json, not %q", c.LogFormat)
	}
	if c.StepIsolation != "namespace" && c.StepIsolation != "none" {
		return nil, fmt.Errorf("STEWARD_STEP_ISOLATION must be namespace or none, not %q", c.StepIsolation)
	}
	if c.KnownHosts == "" {
		c.KnownHosts = filepath.Join(c.DataDir, "known_hosts")
	}
	if c.DatabaseURL == "" {
		c.DatabaseURL = "sqlite://" + filepath.Join(c.DataDir, "steward.db")
	}
	return &c, nil
}

// parseOrigins trims and checks each CORS origin: a browser sends Origin as
// scheme://host[:port] exactly, so anything with a path, query or user part
// could never match and is refused rather than silently ignored.
func parseOrigins(in []string) ([]string, error) {
	var out []string
	for _, o := range in {
		o = strings.TrimSpace(o)
		if o == "" {
			continue
		}
		if o != "*" {
			u, err := url.Parse(o)
			if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" ||
				u.User != nil || (u.Path != "" && u.Path != "/") || u.RawQuery != "" || u.Fragment != "" {
				return nil, fmt.Errorf("STEWARD_CORS_ORIGINS: %q is not an origin such as https://ops.example.com (or *)", o)
			}
			o = u.Scheme + "://" + u.Host
		}
		out = append(out, o)
	}
	return out, nil
}

// Key decodes SecretKey (64 hex digits or base64 of 32 bytes). When unset, a
// key is generated into DataDir/secret.key on first use and read from there
// afterwards; generated reports that this happened so the caller can warn.
func (c *Config) Key() (key []byte, generated bool, err error) {
	if c.SecretKey != "" {
		key, err = decodeKey(c.SecretKey)
		return key, false, err
	}
	path := filepath.Join(c.DataDir, "secret.key")
	if raw, err := os.ReadFile(path); err == nil {
		key, err = decodeKey(strings.TrimSpace(string(raw)))
		if err != nil {
			return nil, false, fmt.Errorf("%s: %w", path, err)
		}
		return key, false, nil
	} else if !errors.Is(err, os.ErrNotExist) {
		return nil, false, err
	}
	key = make([]byte, 32)
	if _, err := rand.Read(key); err != nil {
		return nil, false, err
	}
	if err := os.MkdirAll(c.DataDir, 0o700); err != nil {
		return nil, false, err
	}
	if err := os.WriteFile(path, []byte(hex.EncodeToString(key)+"\n"), 0o600); err != nil {
		return nil, false, err
	}
	return key, true, nil
}

func decodeKey(s string) ([]byte, error) {
	if b, err := hex.DecodeString(s); err == nil && len(b) == 32 {
		return b, nil
	}
	if b, err := base64.StdEncoding.DecodeString(s); err == nil && len(b) == 32 {
		return b, nil
	}
	return nil, errors.New("the secret key must be 32 bytes, written as 64 hex digits or base64")
}

// ParseRateLimit reads STEWARD_RATE_LIMIT: "RATE,BURST" (requests per
// second, a fraction allowed, and the bucket's size) or "off" (rate 0).
func ParseRateLimit(v string) (rate float64, burst int, err error) {
	v = strings.TrimSpace(v)
	if v == "" || v == "off" || v == "0" {
		return 0, 0, nil
	}
	bad := fmt.Errorf("STEWARD_RATE_LIMIT must be RATE,BURST (e.g. 100,200: requests per second and burst) or off, not %q", v)
	r, b, ok := strings.Cut(v, ",")
	if !ok {
		return 0, 0, bad
	}
	if rate, err = strconv.ParseFloat(strings.TrimSpace(r), 64); err != nil || rate <= 0 {
		return 0, 0, bad
	}
	if burst, err = strconv.Atoi(strings.TrimSpace(b)); err != nil || burst < 1 {
		return 0, 0, bad
	}
	return rate, burst, nil
}
