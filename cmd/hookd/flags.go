package main

import (
	"flag"
	"fmt"
	"log/slog"
	"os"
	"strings"

	"github.com/hookd/hookd/internal/store/storesql"
)

// stringList is a repeatable flag; from the environment it is comma-separated.
type stringList []string

func (s *stringList) String() string { return strings.Join(*s, ",") }

func (s *stringList) Set(v string) error {
	for _, p := range strings.Split(v, ",") {
		if p = strings.TrimSpace(p); p != "" {
			*s = append(*s, p)
		}
	}
	return nil
}

// commonFlags are shared by commands that open the database.
type commonFlags struct {
	databaseURL   string
	dataDir       string
	secretKeyFile string
	logLevel      string
	logFormat     string
}

func (c *commonFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&c.databaseURL, "database-url", "", "PostgreSQL URL (postgres://…); empty = embedded SQLite in --data-dir")
	fs.StringVar(&c.dataDir, "data-dir", storesql.DefaultDataDir, "directory of the embedded SQLite database (and of the secret key file)")
	fs.StringVar(&c.secretKeyFile, "secret-key-file", "", "key file encrypting secrets at rest when HOOKD_SECRET_KEY is unset (default <data-dir>/secret.key, created on first start)")
	fs.StringVar(&c.logLevel, "log-level", "info", "log level: debug, info, warn, error")
	fs.StringVar(&c.logFormat, "log-format", "text", "log format: text or json")
}

// storeURL is what storesql.Open takes: a PostgreSQL URL or the SQLite directory.
func (c *commonFlags) storeURL() string {
	if c.databaseURL != "" {
		return c.databaseURL
	}
	return c.dataDir
}

func (c *commonFlags) logger() (*slog.Logger, error) {
	var lvl slog.Level
	if err := lvl.UnmarshalText([]byte(c.logLevel)); err != nil {
		return nil, fmt.Errorf("--log-level: %w", err)
	}
	opts := &slog.HandlerOptions{Level: lvl}
	switch c.logFormat {
	case "text":
		return slog.New(slog.NewTextHandler(os.Stderr, opts)), nil
	case "json":
		return slog.New(slog.NewJSONHandler(os.Stderr, opts)), nil
	default:
		return nil, fmt.Errorf("--log-format: want text or json, got %q", c.logFormat)
	}
}

// parseFlags parses args, then fills every flag not given on the command line from HOOKD_<FLAG>.
func parseFlags(fs *flag.FlagSet, args []string) error {
	if err := fs.Parse(args); err != nil {
		return err
	}
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	var err error
	fs.VisitAll(func(f *flag.Flag) {
		if set[f.Name] || err != nil {
			return
		}
		env := "HOOKD_" + strings.ToUpper(strings.ReplaceAll(f.Name, "-", "_"))
		if v, ok := os.LookupEnv(env); ok {
			if e := fs.Set(f.Name, v); e != nil {
				err = fmt.Errorf("%s: %w", env, e)
			}
		}
	})
	if err == nil && fs.NArg() > 0 {
		err = fmt.Errorf("unexpected arguments: %v", fs.Args())
	}
	return err
}
