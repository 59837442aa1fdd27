// Package signing makes and checks the signature of an adapter module: a
// compact JWS (RFC 7515, EdDSA over Ed25519) in the module's
// pont.signature custom section, whose payload names the SHA-256 of the
// module without that section and the manifest's name, version and owner.
// sdk-wasm/ABI.md, section 6, is the contract; this package changes only
// with it.
package signing

import (
	"bytes"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"slices"

	"github.com/lestrrat-go/jwx/v2/jwa"
	"github.com/lestrrat-go/jwx/v2/jwk"
	"github.com/lestrrat-go/jwx/v2/jws"

	"github.com/pontexchange/pont/catalog"
	"github.com/pontexchange/pont/exchange/internal/wasmbin"
	"github.com/pontexchange/pont/exchange/manifest"
)

// SectionName is the name of the custom section that holds the signature.
const SectionName = manifest.SignatureSection

// MediaType is the JWS's typ header: what the signature is of.
const MediaType = "pont-adapter+jws"

// ErrUnsigned means the module has no pont.signature section.
var ErrUnsigned = errors.New("the module is not signed: it has no " + SectionName + " custom section")

// Claims are the JWS's payload: what the owner vouches for.
type Claims struct {
	// ModuleSHA256 is the lowercase hex SHA-256 of the module with every
	// pont.signature section removed (Digest).
	ModuleSHA256 string `json:"module_sha256"`
	// Name, Version and Owner repeat the manifest's, so that a signature
	// cannot be moved onto another adapter's manifest.
	Name    string `json:"name"`
	Version string `json:"version"`
	Owner   string `json:"owner"`
}

// Signature is a module's signature as read from it.
type Signature struct {
	JWS    string // the section's payload, a compact JWS
	KeyID  string // its kid header
	Claims Claims // its payload, not yet verified unless Verify answered it
}

// Digest answers the lowercase hex SHA-256 of a module without its
// pont.signature sections: what a signature covers. The manifest is
// covered, since it is part of the module.
func Digest(wasm []byte) (string, error) {
	unsigned, err := Strip(wasm)
	if err != nil {
		return "", err
	}
	sum := sha256.Sum256(unsigned)
	return hex.EncodeToString(sum[:]), nil
}

// Strip answers the module without its pont.signature sections (the
// module itself when it has none).
func Strip(wasm []byte) ([]byte, error) {
	secs, err := wasmbin.Sections(wasm)
	if err != nil {
		return nil, fmt.Errorf("signing: %w", err)
	}
	if !slices.ContainsFunc(secs, isSignature) {
		return wasm, nil
	}
	out := make([]byte, 0, len(wasm))
	out = append(out, wasmbin.Header...)
	for _, s := range secs {
		if !isSignature(s) {
			out = append(out, s.Raw...)
		}
	}
	return out, nil
}

func isSignature(s wasmbin.Section) bool {
	return s.ID == wasmbin.CustomID && s.Name == SectionName
}

// GenerateKey answers a new Ed25519 private key as a JWK, with alg EdDSA
// and its thumbprint as kid (catalog.KeyID).
func GenerateKey() (jwk.Key, error) {
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("signing: %w", err)
	}
	k, err := jwk.FromRaw(priv)
	if err != nil {
		return nil, fmt.Errorf("signing: %w", err)
	}
	kid, err := catalog.KeyID(priv.Public().(ed25519.PublicKey))
	if err != nil {
		return nil, err
	}
	for name, v := range map[string]any{jwk.KeyIDKey: kid, jwk.AlgorithmKey: jwa.EdDSA, jwk.KeyUsageKey: "sig"} {
		if err := k.Set(name, v); err != nil {
			return nil, fmt.Errorf("signing: %w", err)
		}
	}
	return k, nil
}

// ParsePrivateKey reads a private Ed25519 JWK, as GenerateKey makes and
// pont adapter keygen writes: it must have a kid.
func ParsePrivateKey(raw []byte) (jwk.Key, error) {
	k, err := jwk.ParseKey(raw)
	if err != nil {
		return nil, fmt.Errorf("signing: the key is not a JWK: %w", err)
	}
	if _, err := catalog.Ed25519Key(k); err != nil {
		return nil, fmt.Errorf("signing: %w", err)
	}
	var rawKey any
	if err := k.Raw(&rawKey); err != nil {
		return nil, fmt.Errorf("signing: %w", err)
	}
	if _, ok := rawKey.(ed25519.PrivateKey); !ok {
		return nil, errors.New("signing: the key is a public key; signing needs the private key (the file pont adapter keygen wrote without .pub)")
	}
	if k.KeyID() == "" {
		return nil, errors.New("signing: the key has no kid")
	}
	return k, nil
}

// PublicJWKS answers the JWKS of key's public half, as it goes into the
// owner's "keys" in the catalog's owners.json.
func PublicJWKS(key jwk.Key) ([]byte, error) {
	pub, err := key.PublicKey()
	if err != nil {
		return nil, fmt.Errorf("signing: %w", err)
	}
	set := jwk.NewSet()
	if err := set.AddKey(pub); err != nil {
		return nil, fmt.Errorf("signing: %w", err)
	}
	return json.MarshalIndent(set, "", "  ")
}

// Sign answers the module signed with key (a private Ed25519 JWK with a
// kid): any pont.signature section is removed and a new one appended. The
// module's manifest must be valid; its owner is the signer's to check.
func Sign(wasm []byte, key jwk.Key) ([]byte, error) {
	m, err := manifest.Read(wasm)
	if err != nil {
		return nil, fmt.Errorf("signing: %w", err)
	}
	unsigned, err := Strip(wasm)
	if err != nil {
		return nil, err
	}
	sum := sha256.Sum256(unsigned)
	payload, err := json.Marshal(Claims{ModuleSHA256: hex.EncodeToString(sum[:]), Name: m.Name, Version: m.Version, Owner: m.Owner})
	if err != nil {
		return nil, fmt.Errorf("signing: %w", err)
	}
	hdr := jws.NewHeaders()
	for name, v := range map[string]any{jws.KeyIDKey: key.KeyID(), jws.TypeKey: MediaType} {
		if err := hdr.Set(name, v); err != nil {
			return nil, fmt.Errorf("signing: %w", err)
		}
	}
	token, err := jws.Sign(payload, jws.WithKey(jwa.EdDSA, key, jws.WithProtectedHeaders(hdr)))
	if err != nil {
		return nil, fmt.Errorf("signing: %w", err)
	}
	body := append(wasmbin.AppendName(nil, SectionName), token...)
	return wasmbin.AppendSection(slices.Clip(unsigned), wasmbin.CustomID, body), nil
}

// Read answers a module's signature without checking it: ErrUnsigned
// when it has none, an error when it has more than one or the section is
// not a compact JWS of this kind.
func Read(wasm []byte) (Signature, error) {
	secs, err := wasmbin.Sections(wasm)
	if err != nil {
		return Signature{}, fmt.Errorf("signing: %w", err)
	}
	var found []wasmbin.Section
	for _, s := range secs {
		if isSignature(s) {
			found = append(found, s)
		}
	}
	switch len(found) {
	case 0:
		return Signature{}, fmt.Errorf("signing: %w", ErrUnsigned)
	case 1:
	default:
		return Signature{}, fmt.Errorf("signing: the module has %d %s sections; it must have one", len(found), SectionName)
	}
	token := found[0].Data
	msg, err := jws.Parse(token, jws.WithCompact())
	if err != nil {
		return Signature{}, fmt.Errorf("signing: the %s section is not a compact JWS: %w", SectionName, err)
	}
	sigs := msg.Signatures()
	if len(sigs) != 1 {
		return Signature{}, fmt.Errorf("signing: the JWS has %d signatures; it must have one", len(sigs))
	}
	h := sigs[0].ProtectedHeaders()
	if h.Algorithm() != jwa.EdDSA {
		return Signature{}, fmt.Errorf("signing: the JWS's alg is %q; it must be EdDSA", h.Algorithm())
	}
	if h.Type() != MediaType {
		return Signature{}, fmt.Errorf("signing: the JWS's typ is %q; it must be %q", h.Type(), MediaType)
	}
	if h.KeyID() == "" {
		return Signature{}, errors.New("signing: the JWS has no kid: it does not say which of the owner's keys made it")
	}
	dec := json.NewDecoder(bytes.NewReader(msg.Payload()))
	dec.DisallowUnknownFields()
	var c Claims
	if err := dec.Decode(&c); err != nil {
		return Signature{}, fmt.Errorf("signing: the JWS's payload is not a module signature: %w", err)
	}
	return Signature{JWS: string(token), KeyID: h.KeyID(), Claims: c}, nil
}

// Verify checks a module's signature: made by the key that owner answers
// for its kid, over this module, for this manifest. It answers the
// signature, or an error that says which check failed.
func Verify(wasm []byte, m manifest.Manifest, owner *catalog.Owner) (Signature, error) {
	sig, err := Read(wasm)
	if err != nil {
		return Signature{}, err
	}
	pub, ok := owner.PublicKey(sig.KeyID)
	if !ok {
		return Signature{}, fmt.Errorf("signing: the module is signed with key %q, which is not one of owner %s's current keys (%v)", sig.KeyID, m.Owner, owner.KeyIDs())
	}
	if _, err := jws.Verify([]byte(sig.JWS), jws.WithKey(jwa.EdDSA, pub)); err != nil {
		return Signature{}, fmt.Errorf("signing: the signature does not verify with owner %s's key %q: %w", m.Owner, sig.KeyID, err)
	}
	digest, err := Digest(wasm)
	if err != nil {
		return Signature{}, err
	}
	switch c := sig.Claims; {
	case c.ModuleSHA256 != digest:
		return Signature{}, fmt.Errorf("signing: the signature is over another module (module_sha256 %s; this module's is %s): the module was changed after it was signed", c.ModuleSHA256, digest)
	case c.Name != m.Name || c.Version != m.Version || c.Owner != m.Owner:
		return Signature{}, fmt.Errorf("signing: the signature is for %s %s of owner %s, not for the manifest's %s %s of owner %s", c.Name, c.Version, c.Owner, m.Name, m.Version, m.Owner)
	}
	return sig, nil
}
