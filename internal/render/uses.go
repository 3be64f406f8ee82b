package render

import (
	"text/template"
	"text/template/parse"
)

// TransactionalIDField is the template variable holding the delivery id, the idempotency key of a request.
const TransactionalIDField = "TransactionalId"

// UsesTransactionalID reports whether any of the parsed templates writes `{{.TransactionalId}}` into its output
// (nil templates, i.e. plain text, never do). It walks the parse trees rather than searching the text, so a
// comment (`{{/* {{.TransactionalId}} */}}`), a string literal (`{{"{{.TransactionalId}}"}}`), a condition
// (`{{if .TransactionalId}}`), a `{{define}}` that is never called or `.TransactionalId` inside `{{range}}` or
// `{{with}}` (where dot is something else) do not count; `{{$.TransactionalId}}`, pipelines such as
// `{{.TransactionalId | upper}}`, a variable assigned from it and `{{template "t" .}}` calls do.
func UsesTransactionalID(ts ...*Template) bool {
	for _, tt := range ts {
		if tt == nil {
			continue
		}
		t := tt.t
		if t == nil || t.Tree == nil || t.Tree.Root == nil {
			continue
		}
		w := &walker{tmpl: t, field: TransactionalIDField, dollar: dotRoot, carriers: map[string]bool{}, seen: map[walkKey]bool{}}
		if w.list(t.Tree.Root, dotRoot) {
			return true
		}
	}
	return false
}

// dotState is what dot holds at a point of a template.
type dotState int

const (
	dotRoot  dotState = iota // the template's data (render.Vars)
	dotField                 // the field itself (inside {{with .TransactionalId}})
	dotOther                 // anything else (inside range, with of another value)
)

type walkKey struct {
	name string
	dot  dotState
}

// walker finds output of one root field in a template and the templates it calls.
type walker struct {
	tmpl  *template.Template
	field string
	// dollar is what `$` holds: the data of the template being walked.
	dollar dotState
	// carriers are variables assigned from the field ({{$id := .TransactionalId}}).
	carriers map[string]bool
	// seen guards against templates calling themselves.
	seen map[walkKey]bool
}

func (w *walker) list(l *parse.ListNode, dot dotState) bool {
	if l == nil {
		return false
	}
	for _, n := range l.Nodes {
		if w.node(n, dot) {
			return true
		}
	}
	return false
}

func (w *walker) node(n parse.Node, dot dotState) bool {
	switch n := n.(type) {
	case *parse.ActionNode:
		refs := w.pipe(n.Pipe, dot)
		if len(n.Pipe.Decl) == 0 {
			return refs // printed
		}
		if refs {
			for _, v := range n.Pipe.Decl {
				w.carriers[v.Ident[0]] = true
			}
		}
		return false
	case *parse.IfNode:
		return w.list(n.List, dot) || w.list(n.ElseList, dot)
	case *parse.RangeNode:
		return w.list(n.List, dotOther) || w.list(n.ElseList, dot)
	case *parse.WithNode:
		inner := dotOther
		if w.isField(n.Pipe, dot) {
			inner = dotField
			for _, v := range n.Pipe.Decl {
				w.carriers[v.Ident[0]] = true
			}
		}
		return w.list(n.List, inner) || w.list(n.ElseList, dot)
	case *parse.TemplateNode:
		called := dotOther
		switch {
		case n.Pipe == nil:
			return false // {{template "x"}} runs with nil data
		case w.isDot(n.Pipe):
			called = dot
		case w.isRoot(n.Pipe):
			called = w.dollar
		case w.isField(n.Pipe, dot):
			called = dotField
		}
		key := walkKey{n.Name, called}
		t := w.tmpl.Lookup(n.Name)
		if t == nil || t.Tree == nil || w.seen[key] {
			return false
		}
		w.seen[key] = true
		// The called template has its own `$` and variables.
		dollar, carriers := w.dollar, w.carriers
		w.dollar, w.carriers = called, map[string]bool{}
		found := w.list(t.Tree.Root, called)
		w.dollar, w.carriers = dollar, carriers
		return found
	case *parse.ListNode:
		return w.list(n, dot)
	default: // text, comments, break, continue
		return false
	}
}

// pipe reports whether a pipeline refers to the field anywhere in its commands.
func (w *walker) pipe(p *parse.PipeNode, dot dotState) bool {
	if p == nil {
		return false
	}
	for _, c := range p.Cmds {
		for _, arg := range c.Args {
			if w.arg(arg, dot) {
				return true
			}
		}
	}
	return false
}

func (w *walker) arg(n parse.Node, dot dotState) bool {
	switch n := n.(type) {
	case *parse.FieldNode: // .TransactionalId
		return dot == dotRoot && len(n.Ident) > 0 && n.Ident[0] == w.field
	case *parse.VariableNode: // $.TransactionalId or $id
		switch {
		case len(n.Ident) > 1 && n.Ident[0] == "$":
			return w.dollar == dotRoot && n.Ident[1] == w.field
		case len(n.Ident) == 1 && n.Ident[0] == "$":
			return w.dollar == dotField
		case len(n.Ident) == 1:
			return w.carriers[n.Ident[0]]
		}
		return false
	case *parse.DotNode:
		return dot == dotField
	case *parse.PipeNode: // (…)
		return w.pipe(n, dot)
	case *parse.ChainNode: // (…).Field
		return w.arg(n.Node, dot)
	default:
		return false
	}
}

// isField reports whether p is exactly the field: `.TransactionalId` or `$.TransactionalId`.
func (w *walker) isField(p *parse.PipeNode, dot dotState) bool {
	if p == nil || len(p.Cmds) != 1 || len(p.Cmds[0].Args) != 1 {
		return false
	}
	switch a := p.Cmds[0].Args[0].(type) {
	case *parse.FieldNode:
		return dot == dotRoot && len(a.Ident) == 1 && a.Ident[0] == w.field
	case *parse.VariableNode:
		switch {
		case len(a.Ident) == 2 && a.Ident[0] == "$":
			return w.dollar == dotRoot && a.Ident[1] == w.field
		case len(a.Ident) == 1 && a.Ident[0] == "$":
			return w.dollar == dotField
		case len(a.Ident) == 1:
			return w.carriers[a.Ident[0]]
		}
	case *parse.DotNode:
		return dot == dotField
	}
	return false
}

// isDot reports whether p is exactly `.`.
func (w *walker) isDot(p *parse.PipeNode) bool {
	if len(p.Cmds) != 1 || len(p.Cmds[0].Args) != 1 {
		return false
	}
	_, ok := p.Cmds[0].Args[0].(*parse.DotNode)
	return ok
}

// isRoot reports whether p is exactly `$`.
func (w *walker) isRoot(p *parse.PipeNode) bool {
	if len(p.Cmds) != 1 || len(p.Cmds[0].Args) != 1 {
		return false
	}
	v, ok := p.Cmds[0].Args[0].(*parse.VariableNode)
	return ok && len(v.Ident) == 1 && v.Ident[0] == "$"
}
