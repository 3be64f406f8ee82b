package signature

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/hookd/hookd/internal/store"
)

// HexBodyPrefix starts a SIGNATURE_STYLE_HEX_BODY signature: `sha256=<hex HMAC-SHA256 of the body>`.
const HexBodyPrefix = "sha256="

// Scheme is how a webhook's requests carry their id, time and signature: the Standard Webhooks headers by
// default, renamed and in another style for receivers migrating from another sender.
type Scheme struct {
	IDHeader        string
	TimestampHeader string
	SignatureHeader string
	Style           store.SignatureStyle
}

// SchemeOf returns the scheme of webhook w, its empty names replaced by the Standard Webhooks ones.
func SchemeOf(w *store.Webhook) Scheme {
	return Scheme{
		IDHeader:        orDefault(w.IDHeader, HeaderID),
		TimestampHeader: orDefault(w.TimestampHeader, HeaderTimestamp),
		SignatureHeader: orDefault(w.SignatureHeader, HeaderSignature),
		Style:           w.SignatureStyle,
	}
}

func orDefault(v, def string) string {
	if v == "" {
		return def
	}
	return v
}

// Set sets the id, timestamp and signature headers on h (the signature header last, so that it wins over any
// other header of the same name): for SignatureHexBody one `sha256=` signature per non-empty HMAC secret,
// space-separated; otherwise the Standard Webhooks value (Value).
func (sc Scheme) Set(h http.Header, msgID string, ts time.Time, body []byte, secrets ...string) {
	h.Set(sc.IDHeader, msgID)
	h.Set(sc.TimestampHeader, strconv.FormatInt(ts.Unix(), 10))
	if sc.Style != store.SignatureHexBody {
		h.Set(sc.SignatureHeader, Value(msgID, ts, body, secrets...))
		return
	}
	sigs := make([]string, 0, len(secrets))
	for _, s := range secrets {
		if s != "" && !IsPrivateKey(s) {
			sigs = append(sigs, HexBody(s, body))
		}
	}
	h.Set(sc.SignatureHeader, strings.Join(sigs, " "))
}

// HexBody returns `sha256=<hex HMAC-SHA256 of body>` keyed with the bytes of secret exactly as shown (`whsec_…`
// included), which is what a receiver written for GitHub computes with the secret it was given.
func HexBody(secret string, body []byte) string {
	m := hmac.New(sha256.New, []byte(secret))
	m.Write(body)
	return HexBodyPrefix + hex.EncodeToString(m.Sum(nil))
}
