package wssec

import (
	"bytes"
	"encoding/xml"
	"errors"
	"fmt"
	"io"

	"github.com/beevik/etree"
)

// parse reads an envelope after checking, token by token, that it is
// well-formed UTF-8 XML without a DOCTYPE (so without entities), processing
// instructions other than the XML declaration, duplicate attributes or
// nesting deeper than MaxDepth. etree alone would let some of these
// through: it ignores the declared encoding, keeps one of two duplicate
// attributes, and accepts a DOCTYPE.
func parse(envelope []byte) (*etree.Document, error) {
	if len(envelope) == 0 {
		return nil, errors.New("wssec: empty envelope")
	}
	if len(envelope) > MaxEnvelopeBytes {
		return nil, fmt.Errorf("wssec: envelope of %d bytes is larger than %d", len(envelope), MaxEnvelopeBytes)
	}
	if i := bytes.IndexByte(envelope, 0); i >= 0 {
		return nil, fmt.Errorf("wssec: NUL byte at offset %d", i)
	}
	d := xml.NewDecoder(bytes.NewReader(envelope))
	d.Strict = true
	depth, roots := 0, 0
	for {
		tok, err := d.Token()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("wssec: malformed XML: %w", err)
		}
		switch t := tok.(type) {
		case xml.StartElement:
			depth++
			if depth > MaxDepth {
				return nil, fmt.Errorf("wssec: elements nested deeper than %d", MaxDepth)
			}
			if depth == 1 {
				roots++
			}
			seen := make(map[xml.Name]bool, len(t.Attr))
			for _, a := range t.Attr {
				if seen[a.Name] {
					return nil, fmt.Errorf("wssec: element %s has attribute %s twice", t.Name.Local, a.Name.Local)
				}
				seen[a.Name] = true
			}
		case xml.EndElement:
			depth--
		case xml.Directive:
			return nil, errors.New("wssec: DOCTYPE and other directives are refused")
		case xml.ProcInst:
			if t.Target != "xml" {
				return nil, fmt.Errorf("wssec: processing instruction %q refused", t.Target)
			}
		}
	}
	if roots != 1 {
		return nil, errors.New("wssec: no root element")
	}
	doc := etree.NewDocument()
	doc.ReadSettings.MaxDepth = MaxDepth
	if err := doc.ReadFromBytes(envelope); err != nil {
		return nil, fmt.Errorf("wssec: malformed XML: %w", err)
	}
	return doc, nil
}

// is reports whether el is the element {ns}local.
func is(el *etree.Element, ns, local string) bool {
	return el != nil && el.Tag == local && el.NamespaceURI() == ns
}

// children answers el's child elements named {ns}local.
func children(el *etree.Element, ns, local string) []*etree.Element {
	var out []*etree.Element
	for _, c := range el.ChildElements() {
		if is(c, ns, local) {
			out = append(out, c)
		}
	}
	return out
}

// child answers el's only child element {ns}local, or an error naming what
// is missing or repeated.
func child(el *etree.Element, ns, local, what string) (*etree.Element, error) {
	cs := children(el, ns, local)
	switch len(cs) {
	case 0:
		return nil, fmt.Errorf("wssec: no %s", what)
	case 1:
		return cs[0], nil
	default:
		return nil, fmt.Errorf("wssec: %d %s elements, want one", len(cs), what)
	}
}

// attr answers the value of el's attribute {ns}key ("" ns: unqualified).
func attr(el *etree.Element, ns, key string) (string, bool) {
	for i := range el.Attr {
		a := &el.Attr[i]
		if a.Key != key || a.Space == "xmlns" || (a.Space == "" && a.Key == "xmlns") {
			continue
		}
		if a.NamespaceURI() == ns {
			return a.Value, true
		}
	}
	return "", false
}

// wsuID answers el's wsu:Id.
func wsuID(el *etree.Element) (string, bool) { return attr(el, NamespaceWSU, "Id") }

// ids counts, over the whole document, the elements carrying each
// identifier: any attribute named Id, ID or id, in any namespace, since
// XML-DSig processors (xmlsec1 among them) may resolve a "#x" reference
// through any of them.
func ids(root *etree.Element) map[string]int {
	n := map[string]int{}
	var walk func(*etree.Element)
	walk = func(el *etree.Element) {
		for _, a := range el.Attr {
			if a.Space == "xmlns" {
				continue
			}
			switch a.Key {
			case "Id", "ID", "id":
				n[a.Value]++
			}
		}
		for _, c := range el.ChildElements() {
			walk(c)
		}
	}
	walk(root)
	return n
}
