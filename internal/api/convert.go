package api

import (
	"bytes"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"regexp"
	"strings"
	"unicode/utf8"

	"golang.org/x/net/http/httpguts"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/types/known/structpb"

	hookdv1 "github.com/hookd/hookd/gen/go/hookd/v1"
	"github.com/hookd/hookd/internal/apierr"
	"github.com/hookd/hookd/internal/netguard"
	"github.com/hookd/hookd/internal/render"
	"github.com/hookd/hookd/internal/secret"
	"github.com/hookd/hookd/internal/store"
)

// Limits of the foundation resources' fields.
const (
	maxNameLen        = 200
	maxDescriptionLen = 2000
	maxHeaders        = 50
	maxHeaderNameLen  = 256
	maxHeaderValueLen = 8 << 10
	maxURLLen         = 4 << 10
	maxTemplateLen    = 256 << 10
	maxJSONDocBytes   = 256 << 10
)

// maxHeadersBytes caps the names and values of one list of headers together (an integration's, a webhook's):
// more than receivers accept (most take 8-16 KiB of headers), and few enough that a page of integrations stays
// small.
const maxHeadersBytes = 32 << 10

// reservedHeaders are set by hookd itself (Standard Webhooks headers) or by the HTTP client; users cannot set them.
var reservedHeaders = map[string]bool{
	"webhook-id": true, "webhook-timestamp": true, "webhook-signature": true,
	"host": true, "content-length": true, "transfer-encoding": true, "connection": true,
}

// checkName checks a required human-readable name of at most max characters.
func checkName(field, v string, max int) error {
	switch {
	case strings.TrimSpace(v) == "":
		return apierr.Invalid(field, "is required")
	case utf8.RuneCountInString(v) > max:
		return apierr.Invalid(field, "is longer than %d characters", max)
	case !utf8.ValidString(v):
		return apierr.Invalid(field, "is not valid UTF-8")
	}
	return nil
}

// checkDescription checks an optional free-text field.
func checkDescription(field, v string) error {
	if utf8.RuneCountInString(v) > maxDescriptionLen {
		return apierr.Invalid(field, "is longer than %d characters", maxDescriptionLen)
	}
	return nil
}

// roleFromProto maps a proto role to the store's; ROLE_UNSPECIFIED and unknown values are refused.
func roleFromProto(r hookdv1.Role) (store.Role, error) {
	switch r {
	case hookdv1.Role_ROLE_ADMIN:
		return store.RoleAdmin, nil
	case hookdv1.Role_ROLE_MEMBER:
		return store.RoleMember, nil
	case hookdv1.Role_ROLE_VIEWER:
		return store.RoleViewer, nil
	case hookdv1.Role_ROLE_UNSPECIFIED:
		return "", apierr.Invalid("role", "is required (ROLE_ADMIN, ROLE_MEMBER or ROLE_VIEWER)")
	default:
		return "", apierr.Invalid("role", "%d is not a known role", int32(r))
	}
}

func roleToProto(r store.Role) hookdv1.Role {
	switch r {
	case store.RoleAdmin:
		return hookdv1.Role_ROLE_ADMIN
	case store.RoleMember:
		return hookdv1.Role_ROLE_MEMBER
	case store.RoleViewer:
		return hookdv1.Role_ROLE_VIEWER
	default:
		return hookdv1.Role_ROLE_UNSPECIFIED
	}
}

// isHeaderToken reports whether s is a valid HTTP header name (an RFC 9110 token).
func isHeaderToken(s string) bool { return httpguts.ValidHeaderFieldName(s) }

// checkHeaderValue refuses control characters (CR, LF, NUL …) except horizontal tab.
func checkHeaderValue(v string) error {
	if len(v) > maxHeaderValueLen {
		return fmt.Errorf("is longer than %d bytes", maxHeaderValueLen)
	}
	for i := 0; i < len(v); i++ {
		if c := v[i]; (c < 0x20 && c != '\t') || c == 0x7f {
			return fmt.Errorf("must not contain control characters such as CR or LF (byte %d)", i)
		}
	}
	return nil
}

// headersFromProto validates a header list (field names the list, e.g. "headers") that replaces old. The mask
// never overwrites a stored value: a header sent with the value secret.Masked keeps the stored private value of
// the same name in old (so a list read by a MEMBER can be sent back unchanged), whatever its private flag, and is
// refused when there is none (the mask itself is never stored). Only an ADMIN (admin) may make a stored private
// header public: a MEMBER sending private: false for it gets permission_denied. With templates, values are
// parsed as templates.
func headersFromProto(field string, in []*hookdv1.Header, old []store.Header, templates, admin bool) ([]store.Header, error) {
	if len(in) > maxHeaders {
		return nil, apierr.Invalid(field, "has %d headers; the limit is %d", len(in), maxHeaders)
	}
	out := make([]store.Header, 0, len(in))
	seen := map[string]bool{}
	total := 0
	for i, h := range in {
		f := fmt.Sprintf("%s[%d]", field, i)
		name := strings.TrimSpace(h.GetName())
		switch {
		case !isHeaderToken(name):
			return nil, apierr.Invalid(f+".name", "%q is not a valid HTTP header name", h.GetName())
		case len(name) > maxHeaderNameLen:
			return nil, apierr.Invalid(f+".name", "is longer than %d characters", maxHeaderNameLen)
		case reservedHeaders[strings.ToLower(name)]:
			return nil, apierr.Invalid(f+".name", "%s is set by hookd and cannot be configured", name)
		case seen[strings.ToLower(name)]:
			return nil, apierr.Invalid(f+".name", "header %s is listed twice", name)
		}
		seen[strings.ToLower(name)] = true
		kept, stored := storedPrivate(old, name)
		if stored && !h.GetPrivate() && !admin {
			return nil, apierr.PermissionDenied(fmt.Sprintf("%s.private: %s holds a private value; only an ADMIN key may make it "+
				"public (to replace it with a public value, remove the header and save, then add it again)", f, name))
		}
		value := h.GetValue()
		if value == secret.Masked {
			if !stored {
				return nil, apierr.Invalid(f+".value", "is the mask %s but no private value of %s is stored to keep", secret.Masked, name)
			}
			value = kept
		} else {
			if err := checkHeaderValue(value); err != nil {
				return nil, apierr.Invalid(f+".value", "%v", err)
			}
			if templates {
				if _, err := render.Parse(f+".value", value); err != nil {
					return nil, apierr.Invalid(f+".value", "%v", err)
				}
			}
		}
		if total += len(name) + len(value); total > maxHeadersBytes {
			return nil, apierr.Invalid(field, "headers hold more than %d bytes of names and values together", maxHeadersBytes)
		}
		out = append(out, store.Header{Name: name, Value: value, Private: h.GetPrivate()})
	}
	return out, nil
}

// storedPrivate returns the value of the private header called name (case-insensitively) in hs.
func storedPrivate(hs []store.Header, name string) (string, bool) {
	for _, h := range hs {
		if h.Private && strings.EqualFold(h.Name, name) {
			return h.Value, true
		}
	}
	return "", false
}

// checkTemplateURL checks a target URL that may use template variables in its path and query (never in the scheme,
// host, port, user info or fragment): it must parse as a URL template, and its static part must pass netguard.
func checkTemplateURL(field, raw string, dev bool) error {
	if len(raw) > maxURLLen {
		return apierr.Invalid(field, "is longer than %d bytes", maxURLLen)
	}
	if _, err := render.ParseURL(field, raw); err != nil {
		return apierr.Invalid(field, "%v", err)
	}
	sample := raw
	if i := render.ActionIndex(raw); i >= 0 {
		sample = raw[:i]
	}
	if err := netguard.CheckURL(sample, dev); err != nil {
		return apierr.Invalid(field, "%v", err)
	}
	return nil
}

// structToJSON encodes an optional Struct; nil or empty gives nil (unset).
func structToJSON(field string, s *structpb.Struct) (json.RawMessage, error) {
	if s == nil || len(s.GetFields()) == 0 {
		return nil, nil
	}
	b, err := compactJSON(s)
	if err != nil {
		return nil, apierr.Invalid(field, "cannot be encoded as JSON: %v", err)
	}
	if len(b) > maxJSONDocBytes {
		return nil, apierr.Invalid(field, "is %d bytes of JSON; the limit is %d", len(b), maxJSONDocBytes)
	}
	return b, nil
}

// compactJSON encodes a Struct as compact JSON (protojson's output spacing is deliberately unstable).
func compactJSON(s *structpb.Struct) ([]byte, error) {
	b, err := protojson.Marshal(s)
	if err != nil {
		return nil, err
	}
	var buf bytes.Buffer
	if err := json.Compact(&buf, b); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// jsonToStruct decodes stored JSON; empty, null or non-object JSON gives nil.
func jsonToStruct(raw json.RawMessage) *structpb.Struct {
	if len(raw) == 0 || string(raw) == "null" {
		return nil
	}
	s := &structpb.Struct{}
	if err := protojson.Unmarshal(raw, s); err != nil {
		return nil
	}
	return s
}

// newWebhookSecret returns "whsec_" + base64 of 24 random bytes (the Standard Webhooks secret format).
func newWebhookSecret() (string, error) {
	var b [24]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", fmt.Errorf("generate webhook secret: %w", err)
	}
	return "whsec_" + base64.StdEncoding.EncodeToString(b[:]), nil
}

var (
	systemNameRE = regexp.MustCompile(`^[A-Za-z0-9_.-]{1,100}$`)
	slugDropRE   = regexp.MustCompile(`[^a-z0-9_.-]+`)
)

// slug derives a default system name from a name: lower case, runs of other characters as "_".
func slug(name string) string {
	s := slugDropRE.ReplaceAllString(strings.ToLower(name), "_")
	s = strings.Trim(s, "_.-")
	if len(s) > 100 {
		s = strings.TrimRight(s[:100], "_.-")
	}
	if s == "" {
		s = "webhook"
	}
	return s
}
