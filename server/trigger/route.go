package trigger

import (
	"encoding/json"
	"net/http"
	"slices"
	"strconv"
	"strings"

	"github.com/hookd/hookd/server/store"
)

// eventTypeFor picks the event type of a request: the first matching route, else the trigger's event_type.
// A route without header and json_field matches every request. ok is false when nothing matches. A JSON body kept
// as json.RawMessage is decoded only when a json_field route is reached.
func eventTypeFor(t *store.Trigger, h http.Header, data any) (string, bool) {
	for _, rt := range t.Routes {
		if raw, ok := data.(json.RawMessage); ok && rt.JSONField != "" {
			data, _ = decodeJSON(raw) // parseBody validated raw; were it not, nil matches no json_field route
		}
		switch {
		case rt.Header != "":
			if slices.Contains(h.Values(rt.Header), rt.Value) {
				return rt.EventType, true
			}
		case rt.JSONField != "":
			if v, ok := lookup(data, rt.JSONField); ok {
				if s, ok := scalar(v); ok && s == rt.Value {
					return rt.EventType, true
				}
			}
		default:
			return rt.EventType, true
		}
	}
	return t.EventType, t.EventType != ""
}

// lookup follows a dotted path ("data.kind", "items.0.id") through objects and arrays.
func lookup(v any, path string) (any, bool) {
	for seg := range strings.SplitSeq(path, ".") {
		switch x := v.(type) {
		case map[string]any:
			next, ok := x[seg]
			if !ok {
				return nil, false
			}
			v = next
		case []any:
			i, err := strconv.Atoi(seg)
			if err != nil || i < 0 || i >= len(x) {
				return nil, false
			}
			v = x[i]
		default:
			return nil, false
		}
	}
	return v, true
}

// scalar renders a string, number or boolean for comparison with a route value.
func scalar(v any) (string, bool) {
	switch x := v.(type) {
	case string:
		return x, true
	case json.Number:
		return x.String(), true
	case float64:
		return strconv.FormatFloat(x, 'f', -1, 64), true
	case bool:
		return strconv.FormatBool(x), true
	default:
		return "", false
	}
}
