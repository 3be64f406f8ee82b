package auth_test

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hookd/hookd/internal/auth"
	"github.com/hookd/hookd/internal/clock"
	"github.com/hookd/hookd/internal/store"
)

// keyStore serves one key and counts lookups.
type keyStore struct {
	key     store.APIKey
	lookups atomic.Int32
}

func (s *keyStore) APIKeyByHash(_ context.Context, hash []byte) (*store.APIKey, error) {
	s.lookups.Add(1)
	if string(hash) != string(s.key.Hash) {
		return nil, store.ErrNotFound
	}
	k := s.key
	return &k, nil
}

func TestAuthenticatorCache(t *testing.T) {
	ctx := context.Background()
	secret := "hk_test_secret_0123456789abcdef"
	st := &keyStore{key: store.APIKey{ID: "key_1", ProjectID: "prj_1", Role: store.RoleMember, Hash: auth.HashKey(secret)}}
	clk := clock.NewFake(time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC))
	a := auth.NewAuthenticator(st, clk)

	for range 3 {
		k, err := a.Authenticate(ctx, secret)
		require.NoError(t, err)
		assert.Equal(t, "key_1", k.ID)
	}
	assert.Equal(t, int32(1), st.lookups.Load(), "a busy client costs one lookup per KeyCacheTTL")

	for range 2 {
		_, err := a.Authenticate(ctx, "hk_unknown")
		assert.ErrorIs(t, err, auth.ErrUnknownKey)
	}
	assert.Equal(t, int32(3), st.lookups.Load(), "unknown secrets are not remembered")

	// Revoked by another process: this one notices within KeyCacheTTL.
	now := clk.Now()
	st.key.RevokeTime = &now
	_, err := a.Authenticate(ctx, secret)
	require.NoError(t, err, "still remembered")
	clk.Advance(auth.KeyCacheTTL)
	_, err = a.Authenticate(ctx, secret)
	assert.ErrorIs(t, err, auth.ErrRevokedKey)

	// Revoked by this process: forgotten at once.
	st.key.RevokeTime = nil
	_, err = a.Authenticate(ctx, secret)
	require.NoError(t, err)
	st.key.RevokeTime = &now
	a.Forget(st.key.Hash)
	_, err = a.Authenticate(ctx, secret)
	assert.ErrorIs(t, err, auth.ErrRevokedKey)
}
