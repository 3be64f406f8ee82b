package trigger

import (
	"encoding/json"
	"errors"
	"reflect"
	"strings"
	"testing"
	"unicode/utf8"
)

func TestParseBody(t *testing.T) {
	cases := []struct {
		name, contentType, body string
		want                    string // data as JSON
		wantErr                 error
		wantBase64              bool
	}{
		{"json", "application/json", `{"a":[1,2.5,"x"],"b":null}`, `{"a":[1,2.5,"x"],"b":null}`, nil, false},
		{"json kept as sent, compacted", "application/json", "{ \"b\": 1,\n \"a\": [ 2.50, \"<x>\" ] }", `{"b":1,"a":[2.50,"\u003cx\u003e"]}`, nil, false},
		{"json duplicate keys kept", "application/json", `{"a":1,"a":2}`, `{"a":1,"a":2}`, nil, false},
		{"json surrogate pair decoded", "application/json", `"\ud83d\ude00"`, `"😀"`, nil, false},
		{"json suffix", "application/vnd.api+json", `[true]`, `[true]`, nil, false},
		{"json big integer kept", "application/json", `12345678901234567890123`, `12345678901234567890123`, nil, false},
		{"json exponent normalized", "application/json", `1e300`, `1e+300`, nil, false},
		{"json out of range", "application/json", `1e999`, `null`, errMalformedJSON, false},
		{"json trailing data", "application/json", `{} {}`, `null`, errMalformedJSON, false},
		{"json empty", "application/json", ``, `null`, nil, false},
		{"json nul escapes", "application/json", `{"a\u0000":"\u0000"}`, `{"a�":"�"}`, nil, false},
		{"form", "application/x-www-form-urlencoded", "a=1&a=2&b=%zz&c=3", `{"a":["1","2"],"c":"3"}`, nil, false},
		{"text", "text/plain; charset=utf-8", "héllo", `"héllo"`, nil, false},
		{"text invalid utf8", "text/plain", "a\xffb", `"a�b"`, nil, true},
		{"no content type text", "", "plain", `"plain"`, nil, false},
		{"binary", "application/octet-stream", "\x00\x01", `null`, nil, true},
		{"bad content type", "%%%", "x", `null`, nil, false},
		{"multipart no boundary", "multipart/form-data", "x", `null`, errMalformedMultipart, false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			p, err := parseBody(c.contentType, []byte(c.body))
			if !errors.Is(err, c.wantErr) {
				t.Fatalf("error = %v, want %v", err, c.wantErr)
			}
			got, err := json.Marshal(p.Data)
			if err != nil {
				t.Fatal(err)
			}
			if string(got) != c.want {
				t.Errorf("data = %s, want %s", got, c.want)
			}
			if p.RawBase64 != c.wantBase64 {
				t.Errorf("raw base64 = %v, want %v", p.RawBase64, c.wantBase64)
			}
		})
	}
}

func FuzzParseBody(f *testing.F) {
	seeds := []struct{ contentType, body string }{
		{"application/json", `{"a":1,"b":[true,null,"x"],"c":{"d":1e5}}`},
		{"application/json", `{bad`},
		{"application/json", `"\u0000\ud800"`},
		{"application/json; charset=utf-8", `123456789012345678901234567890`},
		{"application/x-www-form-urlencoded", "a=1&b=%00&c=%ff&a=2"},
		{"multipart/form-data; boundary=X", "--X\r\nContent-Disposition: form-data; name=\"f\"; filename=\"a.bin\"\r\n\r\n\x00\xff\r\n--X\r\nContent-Disposition: form-data; name=\"f\"\r\n\r\nv\r\n--X--\r\n"},
		{"multipart/form-data; boundary=X", "--X\r\n\r\n"},
		{"text/plain", "hello\x00world"},
		{"image/png", "\x89PNG\r\n\x1a\n"},
		{"", "\xff\xfe"},
		{"weird;;;=", ""},
	}
	for _, s := range seeds {
		f.Add(s.contentType, []byte(s.body))
	}
	f.Fuzz(func(t *testing.T, contentType string, body []byte) {
		p, err := parseBody(contentType, body)
		if err != nil && !errors.Is(err, errMalformedJSON) && !errors.Is(err, errMalformedMultipart) {
			t.Fatalf("unexpected error %v", err)
		}
		out, merr := json.Marshal(p.Data)
		if merr != nil {
			t.Fatalf("data does not marshal: %v", merr)
		}
		if strings.Contains(string(out), `\u0000`) {
			t.Fatalf("data holds a NUL: %s", out)
		}
		if !utf8.ValidString(p.Raw) || strings.ContainsRune(p.Raw, 0) {
			t.Fatalf("raw body is not storable text: %q", p.Raw)
		}
		if err == nil && isJSON(p.MediaType) && len(body) > 0 && !json.Valid(body) {
			t.Fatalf("invalid JSON accepted: %q", body)
		}
		// A body kept as sent must mean what the decoding path would have made of it.
		if raw, ok := p.Data.(json.RawMessage); ok {
			slow, err := parseJSON(body)
			if err != nil {
				t.Fatalf("kept a body the decoder refuses (%v): %q", err, body)
			}
			fast, err := decodeJSON(raw)
			if err != nil {
				t.Fatalf("kept body does not decode: %v", err)
			}
			if !reflect.DeepEqual(fast, slow) {
				t.Fatalf("kept body %s decodes to %#v, the decoder gives %#v", raw, fast, slow)
			}
		}
	})
}

func TestEncodePayload(t *testing.T) {
	headers := map[string]string{"content-type": "application/json", "x-q": `"<&>"`}
	query := map[string]any{"a": "1", "b": []any{"2", "3"}}
	for _, body := range []string{`{"b":1,"a":[2.50,"<x>"]}`, `[]`, `"s"`, `12345678901234567890123`, `null`} {
		p, err := parseBody("application/json", []byte(body))
		if err != nil {
			t.Fatal(err)
		}
		in := eventPayload{Data: p.Data, RawBody: p.Raw, Headers: headers, QueryParameters: query, PathFragment: "a/b",
			Method: "POST", ContentType: "application/json"}
		got, err := encodePayload(in)
		if err != nil {
			t.Fatal(err)
		}
		want, err := json.Marshal(in)
		if err != nil {
			t.Fatal(err)
		}
		var g, w any
		if err := json.Unmarshal(got, &g); err != nil {
			t.Fatalf("body %s: payload %s is not JSON: %v", body, got, err)
		}
		if err := json.Unmarshal(want, &w); err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(g, w) {
			t.Errorf("body %s: payload %s, want %s", body, got, want)
		}
	}
}
