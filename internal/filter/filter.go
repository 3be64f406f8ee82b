// Package filter compiles and evaluates subscription filters: CEL expressions (https://cel.dev) over an event's
// `type`, `subject`, `tenant_id` and `data` (its payload), such as `data.amount > 100 && subject.startsWith("cus_")`.
// A filter is compiled and cost-checked once, when it is saved (Compile); publishing evaluates the cached program
// (Cache) within a runtime cost limit, and an evaluation error counts as no match (ErrorsTotal).
package filter

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"unicode/utf8"

	"cel.dev/cel-go/cel"
	"cel.dev/cel-go/checker"
	"github.com/prometheus/client_golang/prometheus"
)

// Bounds of a filter.
const (
	// MaxLength caps a filter's text (bytes).
	MaxLength = 4096
	// MaxEstimatedCost is the largest worst-case cost (CEL cost units) a filter may have when saved, estimated with
	// every string, list and map of the payload as large as MaxPayloadSize allows (one loop over the payload
	// passes, a loop inside a loop does not).
	MaxEstimatedCost = 1_000_000
	// MaxCost stops an evaluation that spends more (CEL cost units); it then counts as an error.
	MaxCost = 1_000_000
	// MaxPayloadSize bounds the size (characters, items or entries) of any value of the payload for the estimate:
	// half the event payload limit (every JSON value and its separator take two bytes at least).
	MaxPayloadSize = 128 << 10
	// maxCached bounds the programs a Cache holds; when full it starts over.
	maxCached = 10_000
)

// Variable names a filter sees.
const (
	VarType     = "type"
	VarSubject  = "subject"
	VarTenantID = "tenant_id"
	VarData     = "data"
)

// ErrorsTotal counts filter evaluations that failed (hookd_filter_errors_total); a failed evaluation is no match.
var ErrorsTotal = prometheus.NewCounter(prometheus.CounterOpts{
	Name: "hookd_filter_errors_total",
	Help: "Subscription filter evaluations that failed (counted as no match).",
})

// Event is what a filter is evaluated against.
type Event struct {
	Type     string
	Subject  string
	TenantID string
	// Data is the payload, decoded from JSON (nil: an empty object).
	Data map[string]any
}

// Program is a compiled filter.
type Program struct {
	text string
	prg  cel.Program
}

// Text is the filter's source.
func (p *Program) Text() string { return p.text }

var env = sync.OnceValues(func() (*cel.Env, error) {
	return cel.NewEnv(
		cel.Variable(VarType, cel.StringType),
		cel.Variable(VarSubject, cel.StringType),
		cel.Variable(VarTenantID, cel.StringType),
		cel.Variable(VarData, cel.MapType(cel.StringType, cel.DynType)),
		cel.CrossTypeNumericComparisons(true), // data.amount (a JSON number, double) > 100 (an int)
		cel.ParserExpressionSizeLimit(MaxLength),
	)
})

// Compile parses, type-checks and cost-checks a filter. Its errors are CEL's messages (for the caller to return
// as invalid_argument naming the field); an empty filter is refused (it means "no filter" to callers).
func Compile(text string) (*Program, error) {
	if strings.TrimSpace(text) == "" {
		return nil, errors.New("is empty")
	}
	if len(text) > MaxLength {
		return nil, fmt.Errorf("is longer than %d bytes", MaxLength)
	}
	if !utf8.ValidString(text) {
		return nil, errors.New("is not valid UTF-8")
	}
	e, err := env()
	if err != nil {
		return nil, fmt.Errorf("filter environment: %w", err)
	}
	ast, iss := e.Compile(text)
	if iss.Err() != nil {
		return nil, errors.New(iss.Err().Error())
	}
	if ast.OutputType() != cel.BoolType && ast.OutputType() != cel.DynType {
		return nil, fmt.Errorf("must evaluate to a bool, not %s", ast.OutputType())
	}
	cost, err := e.EstimateCost(ast, payloadSizes{})
	if err != nil {
		return nil, fmt.Errorf("estimate cost: %w", err)
	}
	if cost.Max > MaxEstimatedCost {
		return nil, fmt.Errorf("is too costly: its worst case costs %d, the limit is %d (avoid nested loops over the payload)", cost.Max, MaxEstimatedCost)
	}
	prg, err := e.Program(ast, cel.CostLimit(MaxCost), cel.InterruptCheckFrequency(100))
	if err != nil {
		return nil, fmt.Errorf("program: %w", err)
	}
	return &Program{text: text, prg: prg}, nil
}

// payloadSizes bounds the size of every value of the payload for the cost estimate.
type payloadSizes struct{}

func (payloadSizes) EstimateSize(checker.AstNode) *checker.SizeEstimate {
	return &checker.SizeEstimate{Min: 0, Max: MaxPayloadSize}
}

func (payloadSizes) EstimateCallCost(string, string, *checker.AstNode, []checker.AstNode) *checker.CallEstimate {
	return nil
}

// Match evaluates the filter against ev: true only when it evaluates to true. An error (a missing key, a type
// mismatch, the cost limit) is returned with false; callers count it as no match.
func (p *Program) Match(ev Event) (bool, error) { return p.eval(ev.vars()) }

func (p *Program) eval(vars map[string]any) (bool, error) {
	out, _, err := p.prg.Eval(vars)
	if err != nil {
		return false, err
	}
	b, ok := out.Value().(bool)
	if !ok {
		return false, fmt.Errorf("evaluated to %v, not a bool", out.Value())
	}
	return b, nil
}

// vars are the variables a filter sees for ev.
func (ev Event) vars() map[string]any {
	data := ev.Data
	if data == nil {
		data = map[string]any{}
	}
	return map[string]any{VarType: ev.Type, VarSubject: ev.Subject, VarTenantID: ev.TenantID, VarData: data}
}

// Vars is an event's variables, made once and shared by every filter evaluated against it (Cache.MatchVars).
type Vars struct{ m map[string]any }

// VarsOf returns the variables of ev.
func VarsOf(ev Event) Vars { return Vars{ev.vars()} }

// Decode decodes a JSON object payload for Event.Data (an empty or non-object payload gives an empty map).
func Decode(payload []byte) map[string]any {
	var m map[string]any
	if len(payload) > 0 && json.Unmarshal(payload, &m) == nil && m != nil {
		return m
	}
	return map[string]any{}
}

// Cache keeps compiled programs by filter text (a changed filter is another text, so an update never sees the
// old program), so that publishing does not recompile. It is safe for concurrent use.
type Cache struct {
	mu       sync.Mutex
	programs map[string]cached
}

type cached struct {
	prg *Program
	err error
}

// NewCache returns an empty Cache.
func NewCache() *Cache { return &Cache{programs: map[string]cached{}} }

// Get returns the program of text, compiling it the first time.
func (c *Cache) Get(text string) (*Program, error) {
	c.mu.Lock()
	p, ok := c.programs[text]
	c.mu.Unlock()
	if ok {
		return p.prg, p.err
	}
	prg, err := Compile(text)
	c.mu.Lock()
	if len(c.programs) >= maxCached {
		clear(c.programs)
	}
	c.programs[text] = cached{prg, err}
	c.mu.Unlock()
	return prg, err
}

// Match evaluates the filter text against ev with the cached program (see MatchVars).
func (c *Cache) Match(text string, ev Event) bool { return c.MatchVars(text, VarsOf(ev)) }

// MatchVars evaluates the filter text against an event's variables with the cached program; an empty filter
// matches every event. A filter that does not compile (saved by an older version) or fails to evaluate is no
// match and counts in ErrorsTotal.
func (c *Cache) MatchVars(text string, v Vars) bool {
	if text == "" {
		return true
	}
	p, err := c.Get(text)
	if err == nil {
		var ok bool
		if ok, err = p.eval(v.m); err == nil {
			return ok
		}
	}
	ErrorsTotal.Inc()
	return false
}
