// Package strictjson is the Connect JSON codec of hookd's API: like Connect's own, except that unknown fields and
// unknown enum names are errors instead of being dropped, and that responses show zero values. A misspelled filter
// ({"filter":{"statuses":["FAILED"]}}) must be refused, not read as "no filter" — RetryDeliveries would resend
// every delivery; and a disabled webhook must say "enabled": false, a bulk retry that matched nothing {"count": 0}.
package strictjson

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"

	"connectrpc.com/connect"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
)

// Names of the JSON codecs Connect registers by default; both are replaced.
const (
	nameJSON        = "json"
	nameJSONCharset = "json; charset=utf-8"
)

// HandlerOptions registers the strict codec for every JSON content type of a handler (Connect, gRPC-Web).
func HandlerOptions() []connect.HandlerOption {
	return []connect.HandlerOption{connect.WithCodec(Codec{name: nameJSON}), connect.WithCodec(Codec{name: nameJSONCharset})}
}

// Codec marshals like Connect's JSON codec but with zero values (MarshalOptions), and unmarshals strictly.
type Codec struct{ name string }

// MarshalOptions are the codec's: zero-valued scalars (false, 0, ""), empty lists and maps are written, so that a
// curl user sees every field. Unset messages and unset proto3 optional fields stay absent (EmitDefaultValues, not
// EmitUnpopulated, which would write them as null): absence keeps its meaning.
var MarshalOptions = protojson.MarshalOptions{EmitDefaultValues: true}

var _ connect.Codec = Codec{}

// Name implements connect.Codec.
func (c Codec) Name() string { return c.name }

// IsBinary reports that JSON is text.
func (Codec) IsBinary() bool { return false }

// Marshal implements connect.Codec; see MarshalOptions.
func (Codec) Marshal(message any) ([]byte, error) {
	m, ok := message.(proto.Message)
	if !ok {
		return nil, fmt.Errorf("marshal %T: not a protobuf message", message)
	}
	return MarshalOptions.Marshal(m)
}

// MarshalStable is Marshal with insignificant whitespace removed (for Connect GET requests).
func (c Codec) MarshalStable(message any) ([]byte, error) {
	b, err := c.Marshal(message)
	if err != nil {
		return nil, err
	}
	var out bytes.Buffer
	if err := json.Compact(&out, b); err != nil {
		return nil, err
	}
	return out.Bytes(), nil
}

// protojsonPosition is the "proto: (line 1:12): " head of protojson's errors.
var protojsonPosition = regexp.MustCompile(`^proto:\s*(\(line \d+:\d+\):\s*)?`)

// Unmarshal implements connect.Codec: an unknown field or enum name is an invalid_argument error naming it.
func (Codec) Unmarshal(data []byte, message any) error {
	m, ok := message.(proto.Message)
	if !ok {
		return fmt.Errorf("unmarshal %T: not a protobuf message", message)
	}
	if len(data) == 0 {
		return connect.NewError(connect.CodeInvalidArgument, errors.New("zero-length payload is not a valid JSON object"))
	}
	if err := (protojson.UnmarshalOptions{}).Unmarshal(data, m); err != nil {
		msg := protojsonPosition.ReplaceAllString(err.Error(), "")
		return connect.NewError(connect.CodeInvalidArgument, fmt.Errorf("request JSON: %s", msg))
	}
	return nil
}
