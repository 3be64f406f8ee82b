// Package secret encrypts hookd's secrets at rest (webhook signing secrets, private header values, trigger
// signature secrets) with AES-256-GCM under a Keyring, and derives MACs (capability tokens that are never stored)
// from the same keys.
//
// A keyring holds one or more 32-byte keys; the first is current: it encrypts and MACs. Every other key still
// decrypts and verifies, which is what makes rotation possible (`hookd secrets rotate` puts a new key first and
// re-encrypts every stored secret under it). A key's id is derived from the key itself, so an encrypted value
// names the key that opens it without the key being stored anywhere.
//
// Keys come from HOOKD_SECRET_KEY (comma-separated, current first) or from a key file (one key per line, current
// first; `#` starts a comment) that the embedded default creates with mode 0600 in its data directory.
package secret

import (
	"bufio"
	"bytes"
	"crypto/aes"
	"crypto/cipher"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// EnvVar is the environment variable holding the keys (comma-separated, current first).
const EnvVar = "HOOKD_SECRET_KEY"

// KeyFileName is the key file the embedded default creates in its data directory.
const KeyFileName = "secret.key"

// KeySize is the length of a key in bytes (AES-256).
const KeySize = 32

// sealedPrefix starts every encrypted value: "enc:v1:<key id>:<base64url(nonce || ciphertext)>".
const sealedPrefix = "enc:v1:"

// reloadInterval is how often a file keyring re-reads its file at most, when it meets a key id it lacks.
const reloadInterval = time.Second

// ErrUnknownKey means a value was encrypted under a key the keyring does not hold.
var ErrUnknownKey = errors.New("encrypted under a key this keyring does not hold")

// key is one key with its id and cipher.
type key struct {
	id   string
	raw  []byte
	aead cipher.AEAD
}

// ring is an immutable set of keys; keys[0] is current.
type ring struct {
	keys []key
	byID map[string]*key
}

// Keyring encrypts, decrypts and MACs with a set of keys; safe for concurrent use.
type Keyring struct {
	state atomic.Pointer[ring]
	// path is the key file this keyring was read from ("" for keys from the environment).
	path string

	mu         sync.Mutex
	lastReload time.Time
	// fileStamp is the key file's modification time and size when it was last read; checkedNano is when Seal
	// last compared them with the file (unix nanoseconds).
	fileStamp   fileStamp
	checkedNano atomic.Int64
}

// fileStamp identifies a version of a key file.
type fileStamp struct {
	mod  time.Time
	size int64
}

func stampOf(path string) fileStamp {
	fi, err := os.Stat(path)
	if err != nil {
		return fileStamp{}
	}
	return fileStamp{mod: fi.ModTime(), size: fi.Size()}
}

// GenerateKey returns a new random key in its text form (base64, 44 characters).
func GenerateKey() string {
	b := make([]byte, KeySize)
	_, _ = rand.Read(b) // crypto/rand.Read never fails
	return base64.StdEncoding.EncodeToString(b)
}

// Parse reads keys in their text form, separated by commas or newlines, current first.
func Parse(spec string) (*Keyring, error) {
	r, err := parseRing(spec)
	if err != nil {
		return nil, err
	}
	k := &Keyring{}
	k.state.Store(r)
	return k, nil
}

// NewRandom returns a keyring with one new random key (tests, and tools that need a throwaway keyring).
func NewRandom() *Keyring {
	k, err := Parse(GenerateKey())
	if err != nil {
		panic(err) // cannot happen: a generated key parses
	}
	return k
}

func parseRing(spec string) (*ring, error) {
	var keys []key
	sc := bufio.NewScanner(strings.NewReader(spec))
	for sc.Scan() {
		line := sc.Text()
		if i := strings.IndexByte(line, '#'); i >= 0 {
			line = line[:i]
		}
		for _, text := range strings.Split(line, ",") {
			if text = strings.TrimSpace(text); text == "" {
				continue
			}
			raw, err := decodeKey(text)
			if err != nil {
				return nil, fmt.Errorf("key %d: %w", len(keys)+1, err)
			}
			k, err := newKey(raw)
			if err != nil {
				return nil, err
			}
			keys = append(keys, k)
		}
	}
	if len(keys) == 0 {
		return nil, errors.New("no key given: want base64 of 32 random bytes (e.g. `openssl rand -base64 32`)")
	}
	r := &ring{keys: keys, byID: make(map[string]*key, len(keys))}
	for i := range r.keys {
		if _, dup := r.byID[r.keys[i].id]; !dup {
			r.byID[r.keys[i].id] = &r.keys[i]
		}
	}
	return r, nil
}

func decodeKey(s string) ([]byte, error) {
	for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.RawStdEncoding, base64.URLEncoding, base64.RawURLEncoding} {
		if b, err := enc.DecodeString(s); err == nil {
			if len(b) != KeySize {
				return nil, fmt.Errorf("is %d bytes, want %d (base64 of 32 random bytes)", len(b), KeySize)
			}
			return b, nil
		}
	}
	if b, err := hex.DecodeString(s); err == nil && len(b) == KeySize {
		return b, nil
	}
	return nil, errors.New("is not base64 (or hex) of 32 bytes")
}

func newKey(raw []byte) (key, error) {
	block, err := aes.NewCipher(raw)
	if err != nil {
		return key{}, fmt.Errorf("aes: %w", err)
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return key{}, fmt.Errorf("gcm: %w", err)
	}
	return key{id: keyID(raw), raw: raw, aead: aead}, nil
}

// keyID names a key without revealing it: 16 hex digits of an HMAC of a fixed label.
func keyID(raw []byte) string {
	m := hmac.New(sha256.New, raw)
	m.Write([]byte("hookd key id"))
	return hex.EncodeToString(m.Sum(nil)[:8])
}

// LoadFile reads the keyring of a key file. When the file does not exist and create is true it is created
// (with its directory) holding one new random key, with mode 0600; created reports that. A file readable by
// others than its owner is refused.
func LoadFile(path string, create bool) (k *Keyring, created bool, err error) {
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) && create {
		if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
			return nil, false, fmt.Errorf("create key file directory: %w", err)
		}
		text := keyFileText([]string{GenerateKey()})
		f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
		if errors.Is(err, fs.ErrExist) { // another process created it first
			return LoadFile(path, false)
		}
		if err != nil {
			return nil, false, fmt.Errorf("create key file: %w", err)
		}
		if _, err := f.WriteString(text); err != nil {
			_ = f.Close()
			return nil, false, fmt.Errorf("write key file: %w", err)
		}
		if err := f.Close(); err != nil {
			return nil, false, fmt.Errorf("write key file: %w", err)
		}
		b, created = []byte(text), true
	} else if err != nil {
		return nil, false, fmt.Errorf("read key file: %w", err)
	}
	if fi, err := os.Stat(path); err == nil && fi.Mode().Perm()&0o077 != 0 {
		return nil, false, fmt.Errorf("key file %s has mode %v: it must be readable by its owner only (chmod 600)", path, fi.Mode().Perm())
	}
	r, err := parseRing(string(b))
	if err != nil {
		return nil, false, fmt.Errorf("key file %s: %w", path, err)
	}
	k = &Keyring{path: path, fileStamp: stampOf(path)}
	k.state.Store(r)
	k.checkedNano.Store(time.Now().UnixNano())
	return k, created, nil
}

func keyFileText(keys []string) string {
	var b bytes.Buffer
	b.WriteString("# hookd secret keys (AES-256, base64). The first line encrypts; the others only decrypt.\n")
	b.WriteString("# Keep this file private (mode 0600) and back it up: without it the stored secrets are lost.\n")
	for _, k := range keys {
		b.WriteString(k + "\n")
	}
	return b.String()
}

// AddFileKey puts a new random key first in the key file at path (the old keys stay, and still decrypt) and
// returns the file's new keyring. Processes reading the file pick the new key up when they meet a value
// encrypted under it.
func AddFileKey(path string) (*Keyring, error) {
	old, _, err := LoadFile(path, false)
	if err != nil {
		return nil, err
	}
	texts := []string{GenerateKey()}
	for _, k := range old.state.Load().keys {
		texts = append(texts, base64.StdEncoding.EncodeToString(k.raw))
	}
	tmp := path + ".new"
	if err := os.WriteFile(tmp, []byte(keyFileText(texts)), 0o600); err != nil {
		return nil, fmt.Errorf("write key file: %w", err)
	}
	if err := os.Rename(tmp, path); err != nil {
		return nil, fmt.Errorf("replace key file: %w", err)
	}
	k, _, err := LoadFile(path, false)
	return k, err
}

// Path is the key file of the keyring ("" when its keys came from the environment).
func (k *Keyring) Path() string { return k.path }

// CurrentID is the id of the key that encrypts.
func (k *Keyring) CurrentID() string { return k.state.Load().keys[0].id }

// IDs lists the ids of every key, current first.
func (k *Keyring) IDs() []string {
	r := k.state.Load()
	out := make([]string, len(r.keys))
	for i, key := range r.keys {
		out[i] = key.id
	}
	return out
}

// Has reports whether the keyring holds the key with this id (re-reading its key file if it does not).
func (k *Keyring) Has(id string) bool { return k.lookup(id) != nil }

func (k *Keyring) lookup(id string) *key {
	if key := k.state.Load().byID[id]; key != nil {
		return key
	}
	if k.path == "" {
		return nil
	}
	k.mu.Lock()
	defer k.mu.Unlock()
	if time.Since(k.lastReload) < reloadInterval {
		return k.state.Load().byID[id]
	}
	k.reloadLocked()
	return k.state.Load().byID[id]
}

// reloadLocked re-reads the key file (k.mu held); a file that no longer loads leaves the keys as they are.
func (k *Keyring) reloadLocked() {
	k.lastReload = time.Now()
	if fresh, _, err := LoadFile(k.path, false); err == nil {
		k.state.Store(fresh.state.Load())
		k.fileStamp = fresh.fileStamp
	}
}

// refresh re-reads a key file that changed since it was read (checked at most once per reloadInterval), so
// that a running server encrypts under the key `hookd secrets rotate` put first instead of the one it started
// with. Keyrings from the environment cannot change: a server running with them needs a restart.
func (k *Keyring) refresh() {
	if k.path == "" {
		return
	}
	now := time.Now().UnixNano()
	last := k.checkedNano.Load()
	if now-last < int64(reloadInterval) || !k.checkedNano.CompareAndSwap(last, now) {
		return
	}
	st := stampOf(k.path)
	k.mu.Lock()
	defer k.mu.Unlock()
	if !st.mod.Equal(k.fileStamp.mod) || st.size != k.fileStamp.size {
		k.reloadLocked()
	}
}

// IsSealed reports whether v is an encrypted value (of any key).
func IsSealed(v string) bool { return strings.HasPrefix(v, sealedPrefix) }

// SealedKeyID returns the id of the key that encrypted v ("" when v is not encrypted).
func SealedKeyID(v string) string {
	if !IsSealed(v) {
		return ""
	}
	id, _, _ := strings.Cut(v[len(sealedPrefix):], ":")
	return id
}

// Seal encrypts plaintext under the current key; the empty string stays empty (it means "none" everywhere).
func (k *Keyring) Seal(plaintext string) string {
	if plaintext == "" {
		return ""
	}
	k.refresh()
	cur := &k.state.Load().keys[0]
	nonce := make([]byte, cur.aead.NonceSize(), cur.aead.NonceSize()+len(plaintext)+cur.aead.Overhead())
	_, _ = rand.Read(nonce)
	out := cur.aead.Seal(nonce, nonce, []byte(plaintext), []byte(cur.id))
	return sealedPrefix + cur.id + ":" + base64.RawURLEncoding.EncodeToString(out)
}

// Open decrypts a value made by Seal with any key of the keyring. A value that is not encrypted is returned
// as it is (rows written before encryption at rest, until the upgrade seals them).
func (k *Keyring) Open(v string) (string, error) {
	if !IsSealed(v) {
		return v, nil
	}
	id, body, ok := strings.Cut(v[len(sealedPrefix):], ":")
	if !ok {
		return "", errors.New("open secret: malformed encrypted value")
	}
	key := k.lookup(id)
	if key == nil {
		return "", fmt.Errorf("open secret: key %s: %w", id, ErrUnknownKey)
	}
	raw, err := base64.RawURLEncoding.DecodeString(body)
	if err != nil || len(raw) < key.aead.NonceSize() {
		return "", errors.New("open secret: malformed encrypted value")
	}
	n := key.aead.NonceSize()
	plain, err := key.aead.Open(nil, raw[:n], raw[n:], []byte(id))
	if err != nil {
		return "", fmt.Errorf("open secret: key %s: %w", id, err)
	}
	return string(plain), nil
}

// NeedsRotation reports whether v is stored in clear or under a key other than the current one.
func (k *Keyring) NeedsRotation(v string) bool {
	return v != "" && SealedKeyID(v) != k.CurrentID()
}

// MAC returns HMAC-SHA256 of msg under a key derived from the current key for purpose (e.g. "action-token"):
// different purposes never share a MAC key.
func (k *Keyring) MAC(purpose string, msg []byte) []byte {
	return mac(&k.state.Load().keys[0], purpose, msg)
}

// VerifyMAC reports whether m is MAC(purpose, msg) under any key of the keyring (constant time per key).
func (k *Keyring) VerifyMAC(purpose string, msg, m []byte) bool {
	r := k.state.Load()
	ok := false
	for i := range r.keys {
		if hmac.Equal(mac(&r.keys[i], purpose, msg), m) {
			ok = true
		}
	}
	return ok
}

func mac(k *key, purpose string, msg []byte) []byte {
	d := hmac.New(sha256.New, k.raw)
	d.Write([]byte("hookd mac key\x00" + purpose))
	m := hmac.New(sha256.New, d.Sum(nil))
	m.Write(msg)
	return m.Sum(nil)
}

// hashPrefix starts a stored key hash (HashKey).
const hashPrefix = "sha256:"

// HashKey returns what is stored of a bearer secret that hookd only needs to recognise (a trigger API key):
// "sha256:" + hex of its SHA-256. An empty key, or one that is already a hash, is returned as is.
func HashKey(key string) string {
	if key == "" || IsHash(key) {
		return key
	}
	h := sha256.Sum256([]byte(key))
	return hashPrefix + hex.EncodeToString(h[:])
}

// Masked is what callers that may not read a secret see in its place: private header and query values,
// webhook and trigger signature secrets, trigger API keys (stored as hashes, never shown again) and secrets
// whose key is gone. A client sending Masked back for a private value keeps the stored value.
const Masked = "********"

// IsHash reports whether v is a stored key hash made by HashKey.
func IsHash(v string) bool { return strings.HasPrefix(v, hashPrefix) }

// KeyMatches reports, in constant time, whether key is the secret whose stored form (HashKey) is stored. A hash
// presented as the key never matches.
func KeyMatches(stored, key string) bool {
	if stored == "" || key == "" || IsHash(key) {
		return false
	}
	want, got := HashKey(stored), HashKey(key)
	return subtle.ConstantTimeCompare([]byte(got), []byte(want)) == 1
}
