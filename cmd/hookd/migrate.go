package main

import (
	"context"
	"flag"
	"fmt"

	"github.com/hookd/hookd/internal/store/storesql"
)

func runMigrate(ctx context.Context, args []string) error {
	var c commonFlags
	fs := flag.NewFlagSet("migrate", flag.ContinueOnError)
	c.register(fs)
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	log, err := c.logger()
	if err != nil {
		return err
	}
	cfg, err := c.openConfig(log)
	if err != nil {
		return err
	}
	if err := storesql.Migrate(ctx, cfg); err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	log.Info("migrations applied")
	return nil
}
