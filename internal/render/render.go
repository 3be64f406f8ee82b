// Package render parses and executes the Go text/templates of webhooks (body, URL path and query, header values).
// Templates are untrusted code (any MEMBER writes them, and they run inside the shared sender), so every render
// is bounded: in time, in output, in loop iterations and in the bytes its functions may build, and it stops as
// soon as a bound is passed, failing with an error that wraps ErrLimit.
//
// text/template cannot be interrupted from outside, so the bounds are enforced from inside: when a template is
// parsed its tree is rewritten so that every `range` pipeline ends in a counting function (the iterations of all
// ranges of a render, nested ones included, are added up before they run) and every printed value goes through
// a function; the output writer and every function hookd offers (which replace text/template's printf, print,
// println, html, js, urlquery and call) check the deadline, the context and the byte budgets. Between two checks a
// render does a bounded amount of work. `{{define}}`, `{{block}}` and `{{template}}` are refused, so there is no
// recursion. A key missing from the data renders as the empty string (never "<no value>").
package render

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"reflect"
	"strings"
	"text/template"
	"text/template/parse"
	"time"
)

// Default bounds of one render.
const (
	// DefaultTimeout is how long one render may run.
	DefaultTimeout = 100 * time.Millisecond
	// DefaultMaxOutputBytes caps what one render writes: the default event payload limit.
	DefaultMaxOutputBytes = 256 << 10
	// DefaultMaxIterations caps the iterations of all `range` loops of one render together.
	DefaultMaxIterations = 100_000
	// workFactor times the output limit is what the functions of one render may build in all.
	workFactor = 16
)

// MaxOutputBytes is the largest output any render may produce (kept for callers that size buffers).
const MaxOutputBytes = DefaultMaxOutputBytes

// ErrLimit is wrapped by the error of a render that passed one of its bounds.
var ErrLimit = errors.New("over the template's bounds")

// ErrTooLarge is returned (wrapped) when the output exceeds its limit.
var ErrTooLarge = fmt.Errorf("output too large: %w", ErrLimit)

// Vars are the variables a template sees: `{{.EventID}}`, `{{.Data.field}}`, `{{.TransactionalId}}` …
type Vars struct {
	// EventID is the event's id (evt_…).
	EventID string
	// EventType is the event type name (user.created).
	EventType string
	// Subject is the customer or user the event is about.
	Subject string
	// TransactionalId is the delivery id: the same on every retry, usable as an idempotency key.
	TransactionalId string
	// Link is the action-status callback URL of the delivery.
	Link string
	// Timestamp is when the event was published.
	Timestamp time.Time
	// Data is the event payload.
	Data map[string]any
	// Attempt is the attempt number, starting at 1.
	Attempt int
}

// Limits bound one render; zero fields take the defaults.
type Limits struct {
	Timeout        time.Duration
	MaxOutputBytes int
	MaxIterations  int
}

func (l Limits) withDefaults() Limits {
	if l.Timeout <= 0 {
		l.Timeout = DefaultTimeout
	}
	if l.MaxOutputBytes <= 0 {
		l.MaxOutputBytes = DefaultMaxOutputBytes
	}
	if l.MaxIterations <= 0 {
		l.MaxIterations = DefaultMaxIterations
	}
	return l
}

// Template is a parsed, bounded template.
type Template struct {
	name string
	t    *template.Template
	// origin is "scheme://host[:port]" of a URL template, which a rendered URL must keep.
	origin string
}

// Name is the template's name (the field it came from).
func (t *Template) Name() string { return t.name }

// Functions hookd adds; the names starting with "hookd" are inserted by the tree rewrite.
const (
	fnRange = "hookdRange"
	fnValue = "hookdValue"
	fnPath  = "hookdPathSegment"
	fnQuery = "hookdQueryValue"
)

// Parse parses a body or header template. Parse errors name the line and column.
func Parse(name, text string) (*Template, error) {
	return parseMode(name, text, false)
}

// ParseURL parses a URL template: template actions may appear in the path and the query only (never in the
// scheme, host, port, user info or fragment); each action's output is escaped for its position (a path segment:
// "/" and "?" escaped; a query value: "&", "=" and "#" escaped), and Execute checks that the rendered URL kept the
// saved scheme, host and port. text without actions gives a template that renders text itself.
func ParseURL(name, text string) (*Template, error) {
	first := ActionIndex(text)
	static := text
	if first >= 0 {
		static = text[:first]
	}
	scheme, rest, ok := strings.Cut(static, "://")
	if !ok || scheme == "" {
		return nil, fmt.Errorf("template: %s: template variables are allowed in the path and query only: the URL must start with scheme://host/", name)
	}
	end := strings.IndexAny(rest, "/?#")
	if first >= 0 && end < 0 {
		return nil, fmt.Errorf("template: %s: template variables are allowed in the path and query only, not in the host", name)
	}
	authority := rest
	if end >= 0 {
		authority = rest[:end]
	}
	if strings.Contains(authority, "@") {
		return nil, fmt.Errorf("template: %s: user info (user@host) is not allowed in webhook URLs: send credentials in a private header", name)
	}
	if first >= 0 && strings.Contains(text[:first], "#") {
		return nil, fmt.Errorf("template: %s: template variables are not allowed in the fragment", name)
	}
	t, err := parseMode(name, text, true)
	if err != nil {
		return nil, err
	}
	t.origin = strings.ToLower(scheme + "://" + authority)
	return t, nil
}

func parseMode(name, text string, urlMode bool) (*Template, error) {
	t, err := template.New(name).Funcs(stubFuncs()).Parse(text)
	if err != nil {
		return nil, fmt.Errorf("parse template: %w", err)
	}
	if len(t.Templates()) > 1 {
		return nil, fmt.Errorf("template: %s: {{define}} and {{block}} are not allowed", name)
	}
	if t.Tree != nil && t.Tree.Root != nil {
		expandMaestra(t.Tree)
		r := rewriter{name: name, urlMode: urlMode, tree: t.Tree}
		if err := r.list(t.Tree.Root); err != nil {
			return nil, err
		}
	}
	return &Template{name: name, t: t}, nil
}

// rewriter inserts the bounding functions into a parse tree. In URL mode it tracks, in document order, whether
// the static text so far has entered the query ('?'), which decides how each action's output is escaped.
type rewriter struct {
	tree    *parse.Tree
	name    string
	urlMode bool
	inQuery bool
}

func (r *rewriter) list(l *parse.ListNode) error {
	if l == nil {
		return nil
	}
	for _, n := range l.Nodes {
		if err := r.node(n); err != nil {
			return err
		}
	}
	return nil
}

func (r *rewriter) node(n parse.Node) error {
	switch x := n.(type) {
	case *parse.TextNode:
		if r.urlMode && strings.ContainsRune(string(x.Text), '?') {
			r.inQuery = true
		}
		if r.urlMode && strings.ContainsRune(string(x.Text), '#') {
			return fmt.Errorf("template: %s: template variables are not allowed in the fragment", r.name)
		}
	case *parse.ActionNode:
		if len(x.Pipe.Decl) > 0 { // {{$x := …}} prints nothing
			return nil
		}
		fn := fnValue
		if r.urlMode {
			fn = fnPath
			if r.inQuery {
				fn = fnQuery
			}
		}
		r.appendCmd(x.Pipe, fn)
	case *parse.RangeNode:
		r.appendCmd(x.Pipe, fnRange)
		if err := r.list(x.List); err != nil {
			return err
		}
		return r.list(x.ElseList)
	case *parse.IfNode:
		if err := r.list(x.List); err != nil {
			return err
		}
		return r.list(x.ElseList)
	case *parse.WithNode:
		if err := r.list(x.List); err != nil {
			return err
		}
		return r.list(x.ElseList)
	case *parse.TemplateNode:
		return fmt.Errorf("template: %s: {{template}} is not allowed", r.name)
	case *parse.ListNode:
		return r.list(x)
	}
	return nil
}

// appendCmd makes pipe end in `| fn`.
func (r *rewriter) appendCmd(pipe *parse.PipeNode, fn string) {
	pos := pipe.Position()
	cmd := &parse.CommandNode{NodeType: parse.NodeCommand, Pos: pos}
	cmd.Args = []parse.Node{parse.NewIdentifier(fn).SetTree(r.tree).SetPos(pos)}
	pipe.Cmds = append(pipe.Cmds, cmd)
}

// Execute renders t with v within DefaultLimits (and until ctx ends).
func (t *Template) Execute(ctx context.Context, v Vars) (string, error) {
	return t.ExecuteLimits(ctx, v, Limits{})
}

// ExecuteLimits renders t with v within lim. An error wrapping ErrLimit means a bound was passed (its text starts
// with "template: <name>: "); other errors are the template's own (a missing index, a type mismatch) and start
// with "execute template: ".
func (t *Template) ExecuteLimits(ctx context.Context, v Vars, lim Limits) (string, error) {
	lim = lim.withDefaults()
	b := &budget{ctx: ctx, name: t.name, lim: lim, deadline: time.Now().Add(lim.Timeout)}
	c, err := t.t.Clone()
	if err != nil {
		return "", fmt.Errorf("template: %s: %w", t.name, err)
	}
	c.Funcs(b.funcs())
	w := &cappedWriter{b: b}
	err = c.Execute(w, v)
	if b.err != nil { // the bound that stopped the render, without text/template's wrapping
		return "", b.err
	}
	if err != nil {
		return "", fmt.Errorf("execute template: %w", err)
	}
	out := w.buf.String()
	if t.origin != "" {
		if err := checkOrigin(t.name, t.origin, out); err != nil {
			return "", err
		}
	}
	return out, nil
}

// checkOrigin refuses a rendered URL whose scheme, host or port differ from the saved ones.
func checkOrigin(name, origin, out string) error {
	if !strings.HasPrefix(strings.ToLower(out), origin) {
		return fmt.Errorf("template: %s: the rendered URL must keep %s: %w", name, origin, ErrLimit)
	}
	if rest := out[len(origin):]; rest != "" && !strings.ContainsRune("/?#", rune(rest[0])) {
		return fmt.Errorf("template: %s: the rendered URL must keep %s: %w", name, origin, ErrLimit)
	}
	return nil
}

// budget is the state of one render.
type budget struct {
	ctx        context.Context
	name       string
	lim        Limits
	deadline   time.Time
	iterations int
	work       int
	err        error
}

// fail records the first bound passed and returns it.
func (b *budget) fail(format string, args ...any) error {
	if b.err == nil {
		b.err = fmt.Errorf("template: %s: "+format+": %w", append(append([]any{b.name}, args...), ErrLimit)...)
	}
	return b.err
}

// check is called by the writer and every function: it stops the render past its deadline or its context.
func (b *budget) check() error {
	if b.err != nil {
		return b.err
	}
	if time.Now().After(b.deadline) {
		return b.fail("render took longer than %v", b.lim.Timeout)
	}
	if b.ctx != nil && b.ctx.Err() != nil {
		if b.err == nil {
			b.err = fmt.Errorf("template: %s: render stopped: %w", b.name, b.ctx.Err())
		}
		return b.err
	}
	return nil
}

// spend charges n bytes built by a function.
func (b *budget) spend(n int) error {
	if err := b.check(); err != nil {
		return err
	}
	b.work += n
	if b.work > workFactor*b.lim.MaxOutputBytes || n > b.lim.MaxOutputBytes {
		return b.fail("functions built more than %d bytes", workFactor*b.lim.MaxOutputBytes)
	}
	return nil
}

type cappedWriter struct {
	b   *budget
	buf strings.Builder
}

func (w *cappedWriter) Write(p []byte) (int, error) {
	if err := w.b.check(); err != nil {
		return 0, err
	}
	if w.buf.Len()+len(p) > w.b.lim.MaxOutputBytes {
		if w.b.err == nil {
			w.b.err = fmt.Errorf("template: %s: output is larger than %d bytes: %w", w.b.name, w.b.lim.MaxOutputBytes, ErrTooLarge)
		}
		return 0, w.b.err
	}
	return w.buf.Write(p)
}

// rangeCount is how many iterations ranging over v takes.
func rangeCount(v any) (int, error) {
	rv := reflect.ValueOf(v)
	for rv.IsValid() && (rv.Kind() == reflect.Pointer || rv.Kind() == reflect.Interface) {
		rv = rv.Elem()
	}
	if !rv.IsValid() {
		return 0, nil
	}
	switch rv.Kind() {
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return int(max(rv.Int(), 0)), nil
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr:
		return int(min(rv.Uint(), 1<<62)), nil
	case reflect.Slice, reflect.Array, reflect.Map, reflect.String:
		return rv.Len(), nil
	case reflect.Float32, reflect.Float64: // JSON numbers: text/template cannot range over them (it fails)
		return 0, nil
	default:
		return 0, fmt.Errorf("cannot range over %s", rv.Kind())
	}
}

// funcs are the functions of one render, bound to its budget. They replace text/template's printing builtins.
func (b *budget) funcs() template.FuncMap {
	str := func(s string) (string, error) { return s, b.spend(len(s)) }
	return template.FuncMap{
		fnRange: func(v any) (any, error) {
			if err := b.check(); err != nil {
				return nil, err
			}
			n, err := rangeCount(v)
			if err != nil {
				return nil, err
			}
			b.iterations += n
			if b.iterations > b.lim.MaxIterations {
				return nil, b.fail("more than %d loop iterations", b.lim.MaxIterations)
			}
			return v, nil
		},
		fnValue: func(v any) (any, error) {
			if err := b.check(); err != nil {
				return nil, err
			}
			if v == nil {
				return "", nil // a missing key prints nothing
			}
			return v, nil
		},
		fnPath: func(v any) (string, error) {
			return str(pathSegmentEscape(toString(v)))
		},
		fnQuery: func(v any) (string, error) {
			return str(queryEscape(toString(v)))
		},
		"json": func(v any) (string, error) {
			if err := b.check(); err != nil {
				return "", err
			}
			out, err := json.Marshal(v)
			if err != nil {
				return "", fmt.Errorf("json: %w", err)
			}
			return str(string(out))
		},
		"upper": func(v any) (string, error) { return str(strings.ToUpper(b.arg(v))) },
		"lower": func(v any) (string, error) { return str(strings.ToLower(b.arg(v))) },
		"trim":  func(v any) (string, error) { return str(strings.TrimSpace(b.arg(v))) },
		"default": func(fallback, v any) (any, error) {
			if err := b.check(); err != nil {
				return nil, err
			}
			if isEmpty(v) {
				return fallback, nil
			}
			return v, nil
		},
		"rfc3339": func(t time.Time) (string, error) { return str(t.UTC().Format(time.RFC3339Nano)) },
		"unix": func(t time.Time) (int64, error) {
			return t.Unix(), b.check()
		},
		"print": func(args ...any) (string, error) {
			if err := b.spend(argBytes(args)); err != nil {
				return "", err
			}
			return fmt.Sprint(args...), nil
		},
		"println": func(args ...any) (string, error) {
			if err := b.spend(argBytes(args) + len(args) + 1); err != nil {
				return "", err
			}
			return fmt.Sprintln(args...), nil
		},
		"printf": func(format string, args ...any) (string, error) {
			if err := checkFormat(format); err != nil {
				return "", b.fail("%v", err)
			}
			if err := b.spend(len(format) + argBytes(args)); err != nil {
				return "", err
			}
			return fmt.Sprintf(format, args...), nil
		},
		"html": func(args ...any) (string, error) {
			if err := b.spend(6 * argBytes(args)); err != nil {
				return "", err
			}
			return template.HTMLEscaper(args...), nil
		},
		"js": func(args ...any) (string, error) {
			if err := b.spend(6 * argBytes(args)); err != nil {
				return "", err
			}
			return template.JSEscaper(args...), nil
		},
		"urlquery": func(args ...any) (string, error) {
			if err := b.spend(3 * argBytes(args)); err != nil {
				return "", err
			}
			return template.URLQueryEscaper(args...), nil
		},
		"call": func(any, ...any) (any, error) {
			return nil, errors.New("call is not allowed in webhook templates")
		},
	}
}

// arg converts a function argument to a string after checking the budget.
func (b *budget) arg(v any) string {
	if b.check() != nil {
		return ""
	}
	return toString(v)
}

// argBytes estimates what printing args builds: strings by length, other values by their JSON size bound.
func argBytes(args []any) int {
	n := 0
	for _, a := range args {
		switch x := a.(type) {
		case string:
			n += len(x)
		case nil, bool, int, int64, float64, json.Number, time.Time:
			n += 32
		default:
			b, err := json.Marshal(x)
			if err != nil {
				n += 64
			} else {
				n += 2 * len(b) // fmt's %v of maps and slices is about as long as their JSON
			}
		}
	}
	return n
}

// checkFormat refuses printf formats whose width or precision would allocate without bound ("%999999999d", "%*d").
func checkFormat(format string) error {
	for i := 0; i < len(format); i++ {
		if format[i] != '%' {
			continue
		}
		num := 0
		for i++; i < len(format); i++ {
			c := format[i]
			switch {
			case c == '*':
				return errors.New("printf: * width and precision are not allowed")
			case c >= '0' && c <= '9':
				num = num*10 + int(c-'0')
				if num > 1000 {
					return errors.New("printf: width and precision are limited to 1000")
				}
				continue
			case c == '.' || c == '+' || c == '-' || c == '#' || c == ' ' || c == '[' || c == ']':
				num = 0
				continue
			}
			break
		}
	}
	return nil
}

// stubFuncs declares every function for parsing; Execute binds the real ones to the render's budget.
func stubFuncs() template.FuncMap {
	return (&budget{lim: Limits{}.withDefaults()}).funcs()
}

// FuncNames lists the functions templates may call (for documentation and error messages).
func FuncNames() []string {
	return []string{"json", "upper", "lower", "trim", "default", "rfc3339", "unix", "print", "printf", "println",
		"html", "js", "urlquery", "and", "or", "not", "len", "index", "slice", "eq", "ne", "lt", "le", "gt", "ge"}
}

func toString(v any) string {
	switch s := v.(type) {
	case nil:
		return ""
	case string:
		return s
	default:
		return fmt.Sprint(v)
	}
}

// pathSegmentEscape escapes s for one path segment: "/" and "?" included, so a value can add no segment, and
// "." and ".." become "%2E" and "%2E%2E", so it cannot climb out of the saved path either.
func pathSegmentEscape(s string) string {
	switch s {
	case ".":
		return "%2E"
	case "..":
		return "%2E%2E"
	}
	return url.PathEscape(s)
}

// queryEscape escapes s for a query value ("&", "=", "#" and "+" included).
func queryEscape(s string) string { return url.QueryEscape(s) }

func isEmpty(v any) bool {
	switch x := v.(type) {
	case nil:
		return true
	case string:
		return x == ""
	case bool:
		return !x
	case float64:
		return x == 0
	case int:
		return x == 0
	case []any:
		return len(x) == 0
	case map[string]any:
		return len(x) == 0
	default:
		return false
	}
}
