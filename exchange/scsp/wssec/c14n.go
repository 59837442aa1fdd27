package wssec

import (
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
	ctx, err := etreeutils.NSBuildParentContext(el)
	if err != nil {
		return nil, err
	}
	detached, err := etreeutils.NSDetatch(ctx, el)
	if err != nil {
		return nil, err
	}
	return dsig.MakeC14N10ExclusiveCanonicalizerWithPrefixList(inclusive).Canonicalize(detached)
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
