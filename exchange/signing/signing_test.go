package signing

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/lestrrat-go/jwx/v2/jwa"
	"github.com/lestrrat-go/jwx/v2/jwk"
	"github.com/lestrrat-go/jwx/v2/jws"

	"github.com/pontexchange/pont/catalog"
	"github.com/pontexchange/pont/exchange/internal/wasmbin"
	"github.com/pontexchange/pont/exchange/manifest"
)

var testManifest = manifest.Manifest{
	ABI: 1, Name: "padro-43148", Version: "1.0.0", Owner: "L01431482",
	Services: []string{"padro"}, Scope: "43148",
}

// module answers a module with m as its manifest and a code section's
// worth of other bytes (a custom section), enough to sign and hash.
func module(t *testing.T, m manifest.Manifest) []byte {
	t.Helper()
	base := wasmbin.AppendSection(append([]byte(nil), wasmbin.Header...), wasmbin.CustomID,
		append(wasmbin.AppendName(nil, "producers"), "clang 14"...))
	wasm, err := manifest.Embed(base, m)
	if err != nil {
		t.Fatal(err)
	}
	return wasm
}

// owner answers a catalog owner whose keys are those of keys.
func owner(t *testing.T, keys ...jwk.Key) *catalog.Owner {
	t.Helper()
	set := jwk.NewSet()
	for _, k := range keys {
		pub, err := k.PublicKey()
		if err != nil {
			t.Fatal(err)
		}
		if err := set.AddKey(pub); err != nil {
			t.Fatal(err)
		}
	}
	raw, _ := json.Marshal(set)
	c, err := catalog.Default()
	if err != nil {
		t.Fatal(err)
	}
	owners := map[string]*catalog.Owner{}
	for id, o := range c.Owners {
		owners[id] = o
	}
	o := *owners["L01431482"]
	o.Keys = raw
	owners["L01431482"] = &o
	c, err = c.WithOwners(owners)
	if err != nil {
		t.Fatal(err)
	}
	return c.Owners["L01431482"]
}

func newKey(t *testing.T) jwk.Key {
	t.Helper()
	k, err := GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func TestSignAndVerify(t *testing.T) {
	key := newKey(t)
	wasm := module(t, testManifest)
	digest, err := Digest(wasm)
	if err != nil {
		t.Fatal(err)
	}
	signed, err := Sign(wasm, key)
	if err != nil {
		t.Fatal(err)
	}
	if got, _ := Digest(signed); got != digest {
		t.Errorf("Digest of the signed module = %s, want the unsigned one's %s", got, digest)
	}
	if _, err := manifest.Read(signed); err != nil {
		t.Errorf("the signed module's manifest: %v", err)
	}
	sig, err := Verify(signed, testManifest, owner(t, newKey(t), key))
	if err != nil {
		t.Fatal(err)
	}
	if sig.KeyID != key.KeyID() || sig.Claims.ModuleSHA256 != digest || sig.Claims.Name != "padro-43148" {
		t.Errorf("Verify = %+v", sig)
	}
	// Signing again replaces the signature: still one section.
	again, err := Sign(signed, newKey(t))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Read(again); err != nil {
		t.Errorf("Read of a module signed twice: %v", err)
	}
	if _, err := Verify(again, testManifest, owner(t, key)); err == nil || !strings.Contains(err.Error(), "not one of owner L01431482's current keys") {
		t.Errorf("Verify after another key re-signed = %v, want the key named as not the owner's", err)
	}
}

func TestVerifyRefuses(t *testing.T) {
	key := newKey(t)
	own := owner(t, key)
	signed, err := Sign(module(t, testManifest), key)
	if err != nil {
		t.Fatal(err)
	}
	sig, err := Read(signed)
	if err != nil {
		t.Fatal(err)
	}
	withSection := func(wasm []byte, payload string) []byte {
		base, _ := Strip(wasm)
		return wasmbin.AppendSection(append([]byte(nil), base...), wasmbin.CustomID, append(wasmbin.AppendName(nil, SectionName), payload...))
	}

	// The same kid on another key: what someone who saw the owner's kid
	// would try.
	forger := newKey(t)
	_ = forger.Set(jwk.KeyIDKey, key.KeyID())
	forged, err := Sign(module(t, testManifest), forger)
	if err != nil {
		t.Fatal(err)
	}
	// A module changed after signing: another scope in its manifest.
	other := testManifest
	other.Scope = "08019"
	moved, err := manifest.Embed(signed, other)
	if err != nil {
		t.Fatal(err)
	}
	// A JWS of another kind: HMAC, no typ.
	hmac, _ := jws.Sign([]byte(`{}`), jws.WithKey(jwa.HS256, []byte("0123456789abcdef0123456789abcdef")))

	tests := []struct {
		name string
		wasm []byte
		m    manifest.Manifest
		want string
	}{
		{"unsigned", module(t, testManifest), testManifest, "not signed"},
		{"forged with the owner's kid", forged, testManifest, "does not verify with owner L01431482's key"},
		{"changed after signing", moved, other, "the module was changed after it was signed"},
		{"two signatures", wasmbin.AppendSection(append([]byte(nil), signed...), wasmbin.CustomID, append(wasmbin.AppendName(nil, SectionName), sig.JWS...)), testManifest, "2 pont.signature sections"},
		{"not a JWS", withSection(signed, "hello"), testManifest, "not a compact JWS"},
		{"NUL bytes", withSection(signed, "\x00\x00\x00"), testManifest, "not a compact JWS"},
		{"HMAC JWS", withSection(signed, string(hmac)), testManifest, "alg is \"HS256\""},
		{"not wasm", []byte("MZ\x90\x00"), testManifest, "not a WebAssembly module"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Verify(tt.wasm, tt.m, own)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("Verify = %v, want an error mentioning %q", err, tt.want)
			}
		})
	}
	if _, err := Read(module(t, testManifest)); !errors.Is(err, ErrUnsigned) {
		t.Errorf("Read of an unsigned module = %v, want ErrUnsigned", err)
	}
}

func TestKeys(t *testing.T) {
	key := newKey(t)
	raw, _ := json.Marshal(key)
	back, err := ParsePrivateKey(raw)
	if err != nil {
		t.Fatal(err)
	}
	if back.KeyID() != key.KeyID() || len(key.KeyID()) != 43 {
		t.Errorf("kid = %q, want %q (a thumbprint)", back.KeyID(), key.KeyID())
	}
	jwks, err := PublicJWKS(key)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(jwks), `"d"`) {
		t.Fatalf("the public JWKS holds the private key: %s", jwks)
	}
	if own := owner(t, key); own == nil {
		t.Fatal("the public JWKS is not an owner's keys")
	}
	pub, _ := key.PublicKey()
	pubRaw, _ := json.Marshal(pub)
	for _, tt := range []struct {
		name, raw, want string
	}{
		{"public key", string(pubRaw), "signing needs the private key"},
		{"not JSON", "-----BEGIN PRIVATE KEY-----", "not a JWK"},
		{"no kid", strings.Replace(string(raw), `"kid"`, `"xid"`, 1), "no kid"},
	} {
		if _, err := ParsePrivateKey([]byte(tt.raw)); err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: ParsePrivateKey = %v, want an error mentioning %q", tt.name, err, tt.want)
		}
	}
}
