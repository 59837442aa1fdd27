package catalog

import (
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/json"
	"strings"
	"testing"

	"github.com/lestrrat-go/jwx/v2/jwk"
)

func TestValidOwnerID(t *testing.T) {
	for _, id := range []string{
		"P0801900B", "P1708500B", "Q0801175A", "S0811001G", "S4611001A", "Q2827002C", "S2833002E", // NIFs
		"L01431482", "A09002970", "E04990101", "U00000001", // DIR3 codes
	} {
		if err := ValidOwnerID(id); err != nil {
			t.Errorf("ValidOwnerID(%q) = %v, want nil", id, err)
		}
	}
	for _, tt := range []struct{ id, want string }{
		{"P0801900C", "wrong check character (want B)"},
		{"Q2827002D", "wrong check character (want C)"},
		{"", "neither"},
		{"p0801900b", "neither"},
		{"L0143148", "neither"},
		{"L014314820", "neither"},
		{"X01431482", "neither"},
		{"P0801900B\x00", "neither"},
		{"12345678Z", "neither"}, // a person's DNI
	} {
		err := ValidOwnerID(tt.id)
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("ValidOwnerID(%q) = %v, want an error mentioning %q", tt.id, err, tt.want)
		}
	}
}

// ownerKeyJWK answers a fresh Ed25519 key's public JWK with its kid.
func ownerKeyJWK(t *testing.T) (ed25519.PublicKey, map[string]any) {
	t.Helper()
	pub, _, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	kid, err := KeyID(pub)
	if err != nil {
		t.Fatal(err)
	}
	k, err := jwk.FromRaw(pub)
	if err != nil {
		t.Fatal(err)
	}
	if err := k.Set(jwk.KeyIDKey, kid); err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	raw, _ := json.Marshal(k)
	if err := json.Unmarshal(raw, &m); err != nil {
		t.Fatal(err)
	}
	return pub, m
}

func TestOwnersKeysAndRights(t *testing.T) {
	pub1, k1 := ownerKeyJWK(t)
	pub2, k2 := ownerKeyJWK(t)
	fsys := mutate(t, "owners.json", func(d map[string]any) {
		obj(d, "L01431482")["keys"] = map[string]any{"keys": []any{k1, k2}}
	})
	c, err := Load(fsys)
	if err != nil {
		t.Fatal(err)
	}
	o := c.Owners["L01431482"]
	if o == nil {
		t.Fatal("owner L01431482 missing")
	}
	for _, tt := range []struct {
		kid  string
		want ed25519.PublicKey
	}{{k1["kid"].(string), pub1}, {k2["kid"].(string), pub2}} {
		got, ok := o.PublicKey(tt.kid)
		if !ok || !got.Equal(tt.want) {
			t.Errorf("PublicKey(%s) = %x, %v; want %x", tt.kid, got, ok, tt.want)
		}
	}
	if _, ok := o.PublicKey("nope"); ok {
		t.Error("PublicKey of an unknown kid answered a key")
	}
	if len(o.KeyIDs()) != 2 {
		t.Errorf("KeyIDs = %v, want two", o.KeyIDs())
	}
	for _, tt := range []struct {
		service, scope string
		want           bool
	}{
		{"padro", "43148", true},
		{"padro", "08019", false}, // Barcelona's, not Tarragona's
		{"padro", "*", false},
		{"discapacitat", "43148", false},
	} {
		if got := o.MayServe(tt.service, tt.scope); got != tt.want {
			t.Errorf("MayServe(%s, %s) = %v, want %v", tt.service, tt.scope, got, tt.want)
		}
	}
	if !c.Owners["Q2827002C"].MayServe("prestacions", "*") {
		t.Error("the INSS may not serve prestacions for every scope")
	}
	if len(c.Owners["P0801900B"].KeyIDs()) != 0 {
		t.Error("an owner without keys in owners.json has keys")
	}
}

func TestOwnersRejects(t *testing.T) {
	_, good := ownerKeyJWK(t)
	ecKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	ec, _ := jwk.FromRaw(&ecKey.PublicKey)
	_ = ec.Set(jwk.KeyIDKey, "ec-1")
	ecJSON, _ := json.Marshal(ec)
	var ecMap map[string]any
	_ = json.Unmarshal(ecJSON, &ecMap)
	_, private, _ := ed25519.GenerateKey(rand.Reader)
	priv, _ := jwk.FromRaw(private)
	_ = priv.Set(jwk.KeyIDKey, "secret")
	privJSON, _ := json.Marshal(priv)
	var privMap map[string]any
	_ = json.Unmarshal(privJSON, &privMap)
	noKid := map[string]any{}
	for k, v := range good {
		if k != "kid" {
			noKid[k] = v
		}
	}
	keys := func(ks ...any) map[string]any { return map[string]any{"keys": ks} }

	tests := []struct {
		name string
		edit func(d map[string]any)
		want string
	}{
		{"bad id", func(d map[string]any) { d["AJ-TGN"] = d["L01431482"] }, `"AJ-TGN" is neither`},
		{"wrong NIF check", func(d map[string]any) { d["P0801900C"] = d["P0801900B"] }, "wrong check character"},
		{"no name", func(d map[string]any) { obj(d, "L01431482")["name"] = " " }, "owner L01431482: name is required"},
		{"no serves", func(d map[string]any) { obj(d, "L01431482")["serves"] = map[string]any{} }, "serves: name at least one"},
		{"unknown service", func(d map[string]any) { obj(d, "L01431482", "serves")["cadastre"] = []any{"43148"} }, `unknown service "cadastre"`},
		{"no scopes", func(d map[string]any) { obj(d, "L01431482", "serves")["padro"] = []any{} }, "serves.padro: no scopes"},
		{"scope on a service without routing key", func(d map[string]any) {
			obj(d, "Q2827002C", "serves")["prestacions"] = []any{"09"}
		}, `its only scope is "*"`},
		{"scope twice", func(d map[string]any) { obj(d, "L01431482", "serves")["padro"] = []any{"43148", "43148"} }, "listed twice"},
		{"keys not a JWKS", func(d map[string]any) { obj(d, "L01431482")["keys"] = []any{good} }, "not a JWKS"},
		{"EC key", func(d map[string]any) { obj(d, "L01431482")["keys"] = keys(ecMap) }, `kty is "EC"`},
		{"private key", func(d map[string]any) { obj(d, "L01431482")["keys"] = keys(privMap) }, "is a private key"},
		{"no kid", func(d map[string]any) { obj(d, "L01431482")["keys"] = keys(noKid) }, "kid is required"},
		{"kid twice", func(d map[string]any) { obj(d, "L01431482")["keys"] = keys(good, good) }, "is used twice"},
		{"unknown member", func(d map[string]any) { obj(d, "L01431482")["scopes"] = []any{"43148"} }, `unknown field "scopes"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Load(mutate(t, "owners.json", tt.edit))
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("Load error = %v, want it to mention %q", err, tt.want)
			}
			if !strings.Contains(err.Error(), "owners.json") {
				t.Errorf("Load error = %v, want it to name owners.json", err)
			}
		})
	}
}

func TestWithOwners(t *testing.T) {
	c, err := Default()
	if err != nil {
		t.Fatal(err)
	}
	pub, k := ownerKeyJWK(t)
	raw, _ := json.Marshal(map[string]any{"keys": []any{k}})
	owners := map[string]*Owner{}
	for id, o := range c.Owners {
		cp := *o
		owners[id] = &cp
	}
	owners["L01431482"].Keys = raw
	c2, err := c.WithOwners(owners)
	if err != nil {
		t.Fatal(err)
	}
	if got, ok := c2.Owners["L01431482"].PublicKey(k["kid"].(string)); !ok || !got.Equal(pub) {
		t.Error("WithOwners did not install the key")
	}
	if len(c.Owners["L01431482"].KeyIDs()) != 0 {
		t.Error("WithOwners changed the original catalog")
	}
	owners["L01431482"].Serves = map[string][]string{"padro": {"*"}}
	if _, err := c.WithOwners(owners); err != nil {
		t.Errorf("WithOwners refused padró for every municipality: %v", err)
	}
	owners["L01431482"].Serves = map[string][]string{"cadastre": {"*"}}
	if _, err := c.WithOwners(owners); err == nil || !strings.Contains(err.Error(), "cadastre") {
		t.Errorf("WithOwners error = %v, want it to name the unknown service", err)
	}
}

func TestKeyIDIsTheThumbprint(t *testing.T) {
	pub, _, _ := ed25519.GenerateKey(rand.Reader)
	a, err := KeyID(pub)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := KeyID(append(ed25519.PublicKey(nil), pub...))
	if a != b || len(a) != 43 {
		t.Errorf("KeyID = %q and %q, want one 43-character thumbprint", a, b)
	}
}
