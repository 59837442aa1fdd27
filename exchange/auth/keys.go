package auth

import (
	"bytes"
	"errors"
	"fmt"
	"os"

	"github.com/lestrrat-go/jwx/v2/jwa"
	"github.com/lestrrat-go/jwx/v2/jwk"
)

// LoadIssuerKeys reads an issuer's public keys from path: a JWKS, a single
// JWK, or PEM public keys (or certificates). Private keys are reduced to
// their public part; symmetric keys are refused, since Pont accepts only
// asymmetric signatures.
func LoadIssuerKeys(path string) (jwk.Set, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("auth: read issuer keys: %w", err)
	}
	data = bytes.TrimSpace(data)
	var set jwk.Set
	if bytes.HasPrefix(data, []byte("-----BEGIN")) {
		set, err = jwk.Parse(data, jwk.WithPEM(true))
	} else {
		set, err = jwk.Parse(data)
	}
	if err != nil {
		return nil, fmt.Errorf("auth: parse issuer keys in %s: %w", path, err)
	}
	pub, err := publicKeys(set)
	if err != nil {
		return nil, fmt.Errorf("auth: issuer keys in %s: %w", path, err)
	}
	return pub, nil
}

// publicKeys returns the public part of every key in set, refusing an
// empty set and symmetric keys.
func publicKeys(set jwk.Set) (jwk.Set, error) {
	if set.Len() == 0 {
		return nil, errors.New("the key set is empty")
	}
	for i := range set.Len() {
		k, _ := set.Key(i)
		if k.KeyType() == jwa.OctetSeq {
			return nil, errors.New("symmetric (oct) keys are not accepted: an issuer signs with EdDSA, ES256 or RS256")
		}
	}
	pub, err := jwk.PublicSetOf(set)
	if err != nil {
		return nil, fmt.Errorf("public keys: %w", err)
	}
	return pub, nil
}
