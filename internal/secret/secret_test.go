package secret

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestSealOpen(t *testing.T) {
	t.Parallel()
	k := NewRandom()
	for _, v := range []string{"whsec_abc", "Bearer TOPSECRET-123", "ünïcode", strings.Repeat("x", 10000)} {
		sealed := k.Seal(v)
		if !IsSealed(sealed) || strings.Contains(sealed, v) {
			t.Fatalf("Seal(%.20q) = %.40q: want an encrypted value without the plaintext", v, sealed)
		}
		if SealedKeyID(sealed) != k.CurrentID() {
			t.Fatalf("key id %q, want %q", SealedKeyID(sealed), k.CurrentID())
		}
		got, err := k.Open(sealed)
		if err != nil || got != v {
			t.Fatalf("Open = %.20q, %v; want %.20q", got, err, v)
		}
	}
	if k.Seal("") != "" {
		t.Fatal("Seal(\"\") must stay empty")
	}
	if a, b := k.Seal("same"), k.Seal("same"); a == b {
		t.Fatal("two seals of one value are equal: the nonce is not random")
	}
	if got, err := k.Open("legacy plaintext"); err != nil || got != "legacy plaintext" {
		t.Fatalf("Open(plaintext) = %q, %v; want it unchanged", got, err)
	}
	// Tampering is detected.
	sealed := []byte(k.Seal("value"))
	sealed[len(sealed)-2] ^= 1
	if _, err := k.Open(string(sealed)); err == nil {
		t.Fatal("Open of a tampered value succeeded")
	}
	// Another keyring cannot open it.
	if _, err := NewRandom().Open(k.Seal("value")); !errors.Is(err, ErrUnknownKey) {
		t.Fatalf("Open with another keyring = %v, want ErrUnknownKey", err)
	}
}

func TestRotation(t *testing.T) {
	t.Parallel()
	oldKey, newKey := GenerateKey(), GenerateKey()
	old, err := Parse(oldKey)
	if err != nil {
		t.Fatal(err)
	}
	both, err := Parse(newKey + "," + oldKey)
	if err != nil {
		t.Fatal(err)
	}
	sealed := old.Seal("whsec_x")
	if !both.NeedsRotation(sealed) || old.NeedsRotation(sealed) {
		t.Fatal("NeedsRotation: want true under the new keyring only")
	}
	got, err := both.Open(sealed)
	if err != nil || got != "whsec_x" {
		t.Fatalf("old value under the rotated keyring: %q, %v", got, err)
	}
	if SealedKeyID(both.Seal("v")) != both.CurrentID() || both.CurrentID() == old.CurrentID() {
		t.Fatal("the rotated keyring must encrypt under the new key")
	}
	m := old.MAC("action-token", []byte("dlv_1"))
	if !both.VerifyMAC("action-token", []byte("dlv_1"), m) {
		t.Fatal("a MAC of the old key must verify under the rotated keyring")
	}
	if both.VerifyMAC("other-purpose", []byte("dlv_1"), m) || both.VerifyMAC("action-token", []byte("dlv_2"), m) {
		t.Fatal("a MAC verified for another purpose or message")
	}
	if bytes.Equal(both.MAC("a", []byte("x")), both.MAC("b", []byte("x"))) {
		t.Fatal("purposes share a MAC key")
	}
}

func TestParseErrors(t *testing.T) {
	t.Parallel()
	for _, spec := range []string{"", "  ,  ", "not base64!", "c2hvcnQ=", GenerateKey() + ",nope"} {
		if _, err := Parse(spec); err == nil {
			t.Errorf("Parse(%q) = nil error", spec)
		}
	}
}

func TestKeyFile(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "data", KeyFileName)
	k, created, err := LoadFile(path, true)
	if err != nil || !created {
		t.Fatalf("LoadFile(create) = %v, created %v", err, created)
	}
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Fatalf("key file mode %v, want 0600", fi.Mode().Perm())
	}
	again, created, err := LoadFile(path, true)
	if err != nil || created || again.CurrentID() != k.CurrentID() {
		t.Fatalf("second LoadFile: %v, created %v, id %s vs %s", err, created, again.CurrentID(), k.CurrentID())
	}
	sealed := k.Seal("s3cr3t")
	rotated, err := AddFileKey(path)
	if err != nil {
		t.Fatal(err)
	}
	if rotated.CurrentID() == k.CurrentID() || len(rotated.IDs()) != 2 {
		t.Fatalf("after AddFileKey: ids %v", rotated.IDs())
	}
	if got, err := rotated.Open(sealed); err != nil || got != "s3cr3t" {
		t.Fatalf("old value after AddFileKey: %q, %v", got, err)
	}
	// A process still holding the old keyring reads the file again when it meets the new key.
	if got, err := k.Open(rotated.Seal("new")); err != nil || got != "new" {
		t.Fatalf("old keyring opening a value of the new key: %q, %v", got, err)
	}
	if err := os.Chmod(path, 0o644); err != nil {
		t.Fatal(err)
	}
	if _, _, err := LoadFile(path, false); err == nil {
		t.Fatal("a world-readable key file was accepted")
	}
}

// A server started before `hookd secrets rotate` encrypts under the key the rotation put first in the key file
// (re-read when it changed, at most once per reloadInterval), not under the key it started with.
func TestSealFollowsKeyFile(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), KeyFileName)
	running, _, err := LoadFile(path, true)
	if err != nil {
		t.Fatal(err)
	}
	started := running.CurrentID()
	rotated, err := AddFileKey(path)
	if err != nil {
		t.Fatal(err)
	}
	if got := SealedKeyID(running.Seal("x")); got != started {
		t.Fatalf("within reloadInterval of the last check: sealed under %s, want the old key %s", got, started)
	}
	running.checkedNano.Store(0) // reloadInterval has passed
	if got := SealedKeyID(running.Seal("x")); got != rotated.CurrentID() {
		t.Fatalf("after the rotation: sealed under %s, want the new key %s", got, rotated.CurrentID())
	}
	if v, err := running.Open(running.Seal("y")); err != nil || v != "y" {
		t.Fatalf("Open = %q, %v", v, err)
	}
}
