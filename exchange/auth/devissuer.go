package auth

import (
	"crypto/ed25519"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"time"

	"github.com/lestrrat-go/jwx/v2/jwa"
	"github.com/lestrrat-go/jwx/v2/jwk"
	"github.com/lestrrat-go/jwx/v2/jwt"

	"github.com/pontexchange/pont/exchange/fault"
)

// The development issuer's identity, which `pont dev` trusts.
const (
	DevIssuerName     = "pont-dev"
	DevIssuerAudience = "pont"
	// DevKeyFile is the development key's file name in its directory.
	DevKeyFile = "dev-issuer.jwk"
	// DevMaxLifetime is the longest lifetime of a development token, of
	// any role: the development issuer mints no longer ones, and its
	// Issuer accepts them, so that a day's work needs one token.
	DevMaxLifetime = 12 * time.Hour
)

// DevIssuer mints development tokens, signed with an Ed25519 key kept on
// disk so that tokens survive restarts of `pont dev` and `pont token`
// mints tokens that a running `pont dev` accepts. It is for development
// only: anyone who can read the key file can be anyone.
type DevIssuer struct {
	key jwk.Key // private, with kid and alg
	pub jwk.Set
	now func() time.Time
}

// NewDevIssuer returns the development issuer whose key is in
// dir/dev-issuer.jwk, creating the directory and the key (mode 0600) on
// first use.
func NewDevIssuer(dir string) (*DevIssuer, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("auth: development issuer: %w", err)
	}
	path := filepath.Join(dir, DevKeyFile)
	key, err := readDevKey(path)
	if errors.Is(err, fs.ErrNotExist) {
		key, err = createDevKey(path)
	}
	if err != nil {
		return nil, fmt.Errorf("auth: development issuer: %w", err)
	}
	pubKey, err := key.PublicKey()
	if err != nil {
		return nil, fmt.Errorf("auth: development issuer: public key: %w", err)
	}
	pub := jwk.NewSet()
	if err := pub.AddKey(pubKey); err != nil {
		return nil, fmt.Errorf("auth: development issuer: key set: %w", err)
	}
	return &DevIssuer{key: key, pub: pub, now: time.Now}, nil
}

func readDevKey(path string) (jwk.Key, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	key, err := jwk.ParseKey(data)
	if err != nil {
		return nil, fmt.Errorf("parse %s: %w", path, err)
	}
	if _, ok := key.(jwk.OKPPrivateKey); !ok {
		return nil, fmt.Errorf("%s does not hold an Ed25519 private key", path)
	}
	return key, nil
}

// createDevKey writes a new key with O_EXCL, so that two processes
// starting together end up with the same key: the loser reads the
// winner's.
func createDevKey(path string) (jwk.Key, error) {
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("generate key: %w", err)
	}
	key, err := jwk.FromRaw(priv)
	if err != nil {
		return nil, fmt.Errorf("key: %w", err)
	}
	if err := jwk.AssignKeyID(key); err != nil {
		return nil, fmt.Errorf("key id: %w", err)
	}
	if err := key.Set(jwk.AlgorithmKey, jwa.EdDSA); err != nil {
		return nil, fmt.Errorf("key algorithm: %w", err)
	}
	if err := key.Set(jwk.KeyUsageKey, jwk.ForSignature); err != nil {
		return nil, fmt.Errorf("key use: %w", err)
	}
	data, err := json.Marshal(key)
	if err != nil {
		return nil, fmt.Errorf("encode key: %w", err)
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if errors.Is(err, fs.ErrExist) {
		return readDevKey(path)
	}
	if err != nil {
		return nil, fmt.Errorf("create %s: %w", path, err)
	}
	if _, err := f.Write(append(data, '\n')); err != nil {
		f.Close()
		os.Remove(path)
		return nil, fmt.Errorf("write %s: %w", path, err)
	}
	if err := f.Close(); err != nil {
		os.Remove(path)
		return nil, fmt.Errorf("write %s: %w", path, err)
	}
	return key, nil
}

// Issuer returns the development issuer as an Issuer, so that a Verifier
// trusts it like any other, with tokens of every role living up to
// DevMaxLifetime.
func (d *DevIssuer) Issuer() Issuer {
	lifetimes := make(map[Role]time.Duration, len(roles))
	for _, r := range roles {
		lifetimes[r] = DevMaxLifetime
	}
	return Issuer{Name: DevIssuerName, Audience: DevIssuerAudience, Keys: d.pub, MaxLifetime: lifetimes}
}

// Mint returns a signed JWT (EdDSA, with kid, iat, nbf, exp and jti) for p,
// valid for ttl (at most DevMaxLifetime). p is checked as Verify would check the token's claims; a
// principal that Verify would refuse is a *fault.Error with code
// fault.InvalidRequest naming the bad claim. p's Issuer and Expires are
// ignored.
func (d *DevIssuer) Mint(p Principal, ttl time.Duration) (string, error) {
	p = p.normalize()
	fields := p.check()
	switch {
	case ttl <= 0:
		fields = append(fields, fault.FieldError{Field: "ttl", Message: "must be positive"})
	case ttl > DevMaxLifetime:
		fields = append(fields, fault.FieldError{Field: "ttl", Message: fmt.Sprintf("must be at most %v: a verifier refuses longer-lived tokens", DevMaxLifetime)})
	}
	if len(fields) > 0 {
		return "", fault.Invalid(fault.InvalidRequest, fields...)
	}
	var jti [16]byte
	if _, err := rand.Read(jti[:]); err != nil {
		return "", fmt.Errorf("auth: token id: %w", err)
	}
	now := d.now().Truncate(time.Second)
	b := jwt.NewBuilder().
		Issuer(DevIssuerName).
		Audience([]string{DevIssuerAudience}).
		IssuedAt(now).
		NotBefore(now).
		Expiration(now.Add(ttl)).
		JwtID(hex.EncodeToString(jti[:])).
		Claim("role", string(p.Role))
	if p.Sub != "" {
		b = b.Subject(p.Sub)
	}
	if p.Org != "" {
		b = b.Claim("org", p.Org)
	}
	if p.Owner != "" {
		b = b.Claim("owner", p.Owner)
	}
	tok, err := b.Build()
	if err != nil {
		return "", fmt.Errorf("auth: build token: %w", err)
	}
	signed, err := jwt.Sign(tok, jwt.WithKey(jwa.EdDSA, d.key))
	if err != nil {
		return "", fmt.Errorf("auth: sign token: %w", err)
	}
	return string(signed), nil
}
