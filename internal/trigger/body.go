package trigger

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"mime/multipart"
	"net/url"
	"strings"
	"unicode/utf8"
)

// Errors of parseBody; their text is the public 400 answer (a sentence, as the product documents give it).
var (
	errMalformedJSON      = errors.New("Received malformed JSON payload.")      //lint:ignore ST1005 the public answer, verbatim
	errMalformedMultipart = errors.New("Received malformed multipart payload.") //lint:ignore ST1005 the public answer, verbatim
)

// maxNumberLen is the longest JSON number literal kept verbatim; longer ones (and exponents) become float64s so
// that every backend's JSON column accepts them.
const maxNumberLen = 64

// parsedBody is a request body as published: Data is JSON-marshalable, Raw is text or base64.
type parsedBody struct {
	// MediaType is the lowercased media type without parameters ("" when absent or unparsable).
	MediaType string
	// Data is the parsed body: a JSON value (a compacted json.RawMessage when the body is storable as is, else a
	// decoded value), form fields, multipart parts, text, or nil (binary or empty).
	Data any
	// Raw is the body as text, or base64 when RawBase64.
	Raw string
	// RawBase64 is true when the body is not storable text (invalid UTF-8 or NUL bytes).
	RawBase64 bool
}

// parseBody parses a request body by its content type. JSON and multipart bodies that do not parse give
// errMalformedJSON or errMalformedMultipart (Raw is still set). Strings in Data never hold NUL or invalid UTF-8;
// Data may share body's memory, which must not change afterwards.
func parseBody(contentType string, body []byte) (parsedBody, error) {
	var p parsedBody
	p.Raw, p.RawBase64 = rawText(body)
	mt, params, err := mime.ParseMediaType(contentType)
	if err == nil {
		p.MediaType = mt
	}
	if len(body) == 0 {
		return p, nil
	}
	switch {
	case isJSON(p.MediaType):
		if !p.RawBase64 && json.Valid(body) && verbatim(body) {
			p.Data = compactJSON(body)
			break
		}
		v, err := parseJSON(body)
		if err != nil {
			return p, errMalformedJSON
		}
		p.Data = v
	case p.MediaType == "application/x-www-form-urlencoded":
		// Bad escapes keep the fields parsed so far: forms from real senders are often sloppy.
		vals, _ := url.ParseQuery(string(body))
		p.Data = fields(vals)
	case p.MediaType == "multipart/form-data":
		v, err := parseMultipart(body, params["boundary"])
		if err != nil {
			return p, errMalformedMultipart
		}
		p.Data = v
	case isText(p.MediaType) || (contentType == "" && !p.RawBase64):
		p.Data = clean(string(body))
	}
	return p, nil
}

func isJSON(mt string) bool {
	return mt == "application/json" || mt == "text/json" || strings.HasSuffix(mt, "+json")
}

func isText(mt string) bool {
	return strings.HasPrefix(mt, "text/") || mt == "application/xml" || strings.HasSuffix(mt, "+xml") ||
		mt == "application/javascript" || mt == "application/yaml"
}

// rawText returns body as text, or as base64 when it is not valid UTF-8 or holds NUL bytes (which
// PostgreSQL text columns refuse).
func rawText(body []byte) (string, bool) {
	if utf8.Valid(body) && bytes.IndexByte(body, 0) < 0 {
		return string(body), false
	}
	return base64.StdEncoding.EncodeToString(body), true
}

// clean makes s storable in every backend's text and JSON columns: invalid UTF-8 and NUL become U+FFFD.
func clean(s string) string {
	s = strings.ToValidUTF8(s, "\uFFFD")
	return strings.ReplaceAll(s, "\x00", "\uFFFD")
}

// verbatim reports whether valid JSON can be stored as sent (compacted): its strings hold no \u0000 or surrogate
// escapes (which some backends refuse) and its numbers have no exponent and at most maxNumberLen characters.
// It errs on the safe side: a false answer only sends the body through parseJSON, which normalizes those values.
func verbatim(b []byte) bool {
	inString := false
	for i := 0; i < len(b); i++ {
		c := b[i]
		if inString {
			switch c {
			case '\\':
				// b is valid JSON: an escape is complete, and \u has four hex digits.
				if b[i+1] == 'u' && (b[i+2] == 'd' || b[i+2] == 'D' || string(b[i+2:i+6]) == "0000") {
					return false
				}
				i++
			case '"':
				inString = false
			}
			continue
		}
		switch {
		case c == '"':
			inString = true
		case c == '-' || '0' <= c && c <= '9':
			j := i
			for ; j < len(b) && strings.IndexByte("0123456789.+-eE", b[j]) >= 0; j++ {
				if b[j] == 'e' || b[j] == 'E' {
					return false
				}
			}
			if j-i > maxNumberLen {
				return false
			}
			i = j - 1
		}
	}
	return true
}

// compactJSON returns valid JSON without insignificant whitespace; JSON without any whitespace byte is returned
// as is (the result may share b's memory).
func compactJSON(b []byte) json.RawMessage {
	if !bytes.ContainsAny(b, " \t\r\n") {
		return b
	}
	var buf bytes.Buffer
	buf.Grow(len(b))
	_ = json.Compact(&buf, b) // cannot fail: b is valid
	return buf.Bytes()
}

// decodeJSON decodes a JSON value parseBody returned as json.RawMessage (numbers as json.Number).
func decodeJSON(raw json.RawMessage) (any, error) {
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, fmt.Errorf("decode json: %w", err)
	}
	return v, nil
}

// parseJSON decodes exactly one JSON value, keeping numbers exact where the backends can store them.
func parseJSON(body []byte) (any, error) {
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, fmt.Errorf("decode json: %w", err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, errors.New("decode json: data after the value")
	}
	return sanitize(v)
}

// sanitize cleans every string and object key and normalizes numbers out of the backends' range.
func sanitize(v any) (any, error) {
	switch x := v.(type) {
	case string:
		return clean(x), nil
	case json.Number:
		f, err := x.Float64()
		if err != nil {
			return nil, fmt.Errorf("number %.20s…: %w", x, err)
		}
		if len(x) > maxNumberLen || strings.ContainsAny(string(x), "eE") {
			return f, nil
		}
		return x, nil
	case []any:
		for i := range x {
			c, err := sanitize(x[i])
			if err != nil {
				return nil, err
			}
			x[i] = c
		}
		return x, nil
	case map[string]any:
		out := make(map[string]any, len(x))
		for k, e := range x {
			c, err := sanitize(e)
			if err != nil {
				return nil, err
			}
			out[clean(k)] = c
		}
		return out, nil
	default:
		return v, nil
	}
}

// fields turns form values into an object: one value → string, repeated names → array of strings.
func fields(vals url.Values) map[string]any {
	out := make(map[string]any, len(vals))
	for k, vs := range vals {
		if len(vs) == 1 {
			out[clean(k)] = clean(vs[0])
			continue
		}
		arr := make([]any, len(vs))
		for i, v := range vs {
			arr[i] = clean(v)
		}
		out[clean(k)] = arr
	}
	return out
}

// filePart is an uploaded file of a multipart body.
type filePart struct {
	Filename    string `json:"filename"`
	ContentType string `json:"contentType"`
	Size        int    `json:"size"`
	Content     string `json:"content"` // base64
}

// jsonPart is a multipart field sent with a JSON content type.
type jsonPart struct {
	Data        any    `json:"data"`
	ContentType string `json:"contentType"`
}

// mediaType is the lowercased media type of a Content-Type value ("" when unparsable).
func mediaType(ct string) string {
	mt, _, err := mime.ParseMediaType(ct)
	if err != nil {
		return ""
	}
	return mt
}

// parseMultipart returns the parts by name: fields as strings (JSON fields as jsonPart), files as filePart;
// repeated names → arrays.
func parseMultipart(body []byte, boundary string) (map[string]any, error) {
	if boundary == "" {
		return nil, errors.New("multipart: no boundary")
	}
	r := multipart.NewReader(bytes.NewReader(body), boundary)
	out := map[string]any{}
	for {
		part, err := r.NextPart()
		if err == io.EOF {
			return out, nil
		}
		if err != nil {
			return nil, fmt.Errorf("multipart: %w", err)
		}
		content, err := io.ReadAll(part)
		if err != nil {
			return nil, fmt.Errorf("multipart part: %w", err)
		}
		var v any
		if name := part.FileName(); name != "" {
			v = filePart{
				Filename: clean(name), ContentType: clean(part.Header.Get("Content-Type")),
				Size: len(content), Content: base64.StdEncoding.EncodeToString(content),
			}
		} else if ct := part.Header.Get("Content-Type"); ct != "" && isJSON(mediaType(ct)) {
			// A JSON part (curl --form 'person={…};type=application/json') is parsed: its fields are reached as
			// person.data.firstname. A part that does not parse stays a string.
			if d, err := parseJSON(content); err == nil {
				v = jsonPart{Data: d, ContentType: clean(ct)}
			} else {
				v = clean(string(content))
			}
		} else {
			v = clean(string(content))
		}
		key := clean(part.FormName())
		switch prev := out[key].(type) {
		case nil:
			out[key] = v
		case []any:
			out[key] = append(prev, v)
		default:
			out[key] = []any{prev, v}
		}
	}
}
