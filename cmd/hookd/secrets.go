package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"maps"
	"os"
	"path/filepath"
	"slices"

	"github.com/hookd/hookd/internal/secret"
	"github.com/hookd/hookd/internal/store/storesql"
)

// keyring returns the keyring that encrypts secrets at rest: HOOKD_SECRET_KEY when set (comma-separated keys,
// current first), else the key file (--secret-key-file, default <data-dir>/secret.key), created with mode 0600 on
// the first start. On PostgreSQL without HOOKD_SECRET_KEY the file works for one process; a cluster must give
// every process the same keys (the store refuses to start with a key that did not encrypt the database).
func (c *commonFlags) keyring(log *slog.Logger) (*secret.Keyring, error) {
	if spec, ok := os.LookupEnv(secret.EnvVar); ok && spec != "" {
		k, err := secret.Parse(spec)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", secret.EnvVar, err)
		}
		return k, nil
	}
	path := c.keyFile()
	k, created, err := secret.LoadFile(path, true)
	if err != nil {
		return nil, err
	}
	if created {
		log.Info("created the secret key file; back it up: the stored secrets cannot be read without it", "path", path)
	}
	if c.databaseURL != "" {
		log.Warn("PostgreSQL without "+secret.EnvVar+": secrets are encrypted with the local key file; every process of a cluster needs the same key (set "+secret.EnvVar+")",
			"path", path, "key_id", k.CurrentID())
	}
	return k, nil
}

// keyFile is the key file path: --secret-key-file, or secret.key in the data directory.
func (c *commonFlags) keyFile() string {
	if c.secretKeyFile != "" {
		return c.secretKeyFile
	}
	return filepath.Join(c.dataDir, secret.KeyFileName)
}

// openConfig is the store configuration of these flags, with the keyring.
func (c *commonFlags) openConfig(log *slog.Logger) (storesql.Config, error) {
	k, err := c.keyring(log)
	if err != nil {
		return storesql.Config{}, err
	}
	return storesql.Config{URL: c.storeURL(), Logger: log, Keyring: k}, nil
}

// openStore opens (and migrates) the store the flags name, with their keyring.
func (c *commonFlags) openStore(ctx context.Context, log *slog.Logger) (*storesql.DB, error) {
	cfg, err := c.openConfig(log)
	if err != nil {
		return nil, err
	}
	st, err := storesql.Open(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("open store: %w", err)
	}
	return st, nil
}

// runSecrets runs `hookd secrets rotate`.
func runSecrets(ctx context.Context, args []string) error {
	if len(args) == 0 || args[0] != "rotate" {
		return errors.New("usage: hookd secrets rotate [--database-url URL | --data-dir DIR] [--secret-key-file FILE] [--keep-key]")
	}
	var c commonFlags
	var keep bool
	fs := flag.NewFlagSet("secrets rotate", flag.ContinueOnError)
	c.register(fs)
	fs.BoolVar(&keep, "keep-key", false, "with a key file: re-encrypt under its first key without adding a new one (run it after restarting the servers: it reports values still under an older key)")
	if err := parseFlags(fs, args[1:]); err != nil {
		return err
	}
	log, err := c.logger()
	if err != nil {
		return err
	}
	_, fromEnv := os.LookupEnv(secret.EnvVar)
	fromEnv = fromEnv && os.Getenv(secret.EnvVar) != ""
	if !fromEnv && !keep {
		// Open with the old keys first: it checks they are the database's, and seals anything left in clear.
		st, err := c.openStore(ctx, log)
		if err != nil {
			return err
		}
		_ = st.Close()
		k, err := secret.AddFileKey(c.keyFile())
		if err != nil {
			return err
		}
		log.Info("added a new key to the key file; the old keys still decrypt", "path", c.keyFile(), "key_id", k.CurrentID())
	}
	db, err := c.openStore(ctx, log)
	if err != nil {
		return err
	}
	defer db.Close()
	res, err := db.Store().RotateSecrets(ctx)
	if err != nil {
		return fmt.Errorf("rotate secrets: %w", err)
	}
	fmt.Fprintf(os.Stdout, "re-encrypted under key %s: %d webhooks, %d integrations, %d triggers\n",
		res.KeyID, res.Webhooks, res.Integrations, res.Triggers)
	if len(res.Remaining) > 0 {
		for _, id := range slices.Sorted(maps.Keys(res.Remaining)) {
			fmt.Fprintf(os.Stdout, "still under key %s (cannot be decrypted with these keys): %d values; that key is kept\n", id, res.Remaining[id])
		}
		return fmt.Errorf("rotate secrets: %d key ids still in use by stored values", len(res.Remaining))
	}
	fmt.Fprintf(os.Stdout, "no stored value uses an older key now. Servers already running keep encrypting under the key they started with")
	if fromEnv {
		fmt.Fprintf(os.Stdout, " until restarted with %s holding the new key first.\n", secret.EnvVar)
	} else {
		fmt.Fprintf(os.Stdout, " until they re-read the key file (within a second of their next write).\n")
	}
	fmt.Fprintf(os.Stdout, "Each server re-encrypts such values when it starts. Before dropping an old key: restart every server, "+
		"then run `hookd secrets rotate --keep-key` (with the same keys) and drop the old key only when it reports no value under an older key.\n")
	return nil
}
