package auth

import (
	"context"

	"connectrpc.com/connect"
)

// ClientKey returns a client interceptor that sends key as "Authorization: Bearer <key>" with unary and
// streaming calls (for Go callers inside this module: the bench and the end-to-end tests).
func ClientKey(key string) connect.Interceptor { return clientKey(key) }

type clientKey string

// WrapUnary implements connect.Interceptor.
func (k clientKey) WrapUnary(next connect.UnaryFunc) connect.UnaryFunc {
	return func(ctx context.Context, req connect.AnyRequest) (connect.AnyResponse, error) {
		req.Header().Set("Authorization", "Bearer "+string(k))
		return next(ctx, req)
	}
}

// WrapStreamingClient implements connect.Interceptor.
func (k clientKey) WrapStreamingClient(next connect.StreamingClientFunc) connect.StreamingClientFunc {
	return func(ctx context.Context, spec connect.Spec) connect.StreamingClientConn {
		conn := next(ctx, spec)
		conn.RequestHeader().Set("Authorization", "Bearer "+string(k))
		return conn
	}
}

// WrapStreamingHandler implements connect.Interceptor; handlers are not affected.
func (clientKey) WrapStreamingHandler(next connect.StreamingHandlerFunc) connect.StreamingHandlerFunc {
	return next
}
