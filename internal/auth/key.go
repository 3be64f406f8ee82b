package auth

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/hookd/hookd/internal/cache"
	"github.com/hookd/hookd/internal/clock"
	"github.com/hookd/hookd/internal/store"
)

// KeyPrefix starts every generated API key; PrefixLen characters of a key are stored to recognise it.
const (
	KeyPrefix = "hk_"
	PrefixLen = 10
)

// Errors of Authenticate.
var (
	// ErrUnknownKey means no key has this secret.
	ErrUnknownKey = errors.New("unknown API key")
	// ErrRevokedKey means the key was revoked.
	ErrRevokedKey = errors.New("API key revoked")
)

// GenerateKey returns a new random secret: "hk_" + base64url(32 random bytes).
func GenerateKey() (string, error) {
	var b [32]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", fmt.Errorf("generate key: %w", err)
	}
	return KeyPrefix + base64.RawURLEncoding.EncodeToString(b[:]), nil
}

// HashKey returns the SHA-256 hash of a secret: what the store keeps instead of the secret.
func HashKey(secret string) []byte {
	h := sha256.Sum256([]byte(secret))
	return h[:]
}

// Prefix returns the displayable start of a secret (its first PrefixLen characters).
func Prefix(secret string) string {
	if len(secret) <= PrefixLen {
		return secret[:len(secret)/2]
	}
	return secret[:PrefixLen]
}

// IssueKey stores k with a new random secret (filling its Prefix and Hash) and returns the secret,
// which is never stored and must be shown to the user once.
func IssueKey(ctx context.Context, st store.Store, k *store.APIKey) (string, error) {
	secret, err := GenerateKey()
	if err != nil {
		return "", err
	}
	if err := storeKey(ctx, st, k, secret); err != nil {
		return "", err
	}
	return secret, nil
}

// storeKey stores k for secret. Only generated keys keep a prefix: the start of an operator-chosen key (the
// bootstrap key) could be most of it, so it is neither stored nor logged.
func storeKey(ctx context.Context, st store.Store, k *store.APIKey, secret string) error {
	k.Prefix = ""
	if generated(secret) {
		k.Prefix = Prefix(secret)
	}
	k.Hash = HashKey(secret)
	if err := st.CreateAPIKey(ctx, k); err != nil {
		return fmt.Errorf("store api key: %w", err)
	}
	return nil
}

// KeyCacheTTL is how long an Authenticator remembers a key it found: a revoked key stops working at once in the
// process that revoked it, and within KeyCacheTTL in the others.
const KeyCacheTTL = time.Second

// KeyStore finds API keys.
type KeyStore interface {
	// APIKeyByHash finds a key by the SHA-256 hash of its secret.
	APIKeyByHash(ctx context.Context, hash []byte) (*store.APIKey, error)
}

// Authenticator finds the keys of secrets, remembering found keys for KeyCacheTTL (not when built by
// NewInterceptor): a busy client costs no database query per call.
type Authenticator struct {
	st    KeyStore
	cache *cache.TTL[[sha256.Size]byte, *store.APIKey]
	// sessions remembers portal sessions (see AuthenticatePortal).
	sessions *cache.TTL[[sha256.Size]byte, *store.PortalSession]
	clk      clock.Clock
	// Streams bounds the streaming handlers behind the Authenticator's interceptor (zero: the defaults).
	Streams StreamLimits
}

// NewAuthenticator returns an Authenticator over st remembering keys for KeyCacheTTL on clk.
func NewAuthenticator(st KeyStore, clk clock.Clock) *Authenticator {
	a := &Authenticator{st: st, cache: cache.New[[sha256.Size]byte, *store.APIKey](KeyCacheTTL, 0, clk), clk: clk}
	a.sessions = newSessionCache(a)
	return a
}

// Guard returns a Guard for a call authenticated with secret (a download that authenticates itself): each
// recheck authenticates secret again. A portal token's guard reads its session every PortalRecheckInterval.
func (a *Authenticator) Guard(secret string) *Guard {
	if IsPortalToken(secret) {
		limits := a.Streams
		limits.RecheckInterval = PortalRecheckInterval
		return NewGuard(a.clk, limits, func(ctx context.Context) error {
			_, err := a.AuthenticatePortal(ctx, secret)
			return sessionError(ctx, "", err)
		})
	}
	return NewGuard(a.clk, a.Streams, func(ctx context.Context) error {
		_, err := a.Authenticate(ctx, secret)
		return keyError(ctx, "", err)
	})
}

// Authenticate finds the key of a secret (see the package function Authenticate).
func (a *Authenticator) Authenticate(ctx context.Context, secret string) (*store.APIKey, error) {
	if a.cache == nil || secret == "" {
		return Authenticate(ctx, a.st, secret)
	}
	k, err := a.cache.Get(ctx, sha256.Sum256([]byte(secret)), func(ctx context.Context) (*store.APIKey, error) {
		return Authenticate(ctx, a.st, secret)
	})
	if errors.Is(err, ErrRevokedKey) || errors.Is(err, ErrUnknownKey) {
		return nil, err
	}
	return k, err
}

// Forget drops a key or a portal session from the cache (call it when revoking them), by its token's hash.
func (a *Authenticator) Forget(hash []byte) {
	if a == nil || len(hash) != sha256.Size {
		return
	}
	if a.cache != nil {
		a.cache.Delete([sha256.Size]byte(hash))
	}
	if a.sessions != nil {
		a.sessions.Delete([sha256.Size]byte(hash))
	}
}

// Authenticate finds the key of a secret. Unknown secrets give ErrUnknownKey, revoked keys ErrRevokedKey;
// other errors are the store's.
func Authenticate(ctx context.Context, st KeyStore, secret string) (*store.APIKey, error) {
	if secret == "" {
		return nil, ErrUnknownKey
	}
	hash := HashKey(secret)
	k, err := st.APIKeyByHash(ctx, hash)
	if errors.Is(err, store.ErrNotFound) {
		return nil, ErrUnknownKey
	}
	if err != nil {
		return nil, fmt.Errorf("find api key: %w", err)
	}
	if subtle.ConstantTimeCompare(k.Hash, hash) != 1 {
		return nil, ErrUnknownKey
	}
	if k.RevokeTime != nil {
		return nil, ErrRevokedKey
	}
	return k, nil
}

// generated reports whether secret has the shape of a key made by GenerateKey.
func generated(secret string) bool {
	if !strings.HasPrefix(secret, KeyPrefix) || len(secret) != len(KeyPrefix)+43 {
		return false
	}
	_, err := base64.RawURLEncoding.DecodeString(secret[len(KeyPrefix):])
	return err == nil
}
