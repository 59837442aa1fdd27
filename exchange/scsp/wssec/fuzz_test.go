package wssec_test

import (
	"testing"
	"time"

	"github.com/beevik/etree"

	"github.com/pontexchange/pont/exchange/scsp/wssec"
)

// FuzzVerify checks that Verify never panics, whatever the bytes, and that
// what it accepts has a Body that parses. Seeds: an envelope Pont signed,
// the unsigned request, and the xmlsec1 template; crashers found are kept
// in testdata/fuzz/FuzzVerify.
func FuzzVerify(f *testing.F) {
	fx := setup(f)
	f.Add(sign(f, fx.leaf, now, 5*time.Minute))
	f.Add(sign(f, fx.ecLeaf, now, 5*time.Minute))
	f.Add(read(f, "peticion.xml"))
	f.Add(read(f, "peticion-template.xml"))
	roots := fx.ca.Pool()
	f.Fuzz(func(t *testing.T, env []byte) {
		v, err := wssec.Verify(env, roots, now)
		if err != nil {
			return
		}
		doc := etree.NewDocument()
		if err := doc.ReadFromBytes(v.Body); err != nil || doc.Root() == nil {
			t.Fatalf("accepted, but the Body does not parse: %v\n%s", err, v.Body)
		}
	})
}
