package auth

import (
	"context"
	"errors"
	"fmt"
	"log/slog"

	"github.com/hookd/hookd/internal/store"
)

// DefaultProjectID is the id (and name) of the project created at first start.
const DefaultProjectID = "default"

// Bootstrap prepares a fresh instance: it makes sure the `default` project exists; then, when bootstrapKey is
// set, that this secret is an instance-admin ADMIN key of `default`; otherwise, when the instance has no key
// at all, it creates one random instance-admin ADMIN key and returns its secret for the caller to print once.
// Safe to run at every start and from several processes at once.
func Bootstrap(ctx context.Context, st store.Store, bootstrapKey string, log *slog.Logger) (string, error) {
	if log == nil {
		log = slog.Default()
	}
	if err := ensureDefaultProject(ctx, st, log); err != nil {
		return "", err
	}
	if bootstrapKey != "" {
		return "", ensureBootstrapKey(ctx, st, bootstrapKey, log)
	}
	n, err := st.CountAPIKeys(ctx)
	if err != nil {
		return "", fmt.Errorf("count api keys: %w", err)
	}
	if n > 0 {
		return "", nil
	}
	k := &store.APIKey{ProjectID: DefaultProjectID, Name: "first-start admin", Role: store.RoleAdmin, InstanceAdmin: true}
	secret, err := IssueKey(ctx, st, k)
	if err != nil {
		return "", fmt.Errorf("create first admin key: %w", err)
	}
	log.InfoContext(ctx, "created the first admin api key", "key_id", k.ID, "prefix", k.Prefix, "project_id", k.ProjectID)
	return secret, nil
}

func ensureDefaultProject(ctx context.Context, st store.Store, log *slog.Logger) error {
	_, err := st.GetProject(ctx, DefaultProjectID)
	if err == nil {
		return nil
	}
	if !errors.Is(err, store.ErrNotFound) {
		return fmt.Errorf("get default project: %w", err)
	}
	err = st.CreateProject(ctx, &store.Project{ID: DefaultProjectID, Name: DefaultProjectID})
	if errors.Is(err, store.ErrAlreadyExists) {
		// Another process created it first, or a project is already named "default".
		if _, gerr := st.GetProject(ctx, DefaultProjectID); gerr != nil {
			return fmt.Errorf("create default project: %w", err)
		}
		return nil
	}
	if err != nil {
		return fmt.Errorf("create default project: %w", err)
	}
	log.InfoContext(ctx, "created the default project", "project_id", DefaultProjectID)
	return nil
}

func ensureBootstrapKey(ctx context.Context, st store.Store, secret string, log *slog.Logger) error {
	if len(secret) < 16 {
		log.WarnContext(ctx, "the bootstrap key is short; use at least 32 random characters outside of tests", "length", len(secret))
	}
	k, err := st.APIKeyByHash(ctx, HashKey(secret))
	switch {
	case err == nil:
		if k.RevokeTime != nil || k.Role != store.RoleAdmin || !k.InstanceAdmin {
			log.WarnContext(ctx, "the bootstrap key exists but is not an active instance admin key; it was left as is",
				"key_id", k.ID, "project_id", k.ProjectID, "role", k.Role, "instance_admin", k.InstanceAdmin, "revoked", k.RevokeTime != nil)
		}
		return nil
	case !errors.Is(err, store.ErrNotFound):
		return fmt.Errorf("find bootstrap key: %w", err)
	}
	k = &store.APIKey{ProjectID: DefaultProjectID, Name: "bootstrap", Role: store.RoleAdmin, InstanceAdmin: true}
	err = storeKey(ctx, st, k, secret)
	if errors.Is(err, store.ErrAlreadyExists) {
		return nil // another process stored it first
	}
	if err != nil {
		return fmt.Errorf("create bootstrap key: %w", err)
	}
	log.InfoContext(ctx, "created the bootstrap admin api key", "key_id", k.ID, "project_id", k.ProjectID)
	return nil
}
