package trigger

import (
	"encoding/json"
	"net/http"
	"slices"
	"strconv"
	"strings"

	"github.com/hookd/hookd/internal/store"
)

// eventTypeFor picks the event type of a request: the first matching route, else the trigger's event_type.
// A route without header and json_field matches every request. ok is false when nothing matches. A JSON body kept
// as json.RawMessage is decoded only when a json_field route is reached. sel is how the subject is picked: the
// matching route's subject when it has one, else the trigger's.
func eventTypeFor(t *store.Trigger, h http.Header, data any) (eventType string, sel store.TriggerSubject, ok bool) {
	sel = t.Subject
	for _, rt := range t.Routes {
		if routeMatches(rt, h, &data) {
			if rt.Subject != nil && !rt.Subject.IsZero() {
				sel = *rt.Subject
			}
			return rt.EventType, sel, true
		}
	}
	return t.EventType, sel, t.EventType != ""
}

// routeMatches reports whether rt matches; *data is replaced by its decoded form when a json_field route needs it.
func routeMatches(rt store.TriggerRoute, h http.Header, data *any) bool {
	if raw, ok := (*data).(json.RawMessage); ok && rt.JSONField != "" {
		*data, _ = decodeJSON(raw) // parseBody validated raw; were it not, nil matches no json_field route
	}
	switch {
	case rt.Header != "":
		return slices.Contains(h.Values(rt.Header), rt.Value)
	case rt.JSONField != "":
		if v, ok := lookup(*data, rt.JSONField); ok {
			if s, ok := scalar(v); ok && s == rt.Value {
				return true
			}
		}
		return false
	default:
		return true
	}
}

// subjectFor returns the subject sel picks from a request: the first value of its header, or the string, number
// or boolean at its JSON field path (an object, an array or a missing field gives none). ok is false when the
// value is longer than store.MaxSubjectLen.
func subjectFor(sel store.TriggerSubject, h http.Header, data any) (subject string, ok bool) {
	switch {
	case sel.Header != "":
		subject = h.Get(sel.Header)
	case sel.JSONField != "":
		if raw, isRaw := data.(json.RawMessage); isRaw {
			data, _ = decodeJSON(raw)
		}
		if v, found := lookup(data, sel.JSONField); found {
			subject, _ = scalar(v)
		}
	}
	subject = clean(strings.TrimSpace(subject))
	return subject, len(subject) <= store.MaxSubjectLen
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
