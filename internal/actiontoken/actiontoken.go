// Package actiontoken makes and checks action-status tokens: the capability in `meta.link` that lets an
// async-status receiver finish one delivery without an API key. A token is derived — the delivery id, its resend
// count and an HMAC of both under the instance's secret key — so no token is stored anywhere, and a resend (a new
// count) makes the older tokens worthless.
package actiontoken

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"strconv"
	"strings"
)

// Purpose names the key hookd derives for action-status tokens.
const Purpose = "hookd action-status token v1"

// Keys computes and checks MACs under the instance's secret key (the secret package's Keyring).
type Keys interface {
	// MAC returns the HMAC-SHA256 of msg under the current key derived for purpose.
	MAC(purpose string, msg []byte) []byte
	// VerifyMAC reports whether mac is msg's MAC under a key of the keyring derived for purpose.
	VerifyMAC(purpose string, msg, mac []byte) bool
}

// New returns the token of a delivery at a resend count: "<delivery id>.<resends>.<base64url MAC>".
func New(keys Keys, deliveryID string, resends int) string {
	msg := message(deliveryID, resends)
	return string(msg) + "." + base64.RawURLEncoding.EncodeToString(keys.MAC(Purpose, msg))
}

// Parse checks a token and returns its delivery id and resend count; ok is false for anything not made by New
// with one of keys' keys.
func Parse(keys Keys, token string) (deliveryID string, resends int, ok bool) {
	rest, encoded, found := cutLast(token, ".")
	if !found {
		return "", 0, false
	}
	deliveryID, count, found := cutLast(rest, ".")
	if !found || deliveryID == "" || strings.ContainsAny(deliveryID, "./") {
		return "", 0, false
	}
	n, err := strconv.Atoi(count)
	if err != nil || n < 0 || strconv.Itoa(n) != count {
		return "", 0, false
	}
	mac, err := base64.RawURLEncoding.DecodeString(encoded)
	if err != nil || !keys.VerifyMAC(Purpose, message(deliveryID, n), mac) {
		return "", 0, false
	}
	return deliveryID, n, true
}

func message(deliveryID string, resends int) []byte {
	return []byte(deliveryID + "." + strconv.Itoa(resends))
}

func cutLast(s, sep string) (before, after string, found bool) {
	i := strings.LastIndex(s, sep)
	if i < 0 {
		return s, "", false
	}
	return s[:i], s[i+len(sep):], true
}

// Redact replaces every occurrence of token in s (an attempt's stored request body, URL or header) so that what
// hookd stores and logs holds no usable token.
func Redact(s, token string) string {
	if token == "" {
		return s
	}
	return strings.ReplaceAll(s, token, Redacted)
}

// Redacted stands in for a token in stored requests and logs.
const Redacted = "[redacted]"

// Static is Keys with one fixed key (tests and tools).
type Static []byte

// MAC implements Keys.
func (k Static) MAC(purpose string, msg []byte) []byte {
	sub := hmac.New(sha256.New, k)
	sub.Write([]byte(purpose))
	m := hmac.New(sha256.New, sub.Sum(nil))
	m.Write(msg)
	return m.Sum(nil)
}

// VerifyMAC implements Keys.
func (k Static) VerifyMAC(purpose string, msg, mac []byte) bool {
	return hmac.Equal(k.MAC(purpose, msg), mac)
}
