package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"strings"

	"github.com/hookd/hookd/internal/auth"
	"github.com/hookd/hookd/internal/store"
)

// runKeys runs `hookd keys create`: it creates an API key directly in the database and prints it once.
func runKeys(ctx context.Context, args []string) error {
	if len(args) == 0 || args[0] != "create" {
		return errors.New("usage: hookd keys create --project ID --role admin|member|viewer [--name NAME] [--instance-admin]")
	}
	var c commonFlags
	var project, role, name string
	var instanceAdmin bool
	fs := flag.NewFlagSet("keys create", flag.ContinueOnError)
	c.register(fs)
	fs.StringVar(&project, "project", auth.DefaultProjectID, "project the key belongs to")
	fs.StringVar(&role, "role", "admin", "role of the key: admin, member or viewer")
	fs.StringVar(&name, "name", "cli", "name of the key (shown in ListApiKeys)")
	fs.BoolVar(&instanceAdmin, "instance-admin", false, "let the key create projects (admin role only)")
	if err := parseFlags(fs, args[1:]); err != nil {
		return err
	}
	r := store.Role(strings.TrimPrefix(strings.ToLower(role), "role_"))
	switch r {
	case store.RoleAdmin, store.RoleMember, store.RoleViewer:
	default:
		return fmt.Errorf("--role: want admin, member or viewer, got %q", role)
	}
	if instanceAdmin && r != store.RoleAdmin {
		return errors.New("--instance-admin needs --role admin")
	}
	log, err := c.logger()
	if err != nil {
		return err
	}
	db, err := c.openStore(ctx, log)
	if err != nil {
		return err
	}
	defer db.Close()
	st := db.Store()
	_, err = st.GetProject(ctx, project)
	if errors.Is(err, store.ErrNotFound) && project == auth.DefaultProjectID {
		err = st.CreateProject(ctx, &store.Project{ID: project, Name: project})
	}
	if err != nil {
		if errors.Is(err, store.ErrNotFound) {
			return fmt.Errorf("--project: project %q does not exist; create it with ProjectService.CreateProject", project)
		}
		return fmt.Errorf("project %q: %w", project, err)
	}
	secret, err := auth.IssueKey(ctx, st, &store.APIKey{ProjectID: project, Name: name, Role: r, InstanceAdmin: instanceAdmin})
	if err != nil {
		return fmt.Errorf("create key: %w", err)
	}
	fmt.Fprintln(os.Stdout, secret)
	return nil
}
