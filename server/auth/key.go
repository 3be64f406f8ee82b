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

	"github.com/hookd/hookd/server/store"
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

// Authenticate finds the key of a secret. Unknown secrets give ErrUnknownKey, revoked keys ErrRevokedKey;
// other errors are the store's.
func Authenticate(ctx context.Context, st store.Store, secret string) (*store.APIKey, error) {
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
