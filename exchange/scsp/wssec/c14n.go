package wssec

import (
	"sort"
	"strings"

	"github.com/beevik/etree"
	dsig "github.com/russellhaering/goxmldsig"
	"github.com/russellhaering/goxmldsig/etreeutils"
)

// canonical answers the exclusive canonical form (without comments) of el
// as it stands in its document, with inclusive the InclusiveNamespaces
// PrefixList. goxmldsig's canonicaliser works on an element alone, so el is
// first copied out with every namespace in scope declared on it; the
// exclusive transform then keeps those that are visibly used.
func canonical(el *etree.Element, inclusive string) ([]byte, error) {
	return dsig.MakeC14N10ExclusiveCanonicalizerWithPrefixList(inclusive).Canonicalize(detached(el))
}

// detached copies el out of its document with the namespace declarations
// in scope at el (the nearest of each prefix) declared on the copy.
// goxmldsig's etreeutils.NSDetatch does the same but refuses an element
// with more than 1000 descendants, and an SCSP Body of 1000 elements has
// tens of thousands; the envelope's size and depth are bounded before
// anything is parsed (MaxEnvelopeBytes, MaxDepth).
func detached(el *etree.Element) *etree.Element {
	scope := map[string]string{}
	for e := el; e != nil; e = e.Parent() {
		for _, a := range e.Attr {
			prefix, ok := declaredPrefix(a)
			if _, seen := scope[prefix]; ok && !seen {
				scope[prefix] = a.Value
			}
		}
	}
	c := el.Copy()
	attrs := make([]etree.Attr, 0, len(c.Attr)+len(scope))
	for _, a := range c.Attr {
		if _, ok := declaredPrefix(a); !ok {
			attrs = append(attrs, a)
		}
	}
	for prefix, ns := range scope {
		switch {
		case prefix == "" && ns != "":
			attrs = append(attrs, etree.Attr{Key: "xmlns", Value: ns})
		case prefix != "":
			attrs = append(attrs, etree.Attr{Space: "xmlns", Key: prefix, Value: ns})
		}
	}
	sort.Sort(etreeutils.SortedAttrs(attrs))
	c.Attr = attrs
	return c
}

// declaredPrefix answers the prefix a namespace declaration declares ("" for
// the default namespace); ok is false for any other attribute.
func declaredPrefix(a etree.Attr) (prefix string, ok bool) {
	switch {
	case a.Space == "xmlns":
		return a.Key, true
	case a.Space == "" && a.Key == "xmlns":
		return "", true
	}
	return "", false
}

// inclusivePrefixes answers the PrefixList of a Transform's or
// CanonicalizationMethod's ec:InclusiveNamespaces child, if any.
func inclusivePrefixes(method *etree.Element) string {
	for _, c := range method.ChildElements() {
		if is(c, AlgorithmExcC14N, "InclusiveNamespaces") {
			v, _ := attr(c, "", "PrefixList")
			return strings.Join(strings.Fields(v), " ")
		}
	}
	return ""
}
