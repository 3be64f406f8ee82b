package render

import (
	"strings"
	"text/template"
	"text/template/parse"
)

// MaestraTransactionalID is the product document's own spelling of the delivery id (seed 001): written in the
// plain text of a URL, header value or body template it renders exactly as `{{.TransactionalId}}` does.
const MaestraTransactionalID = "${WebhookRequest.TransactionalId}"

// HasActions reports whether text holds a template action: `{{…}}` or MaestraTransactionalID.
func HasActions(text string) bool { return ActionIndex(text) >= 0 }

// ActionIndex returns the byte index of the first template action of text (`{{` or MaestraTransactionalID), or
// -1. Everything before it is static text.
func ActionIndex(text string) int {
	i, j := strings.Index(text, "{{"), strings.Index(text, MaestraTransactionalID)
	switch {
	case i < 0:
		return j
	case j < 0:
		return i
	}
	return min(i, j)
}

// expandMaestra replaces MaestraTransactionalID in the plain text of a parsed tree (text nodes only, at any
// depth: inside {{if}}, {{range}} and {{with}} too) with the action `{{$.TransactionalId}}`. Working on the parse
// tree rather than the source text means the spelling is never looked for inside actions, string literals or
// comments, and nothing else of the text can become template code.
func expandMaestra(t *parse.Tree) {
	if t != nil {
		expandList(t.Root)
	}
}

func expandList(l *parse.ListNode) {
	if l == nil {
		return
	}
	var out []parse.Node
	changed := false
	for _, n := range l.Nodes {
		switch x := n.(type) {
		case *parse.TextNode:
			parts := strings.Split(string(x.Text), MaestraTransactionalID)
			if len(parts) == 1 {
				out = append(out, n)
				continue
			}
			changed = true
			pos := x.Position()
			for i, p := range parts {
				if i > 0 {
					out = append(out, transactionalIDAction(pos))
				}
				if p != "" {
					out = append(out, &parse.TextNode{NodeType: parse.NodeText, Pos: pos, Text: []byte(p)})
				}
				pos += parse.Pos(len(p) + len(MaestraTransactionalID))
			}
			continue
		case *parse.IfNode:
			expandList(x.List)
			expandList(x.ElseList)
		case *parse.RangeNode:
			expandList(x.List)
			expandList(x.ElseList)
		case *parse.WithNode:
			expandList(x.List)
			expandList(x.ElseList)
		case *parse.ListNode:
			expandList(x)
		}
		out = append(out, n)
	}
	if changed {
		l.Nodes = out
	}
}

// transactionalIDAction returns a fresh `{{$.TransactionalId}}` action node: `$` is the template's data wherever
// it stands (dot may be something else inside range and with).
func transactionalIDAction(pos parse.Pos) parse.Node {
	src := template.Must(template.New("").Parse(`{{$.` + TransactionalIDField + `}}`))
	n := src.Tree.Root.Nodes[0].(*parse.ActionNode)
	n.Pos = pos
	return n
}
