package storesql

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/jmoiron/sqlx"

	"github.com/hookd/hookd/internal/secret"
	"github.com/hookd/hookd/internal/store"
)

// Secrets at rest. The store encrypts on write and decrypts on read, so handlers and the sender only see
// plaintext: webhook signing secrets (current and previous), private header values of integrations and webhooks
// (and of attempt and execution logs), integration auth secrets (password, client secret, TLS private key),
// trigger signature secrets. Trigger API keys are kept as SHA-256 hashes.

// sealHeaders returns hs with private values encrypted (a copy; hs is not changed).
func (s *conn) sealHeaders(hs []store.Header) []store.Header {
	if !slices.ContainsFunc(hs, func(h store.Header) bool { return h.Private && !secret.IsSealed(h.Value) }) {
		return hs
	}
	out := slices.Clone(hs)
	for i := range out {
		if out[i].Private && !secret.IsSealed(out[i].Value) {
			out[i].Value = s.keys.Seal(out[i].Value)
		}
	}
	return out
}

// openHeaders decrypts private values in place.
func (s *conn) openHeaders(hs []store.Header) error {
	for i := range hs {
		if !hs[i].Private {
			continue
		}
		v, err := s.keys.Open(hs[i].Value)
		if err != nil {
			return fmt.Errorf("header %s: %w: %w", hs[i].Name, store.ErrSecretUnreadable, err)
		}
		hs[i].Value = v
	}
	return nil
}

// sealAuth returns a copy of a with its secrets encrypted (a is not changed).
func (s *Store) sealAuth(a *store.IntegrationAuth) *store.IntegrationAuth {
	c := *a
	for _, v := range c.Secrets() {
		if *v != "" && !secret.IsSealed(*v) {
			*v = s.keys.Seal(*v)
		}
	}
	return &c
}

// openAuth decrypts the secrets of a in place (a may be nil).
func (s *Store) openAuth(a *store.IntegrationAuth) error {
	if a == nil {
		return nil
	}
	for _, v := range a.Secrets() {
		if *v == "" {
			continue
		}
		plain, err := s.keys.Open(*v)
		if err != nil {
			return fmt.Errorf("integration auth: %w: %w", store.ErrSecretUnreadable, err)
		}
		*v = plain
	}
	return nil
}

// openOrEmpty decrypts v, or returns "" when it cannot be decrypted (a listed record whose key is gone).
func (s *conn) openOrEmpty(v string) string {
	out, err := s.keys.Open(v)
	if err != nil {
		return ""
	}
	return out
}

// listed is what a List does with a record whose conversion failed: a secret that cannot be decrypted is logged
// and the record is kept (degrade marks it); any other error fails the List.
func (s *Store) listed(ctx context.Context, kind, id string, err error, degrade func()) error {
	if !errors.Is(err, store.ErrSecretUnreadable) {
		return err
	}
	s.log.ErrorContext(ctx, "listed a record whose secrets cannot be decrypted; it is returned without them", "kind", kind, "id", id, "error", err)
	degrade()
	return nil
}

// openLogHeaders decrypts private values of a log record (or of a listed record whose secrets cannot all be
// decrypted) in place; a value whose key is gone (rotated out) reads as secret.Masked instead of failing the
// whole record.
func (s *conn) openLogHeaders(hs []store.Header) {
	for i := range hs {
		if !hs[i].Private {
			continue
		}
		v, err := s.keys.Open(hs[i].Value)
		if err != nil {
			v = secret.Masked
		}
		hs[i].Value = v
	}
}

// sealedAttempt returns a with its private request header values encrypted (a shallow copy).
func (s *conn) sealedAttempt(a *store.Attempt) *store.Attempt {
	c := *a
	c.RequestHeaders = s.sealHeaders(a.RequestHeaders)
	return &c
}

// attemptRecord converts a stored attempt, decrypting private header values.
func (s *conn) attemptRecord(r attemptRow) (store.Attempt, error) {
	a, err := r.record()
	if err != nil {
		return a, err
	}
	s.openLogHeaders(a.RequestHeaders)
	return a, nil
}

func (s *conn) openSecret(what, v string) (string, error) {
	out, err := s.keys.Open(v)
	if err != nil {
		return "", fmt.Errorf("%s: %w: %w", what, store.ErrSecretUnreadable, err)
	}
	return out, nil
}

// keyring lists the key ids that encrypted the database's secrets; see prepareSecrets.
const (
	lockSecretKeysPG  = `LOCK TABLE secret_keys IN EXCLUSIVE MODE`
	activeSecretKeys  = `SELECT key_id FROM secret_keys WHERE retire_time IS NULL`
	insertSecretKeyPG = `INSERT INTO secret_keys (key_id, create_time) VALUES ($1, $2) ON CONFLICT (key_id) DO UPDATE SET retire_time = NULL`
	insertSecretKeySQ = `INSERT INTO secret_keys (key_id, create_time) VALUES (?, ?) ON CONFLICT (key_id) DO UPDATE SET retire_time = NULL`
	retireSecretKey   = `UPDATE secret_keys SET retire_time = ? WHERE key_id = ? AND retire_time IS NULL`
)

// ErrForeignKey is returned by Open when the database holds secrets encrypted under a key the keyring lacks.
var ErrForeignKey = errors.New("the database's secrets are encrypted under a key this process does not hold")

// prepareSecrets runs at Open (every start): it refuses a keyring that lacks a key the database's secrets use
// (naming the key id and how many stored values need it), re-encrypts under the current key every secret stored
// under another key or in clear (values a process running with older keys wrote after a rotation, and those
// 0001 stored in clear), registers the current key and retires the keys nothing stored uses any more. All in one
// transaction, so processes starting together do it once.
func (s *Store) prepareSecrets(ctx context.Context) error {
	return s.inTx(ctx, func(tx *sqlx.Tx) error {
		if s.pg() {
			if _, err := tx.ExecContext(ctx, lockSecretKeysPG); err != nil {
				return wrap("lock secret keys", err)
			}
		}
		var active []string
		if err := tx.SelectContext(ctx, &active, activeSecretKeys); err != nil {
			return wrap("list secret keys", err)
		}
		for _, id := range active {
			if !s.keys.Has(id) {
				return fmt.Errorf("%w (key id %s; this process holds %s): every process of a cluster needs the same %s, or the key file of the process that created the database",
					ErrForeignKey, id, strings.Join(s.keys.IDs(), ", "), secret.EnvVar)
			}
		}
		res, err := s.reseal(ctx, tx, s.keys.NeedsRotation)
		if err != nil {
			return err
		}
		for _, id := range slices.Sorted(maps.Keys(res.Remaining)) {
			if !s.keys.Has(id) {
				return fmt.Errorf("%w: %d stored secret values are encrypted under key id %s, which this process does not hold (it holds %s); add that key back to %s or the key file (after the current one) and start again: the values are then re-encrypted under the current key and the old key can go",
					ErrForeignKey, res.Remaining[id], id, strings.Join(s.keys.IDs(), ", "), secret.EnvVar)
			}
		}
		s.resealedAtOpen = res
		if n := res.Webhooks + res.Integrations + res.Triggers; n > 0 {
			s.log.InfoContext(ctx, "re-encrypted stored secrets under the current key", "key_id", s.keys.CurrentID(),
				"webhooks", res.Webhooks, "integrations", res.Integrations, "triggers", res.Triggers)
		}
		return s.registerKeys(ctx, tx, res.Remaining)
	})
}

// registerKeys registers the current key and retires every other registered key that no stored value uses.
func (s *conn) registerKeys(ctx context.Context, tx *sqlx.Tx, remaining map[string]int) error {
	q := insertSecretKeySQ
	if s.pg() {
		q = insertSecretKeyPG
	}
	now := ts(time.Now())
	if _, err := tx.ExecContext(ctx, q, s.keys.CurrentID(), now); err != nil {
		return wrap("register secret key", err)
	}
	var active []string
	if err := tx.SelectContext(ctx, &active, activeSecretKeys); err != nil {
		return wrap("list secret keys", err)
	}
	for _, id := range active {
		if id == s.keys.CurrentID() || remaining[id] > 0 {
			continue
		}
		if _, err := tx.ExecContext(ctx, s.rebind(retireSecretKey), now, id); err != nil {
			return wrap("retire secret key", err)
		}
	}
	return nil
}

// RotateResult counts the rows RotateSecrets (and the Open before it) re-encrypted.
type RotateResult struct {
	Webhooks     int
	Integrations int
	Triggers     int
	// KeyID is the key everything is now encrypted under.
	KeyID string
	// Remaining counts, by key id, the stored values still under another key (they could not be decrypted);
	// empty when every secret is under KeyID. A key with values here is not retired.
	Remaining map[string]int
}

// RotateSecrets re-encrypts every stored secret under the keyring's current key (values under older keys, and
// any left in clear) and retires the other key ids that no stored value uses, so that processes may drop those
// keys afterwards. A server already running keeps encrypting under the key it started with until it restarts
// (every start re-encrypts what it wrote); a later RotateSecrets reports such values in Remaining only if they
// cannot be decrypted, else it re-encrypts them. Attempt and execution logs are not rewritten: their private
// values under a dropped key read as "********".
func (s *Store) RotateSecrets(ctx context.Context) (RotateResult, error) {
	var res RotateResult
	err := s.inTx(ctx, func(tx *sqlx.Tx) error {
		if s.pg() {
			if _, err := tx.ExecContext(ctx, lockSecretKeysPG); err != nil {
				return wrap("lock secret keys", err)
			}
		}
		var err error
		if res, err = s.reseal(ctx, tx, s.keys.NeedsRotation); err != nil {
			return err
		}
		return s.registerKeys(ctx, tx, res.Remaining)
	})
	// Open re-encrypted what it found under older keys already: count it too.
	res.Webhooks += s.resealedAtOpen.Webhooks
	res.Integrations += s.resealedAtOpen.Integrations
	res.Triggers += s.resealedAtOpen.Triggers
	s.resealedAtOpen = RotateResult{}
	return res, err
}

// reseal re-encrypts under the current key every secret value for which need is true, and hashes trigger API
// keys stored in clear. The rows are locked (FOR UPDATE on PostgreSQL; SQLite's write transaction excludes other
// writers), so a concurrent API write is never overwritten with an older value.
func (s *Store) reseal(ctx context.Context, tx *sqlx.Tx, need func(string) bool) (RotateResult, error) {
	res := RotateResult{KeyID: s.keys.CurrentID(), Remaining: map[string]int{}}
	forUpdate := ""
	if s.pg() {
		forUpdate = " FOR UPDATE"
	}
	// count notes, for every stored value after the pass, the key it is under unless it is the current one.
	count := func(v string) string {
		if v != "" && secret.SealedKeyID(v) != s.keys.CurrentID() {
			res.Remaining[secret.SealedKeyID(v)]++
		}
		return v
	}
	again := func(v string) string {
		if !need(v) {
			return count(v)
		}
		plain, err := s.keys.Open(v)
		if err != nil {
			return count(v) // unreadable: left as is, and reported
		}
		return count(s.keys.Seal(plain))
	}
	headersAgain := func(raw jsonText) (textArg, bool, error) {
		var hs []store.Header
		if err := raw.decode(&hs); err != nil {
			return nil, false, err
		}
		changed := false
		for i := range hs {
			if !hs[i].Private {
				continue
			}
			if v := again(hs[i].Value); v != hs[i].Value {
				hs[i].Value, changed = v, true
			}
		}
		if !changed {
			return nil, false, nil
		}
		b, err := jsonArg(nonNil(hs))
		return b, true, err
	}

	authAgain := func(raw jsonText) (textArg, bool, error) {
		if len(raw) == 0 {
			return nil, false, nil
		}
		var a store.IntegrationAuth
		if err := raw.decode(&a); err != nil {
			return nil, false, err
		}
		changed := false
		for _, v := range a.Secrets() {
			if *v != "" && need(*v) {
				*v, changed = again(*v), true
			}
		}
		if !changed {
			return nil, false, nil
		}
		b, err := jsonArg(a)
		return b, true, err
	}

	var whs []struct {
		ID             string   `db:"id"`
		Secret         string   `db:"secret"`
		PreviousSecret string   `db:"previous_secret"`
		Headers        jsonText `db:"headers"`
	}
	if err := tx.SelectContext(ctx, &whs, `SELECT id, secret, previous_secret, headers FROM webhooks`+forUpdate); err != nil {
		return res, wrap("reseal webhooks", err)
	}
	for _, w := range whs {
		h, hChanged, err := headersAgain(w.Headers)
		if err != nil {
			return res, err
		}
		sec, prev := again(w.Secret), again(w.PreviousSecret)
		if !hChanged && sec == w.Secret && prev == w.PreviousSecret {
			continue
		}
		q, args := `UPDATE webhooks SET secret = ?, previous_secret = ? WHERE id = ?`, []any{sec, prev, w.ID}
		if hChanged {
			q, args = `UPDATE webhooks SET secret = ?, previous_secret = ?, headers = ? WHERE id = ?`, []any{sec, prev, h, w.ID}
		}
		if _, err := tx.ExecContext(ctx, s.rebind(q), args...); err != nil {
			return res, wrap("reseal webhook", err)
		}
		res.Webhooks++
	}

	var ins []struct {
		ID      string   `db:"id"`
		Headers jsonText `db:"headers"`
		Auth    jsonText `db:"auth"`
	}
	if err := tx.SelectContext(ctx, &ins, `SELECT id, headers, auth FROM integrations`+forUpdate); err != nil {
		return res, wrap("reseal integrations", err)
	}
	for _, in := range ins {
		h, hChanged, err := headersAgain(in.Headers)
		if err != nil {
			return res, err
		}
		a, aChanged, err := authAgain(in.Auth)
		if err != nil {
			return res, err
		}
		if !hChanged && !aChanged {
			continue
		}
		if !hChanged {
			h = textArg(in.Headers)
		}
		var auth any // NULL stays NULL
		if len(in.Auth) > 0 {
			auth = textArg(in.Auth)
		}
		if aChanged {
			auth = a
		}
		if _, err := tx.ExecContext(ctx, s.rebind(`UPDATE integrations SET headers = ?, auth = ? WHERE id = ?`), h, auth, in.ID); err != nil {
			return res, wrap("reseal integration", err)
		}
		res.Integrations++
	}

	var trs []struct {
		ID        string   `db:"id"`
		APIKey    string   `db:"api_key"`
		Signature jsonText `db:"signature"`
	}
	if err := tx.SelectContext(ctx, &trs, `SELECT id, api_key, signature FROM triggers`+forUpdate); err != nil {
		return res, wrap("reseal triggers", err)
	}
	for _, t := range trs {
		var sig store.TriggerSignature
		if err := t.Signature.decode(&sig); err != nil {
			return res, err
		}
		key := secret.HashKey(t.APIKey)
		newSecret := again(sig.Secret)
		if key == t.APIKey && newSecret == sig.Secret {
			continue
		}
		sig.Secret = newSecret
		b, err := jsonArg(sig)
		if err != nil {
			return res, err
		}
		if _, err := tx.ExecContext(ctx, s.rebind(`UPDATE triggers SET api_key = ?, signature = ? WHERE id = ?`), key, b, t.ID); err != nil {
			return res, wrap("reseal trigger", err)
		}
		res.Triggers++
	}
	return res, nil
}
