package auth_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"connectrpc.com/connect"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hookd/hookd/internal/auth"
	"github.com/hookd/hookd/internal/clock"
)

func TestGuard(t *testing.T) {
	ctx := context.Background()
	clk := clock.NewFake(time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC))
	var checks int
	var answer error
	g := auth.NewGuard(clk, auth.StreamLimits{RecheckInterval: time.Minute, MaxLifetime: time.Hour}, func(context.Context) error {
		checks++
		return answer
	})
	require.NoError(t, g.Check(ctx))
	clk.Advance(59 * time.Second)
	require.NoError(t, g.Check(ctx))
	assert.Zero(t, checks, "no read of the key within the interval")
	clk.Advance(time.Second)
	require.NoError(t, g.Check(ctx))
	assert.Equal(t, 1, checks)

	answer = connect.NewError(connect.CodeUnavailable, errors.New("database down"))
	clk.Advance(time.Minute)
	require.NoError(t, g.Check(ctx), "a store failure lets the call go on")
	require.NoError(t, g.Check(ctx))
	assert.Equal(t, 3, checks, "and is tried again at the next check")

	answer = connect.NewError(connect.CodeUnauthenticated, auth.ErrRevokedKey)
	err := g.Check(ctx)
	assert.Equal(t, connect.CodeUnauthenticated, connect.CodeOf(err))
	assert.Equal(t, err, g.Check(ctx), "a failure is final")
	assert.Equal(t, err, g.Err())

	life := auth.NewGuard(clk, auth.StreamLimits{MaxLifetime: time.Hour}, nil)
	clk.Advance(time.Hour - time.Nanosecond)
	require.NoError(t, life.Check(ctx))
	clk.Advance(time.Nanosecond)
	err = life.Check(ctx)
	assert.Equal(t, connect.CodeUnavailable, connect.CodeOf(err))
	assert.ErrorIs(t, err, auth.ErrStreamLifetime)

	forever := auth.NewGuard(clk, auth.StreamLimits{MaxLifetime: -1}, nil)
	clk.Advance(1000 * time.Hour)
	assert.NoError(t, forever.Check(ctx))
}
