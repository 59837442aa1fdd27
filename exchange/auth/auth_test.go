package auth

import (
	"context"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/lestrrat-go/jwx/v2/jwa"
	"github.com/lestrrat-go/jwx/v2/jwk"
	"github.com/lestrrat-go/jwx/v2/jws"
	"github.com/lestrrat-go/jwx/v2/jwt"

	"github.com/pontexchange/pont/exchange/fault"
)

const (
	testIssuer   = "https://idp.example.cat"
	testAudience = "pont-test"
)

// t0 is the tests' present.
var t0 = time.Date(2026, 3, 2, 10, 0, 0, 0, time.UTC)

// signer is a private key of the test issuer with its algorithm.
type signer struct {
	alg jwa.SignatureAlgorithm
	key jwk.Key
}

var (
	keysOnce                  sync.Once
	edKey, ecKey, rsaKey, edB signer
	rsaRaw                    *rsa.PrivateKey
)

func testKeys(t testing.TB) {
	t.Helper()
	keysOnce.Do(func() {
		_, ed, _ := ed25519.GenerateKey(rand.Reader)
		_, ed2, _ := ed25519.GenerateKey(rand.Reader)
		ec, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		rsaRaw, _ = rsa.GenerateKey(rand.Reader, 2048)
		edKey = signer{jwa.EdDSA, mustKey(ed, "ed-1")}
		edB = signer{jwa.EdDSA, mustKey(ed2, "ed-1")} // another key under the same kid
		ecKey = signer{jwa.ES256, mustKey(ec, "ec-1")}
		rsaKey = signer{jwa.RS256, mustKey(rsaRaw, "rsa-1")}
	})
}

func mustKey(raw any, kid string) jwk.Key {
	var k jwk.Key
	var err error
	if jk, ok := raw.(jwk.Key); ok {
		k, err = jk.Clone()
	} else {
		k, err = jwk.FromRaw(raw)
	}
	if err != nil {
		panic(err)
	}
	if err := k.Set(jwk.KeyIDKey, kid); err != nil {
		panic(err)
	}
	return k
}

// publicSet returns the public keys of signers as a set.
func publicSet(t testing.TB, signers ...signer) jwk.Set {
	t.Helper()
	set := jwk.NewSet()
	for _, s := range signers {
		pub, err := s.key.PublicKey()
		if err != nil {
			t.Fatal(err)
		}
		if err := set.AddKey(pub); err != nil {
			t.Fatal(err)
		}
	}
	return set
}

// claims returns valid claims for role at t0, to be changed by a test.
func claims(role Role) map[string]any {
	c := map[string]any{
		"iss":  testIssuer,
		"aud":  []string{testAudience},
		"iat":  t0.Unix(),
		"nbf":  t0.Unix(),
		"exp":  t0.Add(time.Hour).Unix(),
		"jti":  "t-1",
		"role": string(role),
	}
	switch role {
	case RoleRequester:
		c["org"] = "P0801900B"
		c["sub"] = "user-7"
	case RoleCitizen:
		c["sub"] = "12345678Z"
	case RoleAuditor:
		c["sub"] = "dpo-1"
	case RolePublisher:
		c["owner"] = "ine"
		c["sub"] = "publisher-1"
	}
	return c
}

func sign(t testing.TB, s signer, c map[string]any) string {
	t.Helper()
	tok := jwt.New()
	for k, v := range c {
		if err := tok.Set(k, v); err != nil {
			t.Fatalf("set %s: %v", k, err)
		}
	}
	b, err := jwt.Sign(tok, jwt.WithKey(s.alg, s.key))
	if err != nil {
		t.Fatalf("sign: %v", err)
	}
	return string(b)
}

// rawJWT assembles a token from a header and claims with the given
// signature bytes, for tokens jwx would refuse to make.
func rawJWT(t testing.TB, header, c map[string]any, sig []byte) string {
	t.Helper()
	h, _ := json.Marshal(header)
	p, _ := json.Marshal(c)
	enc := base64.RawURLEncoding
	return enc.EncodeToString(h) + "." + enc.EncodeToString(p) + "." + enc.EncodeToString(sig)
}

// signRaw signs header and payload, given as JSON text exactly as they are
// to be encoded, with s (an Ed25519 key): for tokens whose JSON jwx would
// not write (duplicate members, dates as strings, refused headers), with
// a real signature that the issuer's key verifies.
func signRaw(t testing.TB, s signer, header, payload string) string {
	t.Helper()
	var priv ed25519.PrivateKey
	if err := s.key.Raw(&priv); err != nil {
		t.Fatalf("raw key: %v", err)
	}
	enc := base64.RawURLEncoding
	input := enc.EncodeToString([]byte(header)) + "." + enc.EncodeToString([]byte(payload))
	return input + "." + enc.EncodeToString(ed25519.Sign(priv, []byte(input)))
}

// claimsJSON returns claims(role) as JSON text with the members of change
// set (a nil value removes the member), in a fixed order, for signRaw.
func claimsJSON(t testing.TB, role Role, change map[string]any) string {
	t.Helper()
	c := claims(role)
	for k, v := range change {
		if v == nil {
			delete(c, k)
			continue
		}
		c[k] = v
	}
	b, err := json.Marshal(c)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func newTestVerifier(t testing.TB, now *time.Time, opts ...VerifierOption) *Verifier {
	t.Helper()
	testKeys(t)
	opts = append([]VerifierOption{WithClock(func() time.Time { return *now })}, opts...)
	v, err := NewVerifier(context.Background(), []Issuer{{
		Name: testIssuer, Audience: testAudience, Keys: publicSet(t, edKey, ecKey, rsaKey),
	}}, opts...)
	if err != nil {
		t.Fatalf("NewVerifier: %v", err)
	}
	t.Cleanup(func() { v.Close() })
	return v
}

func TestVerify(t *testing.T) {
	testKeys(t)
	with := func(role Role, change func(map[string]any)) map[string]any {
		c := claims(role)
		change(c)
		return c
	}
	valid := sign(t, edKey, claims(RoleRequester))
	parts := strings.Split(valid, ".")
	otherPayload := strings.Split(sign(t, edKey, with(RoleRequester, func(c map[string]any) { c["org"] = "S0800001A" })), ".")[1]
	edPub, _ := edKey.key.PublicKey()
	edPubJSON, _ := json.Marshal(edPub)

	tests := []struct {
		name    string
		token   string
		want    Principal
		wantErr string // part of the message; "" means accepted
	}{
		{"requester EdDSA", valid, Principal{Role: RoleRequester, Org: "P0801900B", Sub: "user-7"}, ""},
		{"requester ES256", sign(t, ecKey, claims(RoleRequester)), Principal{Role: RoleRequester, Org: "P0801900B", Sub: "user-7"}, ""},
		{"requester RS256", sign(t, rsaKey, claims(RoleRequester)), Principal{Role: RoleRequester, Org: "P0801900B", Sub: "user-7"}, ""},
		{"citizen", sign(t, edKey, claims(RoleCitizen)), Principal{Role: RoleCitizen, Sub: "12345678Z"}, ""},
		{"citizen NIE normalised", sign(t, edKey, with(RoleCitizen, func(c map[string]any) { c["sub"] = "x-1234567-l" })), Principal{Role: RoleCitizen, Sub: "X1234567L"}, ""},
		{"auditor", sign(t, edKey, claims(RoleAuditor)), Principal{Role: RoleAuditor, Sub: "dpo-1"}, ""},
		{"publisher", sign(t, edKey, claims(RolePublisher)), Principal{Role: RolePublisher, Owner: "ine", Sub: "publisher-1"}, ""},
		{"org normalised", sign(t, edKey, with(RoleRequester, func(c map[string]any) { c["org"] = "p0801900b" })), Principal{Role: RoleRequester, Org: "P0801900B", Sub: "user-7"}, ""},
		{"aud as a string", sign(t, edKey, with(RoleAuditor, func(c map[string]any) { c["aud"] = testAudience })), Principal{Role: RoleAuditor, Sub: "dpo-1"}, ""},
		{"expired within skew", sign(t, edKey, with(RoleAuditor, func(c map[string]any) { c["exp"] = t0.Add(-20 * time.Second).Unix() })), Principal{Role: RoleAuditor, Sub: "dpo-1"}, ""},

		{"expired", sign(t, edKey, with(RoleRequester, func(c map[string]any) { c["exp"] = t0.Add(-time.Minute).Unix() })), Principal{}, "has expired"},
		{"not yet valid", sign(t, edKey, with(RoleRequester, func(c map[string]any) { c["nbf"] = t0.Add(5 * time.Minute).Unix() })), Principal{}, "not valid yet"},
		{"issued in the future", sign(t, edKey, with(RoleRequester, func(c map[string]any) { c["iat"] = t0.Add(5 * time.Minute).Unix() })), Principal{}, "issued in the future"},
		{"no exp", sign(t, edKey, with(RoleRequester, func(c map[string]any) { delete(c, "exp") })), Principal{}, "no expiry"},
		{"wrong audience", sign(t, edKey, with(RoleRequester, func(c map[string]any) { c["aud"] = []string{"another-service"} })), Principal{}, "aud does not include"},
		{"no audience", sign(t, edKey, with(RoleRequester, func(c map[string]any) { delete(c, "aud") })), Principal{}, "aud does not include"},
		{"unknown issuer", sign(t, edKey, with(RoleRequester, func(c map[string]any) { c["iss"] = "https://evil.example" })), Principal{}, `issuer "https://evil.example" is not trusted`},
		{"no issuer", sign(t, edKey, with(RoleRequester, func(c map[string]any) { delete(c, "iss") })), Principal{}, "names no issuer"},
		{"wrong key same kid", sign(t, edB, claims(RoleRequester)), Principal{}, "signature does not verify"},
		{"unknown kid", sign(t, signer{jwa.EdDSA, mustKey(edB.key, "ed-9")}, claims(RoleRequester)), Principal{}, `kid "ed-9"`},
		{"alg none", rawJWT(t, map[string]any{"alg": "none", "typ": "JWT"}, claims(RoleRequester), nil), Principal{}, `algorithm "none" is not accepted`},
		{"alg none no signature part", strings.TrimSuffix(rawJWT(t, map[string]any{"alg": "none"}, claims(RoleRequester), nil), "."), Principal{}, "not a signed JWT"},
		{"HS256 with the public key as secret", sign(t, signer{jwa.HS256, mustKey(edPubJSON, "ed-1")}, claims(RoleRequester)), Principal{}, `algorithm "HS256" is not accepted`},
		{"ES256 header on an EdDSA key", rawJWT(t, map[string]any{"alg": "ES256", "kid": "ed-1"}, claims(RoleRequester), []byte("x")), Principal{}, `no ES256 key of the issuer has kid "ed-1"`},
		{"tampered payload", parts[0] + "." + otherPayload + "." + parts[2], Principal{}, "signature does not verify"},
		{"tampered signature", parts[0] + "." + parts[1] + "." + base64.RawURLEncoding.EncodeToString(make([]byte, 64)), Principal{}, "signature does not verify"},
		{"garbage", "not-a-token", Principal{}, "not a signed JWT"},
		{"four parts", valid + ".x", Principal{}, "not a signed JWT"},
		{"empty", "", Principal{}, "not a signed JWT"},
		{"huge", strings.Repeat("a", maxTokenLen+1), Principal{}, "longer than"},

		{"no role", sign(t, edKey, with(RoleRequester, func(c map[string]any) { delete(c, "role") })), Principal{}, "role: is required"},
		{"unknown role", sign(t, edKey, with(RoleRequester, func(c map[string]any) { c["role"] = "admin" })), Principal{}, "role: must be one of"},
		{"role not a string", sign(t, edKey, with(RoleRequester, func(c map[string]any) { c["role"] = 7 })), Principal{}, "role: must be a string"},
		{"requester without org", sign(t, edKey, with(RoleRequester, func(c map[string]any) { delete(c, "org") })), Principal{}, "org: is required"},
		{"requester with a bad org", sign(t, edKey, with(RoleRequester, func(c map[string]any) { c["org"] = "08019" })), Principal{}, "org: must be a public body's NIF"},
		{"citizen without sub", sign(t, edKey, with(RoleCitizen, func(c map[string]any) { delete(c, "sub") })), Principal{}, "sub: is required"},
		{"citizen with a bad DNI", sign(t, edKey, with(RoleCitizen, func(c map[string]any) { c["sub"] = "12345678A" })), Principal{}, "check letter should be Z"},
		{"publisher without owner", sign(t, edKey, with(RolePublisher, func(c map[string]any) { delete(c, "owner") })), Principal{}, "owner: is required"},
		{"control characters in sub", sign(t, edKey, with(RoleAuditor, func(c map[string]any) { c["sub"] = "dpo\n1" })), Principal{}, "sub: must be at most"},
	}
	now := t0
	v := newTestVerifier(t, &now)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := v.Verify(context.Background(), tt.token)
			if tt.wantErr == "" {
				if err != nil {
					t.Fatalf("Verify: %v", err)
				}
				tt.want.Issuer = testIssuer
				if tt.want.Expires.IsZero() {
					// The expiry the token carries, read apart from the
					// verifier: what Verify answers must be it.
					tt.want.Expires = expiryOf(t, tt.token)
				}
				if got != tt.want {
					t.Errorf("Verify = %+v, want %+v", got, tt.want)
				}
				return
			}
			if err == nil {
				t.Fatalf("Verify accepted the token as %+v, want an error containing %q", got, tt.wantErr)
			}
			fe, ok := fault.As(err)
			if !ok || fe.Code != fault.Unauthenticated {
				t.Fatalf("error %v is not an unauthenticated *fault.Error", err)
			}
			if !strings.Contains(fe.Message, tt.wantErr) {
				t.Errorf("message %q does not contain %q", fe.Message, tt.wantErr)
			}
			if tt.token != "" && len(tt.token) > 20 && strings.Contains(fe.Message, tt.token[len(tt.token)-20:]) {
				t.Errorf("the message repeats the token: %q", fe.Message)
			}
		})
	}
}

// TestVerifyStrict signs, with the issuer's real key, tokens that jwx
// alone would accept or misread: dates that are not integers, headers that
// Pont must not ignore, members named twice. Each is refused, and never
// enters the cache; the valid control token verifies, so that a refusal
// is the rule's and not the helper's.
func TestVerifyStrict(t *testing.T) {
	testKeys(t)
	const edHeader = `{"alg":"EdDSA","kid":"ed-1"}`
	exp := t0.Add(time.Hour).Unix()
	valid := claimsJSON(t, RoleRequester, nil)
	withHeader := func(members string) string { return `{"alg":"EdDSA","kid":"ed-1",` + members + `}` }
	// dup repeats a claim at the end of the valid payload.
	dup := func(member string) string { return strings.TrimSuffix(valid, "}") + "," + member + "}" }
	attacker := signer{jwa.EdDSA, mustKey(edB.key, "attacker")}
	attackerJWK, _ := attacker.key.PublicKey()
	attackerJSON, _ := json.Marshal(attackerJWK)

	tests := []struct {
		name    string
		token   string
		wantErr string // "" means accepted
	}{
		{"control", signRaw(t, edKey, edHeader, valid), ""},
		{"aud array with Pont among others", signRaw(t, edKey, edHeader, claimsJSON(t, RoleRequester, map[string]any{"aud": []string{"another-service", testAudience}})), ""},
		{"typ JWT", signRaw(t, edKey, `{"alg":"EdDSA","kid":"ed-1","typ":"JWT"}`, valid), ""},

		{"exp as a string", signRaw(t, edKey, edHeader, claimsJSON(t, RoleRequester, map[string]any{"exp": fmt.Sprint(exp)})), "exp must be an integer"},
		{"exp as a far string", signRaw(t, edKey, edHeader, claimsJSON(t, RoleRequester, map[string]any{"exp": "9999999999"})), "exp must be an integer"},
		{"exp with an exponent", signRaw(t, edKey, edHeader, claimsJSON(t, RoleRequester, map[string]any{"exp": json.RawMessage("1.5e9")})), "exp must be an integer"},
		{"exp with a fraction", signRaw(t, edKey, edHeader, claimsJSON(t, RoleRequester, map[string]any{"exp": float64(exp) + 0.5})), "exp must be an integer"},
		{"exp with a zero fraction", signRaw(t, edKey, edHeader, strings.Replace(valid, fmt.Sprintf(`"exp":%d`, exp), fmt.Sprintf(`"exp":%d.0`, exp), 1)), "exp must be an integer"},
		{"exp negative", signRaw(t, edKey, edHeader, claimsJSON(t, RoleRequester, map[string]any{"exp": -1})), "exp must be an integer"},
		{"exp beyond year 9999", signRaw(t, edKey, edHeader, claimsJSON(t, RoleRequester, map[string]any{"exp": int64(999999999999)})), "exp must be an integer"},
		{"exp null", signRaw(t, edKey, edHeader, claimsJSON(t, RoleRequester, map[string]any{"exp": json.RawMessage("null")})), "exp must be an integer"},
		{"nbf as a string", signRaw(t, edKey, edHeader, claimsJSON(t, RoleRequester, map[string]any{"nbf": fmt.Sprint(t0.Unix())})), "nbf must be an integer"},
		{"iat as a float", signRaw(t, edKey, edHeader, claimsJSON(t, RoleRequester, map[string]any{"iat": float64(t0.Unix()) + 0.25})), "iat must be an integer"},

		{"crit with an unknown extension", signRaw(t, edKey, withHeader(`"crit":["https://example.org/ext"],"https://example.org/ext":true`), valid), `"crit"`},
		{"crit empty", signRaw(t, edKey, withHeader(`"crit":[]`), valid), `"crit"`},
		{"crit naming b64", signRaw(t, edKey, withHeader(`"b64":false,"crit":["b64"]`), valid), `"crit"`},
		{"b64 without crit", signRaw(t, edKey, withHeader(`"b64":false`), valid), `"b64"`},
		{"jku to the attacker's keys", signRaw(t, attacker, `{"alg":"EdDSA","kid":"attacker","jku":"https://attacker.example/jwks"}`, valid), `"jku"`},
		{"x5u", signRaw(t, edKey, withHeader(`"x5u":"https://attacker.example/cert.pem"`), valid), `"x5u"`},
		{"embedded jwk of the attacker", signRaw(t, attacker, `{"alg":"EdDSA","kid":"attacker","jwk":`+string(attackerJSON)+`}`, valid), `"jwk"`},
		{"x5c", signRaw(t, edKey, withHeader(`"x5c":["MIIB"]`), valid), `"x5c"`},

		{"exp twice, the last far away", signRaw(t, edKey, edHeader, dup(`"exp":9999999999`)), `"exp" appears twice`},
		{"role twice", signRaw(t, edKey, edHeader, dup(`"role":"auditor"`)), `"role" appears twice`},
		{"iss twice", signRaw(t, edKey, edHeader, dup(`"iss":"https://evil.example"`)), `"iss" appears twice`},
		{"alg twice", signRaw(t, edKey, `{"alg":"EdDSA","kid":"ed-1","alg":"none"}`, valid), `"alg" appears twice`},
		{"kid twice", signRaw(t, edKey, `{"alg":"EdDSA","kid":"ed-1","kid":"ec-1"}`, valid), `"kid" appears twice`},
		{"kid not a string", signRaw(t, edKey, `{"alg":"EdDSA","kid":1}`, valid), "not a signed JWT"},
		{"alg not a string", signRaw(t, edKey, `{"alg":["EdDSA"],"kid":"ed-1"}`, valid), "not a signed JWT"},
		{"alg in lower case", signRaw(t, edKey, `{"alg":"eddsa","kid":"ed-1"}`, valid), `algorithm "eddsa" is not accepted`},
		{"alg ES384", signRaw(t, edKey, `{"alg":"ES384","kid":"ed-1"}`, valid), `algorithm "ES384" is not accepted`},
		{"alg PS256", signRaw(t, edKey, `{"alg":"PS256","kid":"rsa-1"}`, valid), `algorithm "PS256" is not accepted`},
		{"kid naming another type of key", signRaw(t, edKey, `{"alg":"EdDSA","kid":"rsa-1"}`, valid), `no EdDSA key of the issuer has kid "rsa-1"`},
		{"kid path", signRaw(t, edKey, `{"alg":"EdDSA","kid":"../../../../dev/null"}`, valid), `has kid "../../../../dev/null"`},
		{"payload with data after the object", signRaw(t, edKey, edHeader, valid+`{}`), "not a signed JWT"},
		{"payload an array", signRaw(t, edKey, edHeader, `[`+valid+`]`), "not a signed JWT"},
		{"JSON serialization", `{"payload":"e30","signatures":[{"protected":"e30","signature":"AA"}]}`, "not a signed JWT"},
		{"aud an empty array", signRaw(t, edKey, edHeader, claimsJSON(t, RoleRequester, map[string]any{"aud": []string{}})), "aud does not include"},
		{"aud with a number", signRaw(t, edKey, edHeader, claimsJSON(t, RoleRequester, map[string]any{"aud": []any{testAudience, 7}})), "could not be verified"},
		{"aud with Pont's name in another case", signRaw(t, edKey, edHeader, claimsJSON(t, RoleRequester, map[string]any{"aud": strings.ToUpper(testAudience)})), "aud does not include"},
	}
	now := t0
	v := newTestVerifier(t, &now)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := v.cache.Len()
			for range 2 { // the second time, the cache could answer
				got, err := v.Verify(context.Background(), tt.token)
				if tt.wantErr == "" {
					if err != nil {
						t.Fatalf("Verify: %v", err)
					}
					continue
				}
				if err == nil {
					t.Fatalf("Verify accepted the token as %+v, want an error containing %q", got, tt.wantErr)
				}
				fe, ok := fault.As(err)
				if !ok || fe.Code != fault.Unauthenticated {
					t.Fatalf("error %v is not an unauthenticated *fault.Error", err)
				}
				if !strings.Contains(fe.Error(), tt.wantErr) {
					t.Errorf("error %q does not contain %q", fe.Error(), tt.wantErr)
				}
			}
			if tt.wantErr != "" && v.cache.Len() != before {
				t.Errorf("a refused token entered the cache")
			}
		})
	}
}

// TestVerifyLifetime signs tokens of every role whose lifetime is at, or
// just past, the maximum allowed, measured from iat, nbf or the time of
// verification, with the defaults and with an issuer's own maximums.
func TestVerifyLifetime(t *testing.T) {
	testKeys(t)
	const edHeader = `{"alg":"EdDSA","kid":"ed-1"}`
	at := func(d time.Duration) int64 { return t0.Add(d).Unix() }
	tests := []struct {
		name    string
		max     map[Role]time.Duration // the issuer's MaxLifetime
		role    Role
		change  map[string]any
		wantErr string
	}{
		{"citizen 1h", nil, RoleCitizen, map[string]any{"iat": at(0), "nbf": at(0), "exp": at(time.Hour)}, ""},
		{"citizen 1h and a second", nil, RoleCitizen, map[string]any{"iat": at(0), "nbf": at(0), "exp": at(time.Hour + time.Second)}, "lives 1h0m1s (exp - iat), longer than the 1h0m0s allowed for the citizen role"},
		{"requester 12h", nil, RoleRequester, map[string]any{"iat": at(0), "exp": at(12 * time.Hour)}, ""},
		{"requester 12h and a second", nil, RoleRequester, map[string]any{"iat": at(0), "exp": at(12*time.Hour + time.Second)}, "longer than the 12h0m0s allowed for the requester role"},
		{"auditor a year", nil, RoleAuditor, map[string]any{"iat": at(0), "exp": at(365 * 24 * time.Hour)}, "allowed for the auditor role"},
		{"publisher 13h", nil, RolePublisher, map[string]any{"iat": at(0), "exp": at(13 * time.Hour)}, "allowed for the publisher role"},
		{"iat issued long ago, still valid", nil, RoleCitizen, map[string]any{"iat": at(-2 * time.Hour), "nbf": nil, "exp": at(10 * time.Minute)}, "(exp - iat)"},
		{"nbf earlier than iat counts", nil, RoleCitizen, map[string]any{"iat": at(0), "nbf": at(-time.Hour), "exp": at(30 * time.Minute)}, "lives 1h30m0s (exp - nbf)"},
		{"nbf alone", nil, RoleCitizen, map[string]any{"iat": nil, "nbf": at(-10 * time.Minute), "exp": at(55 * time.Minute)}, "(exp - nbf)"},
		{"neither, within the maximum and skew", nil, RoleCitizen, map[string]any{"iat": nil, "nbf": nil, "exp": at(time.Hour + DefaultSkew)}, ""},
		{"neither, beyond", nil, RoleCitizen, map[string]any{"iat": nil, "nbf": nil, "exp": at(time.Hour + DefaultSkew + time.Second)}, "(exp - now)"},
		{"longer than a Duration holds", nil, RoleCitizen, map[string]any{"iat": 0, "nbf": nil, "exp": int64(maxNumericDate)}, "lives 253402300799s"},
		{"issuer's citizen maximum", map[Role]time.Duration{RoleCitizen: 15 * time.Minute}, RoleCitizen, map[string]any{"iat": at(0), "exp": at(20 * time.Minute)}, "longer than the 15m0s allowed for the citizen role"},
		{"issuer's requester maximum", map[Role]time.Duration{RoleRequester: 24 * time.Hour}, RoleRequester, map[string]any{"iat": at(0), "exp": at(20 * time.Hour)}, ""},
		{"issuer's maximum for another role", map[Role]time.Duration{RoleRequester: 24 * time.Hour}, RoleCitizen, map[string]any{"iat": at(0), "exp": at(2 * time.Hour)}, "allowed for the citizen role"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			now := t0
			v, err := NewVerifier(context.Background(), []Issuer{{
				Name: testIssuer, Audience: testAudience, Keys: publicSet(t, edKey), MaxLifetime: tt.max,
			}}, WithClock(func() time.Time { return now }))
			if err != nil {
				t.Fatalf("NewVerifier: %v", err)
			}
			defer v.Close()
			token := signRaw(t, edKey, edHeader, claimsJSON(t, tt.role, tt.change))
			_, err = v.Verify(context.Background(), token)
			if tt.wantErr == "" {
				if err != nil {
					t.Fatalf("Verify: %v", err)
				}
				return
			}
			if err == nil {
				t.Fatalf("Verify accepted the token, want an error containing %q", tt.wantErr)
			}
			if fault.CodeOf(err) != fault.Unauthenticated || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("error %q, want unauthenticated containing %q", err, tt.wantErr)
			}
			if v.cache.Len() != 0 {
				t.Error("a refused token entered the cache")
			}
		})
	}
}

func TestVerifyCache(t *testing.T) {
	now := t0
	v := newTestVerifier(t, &now)
	ctx := context.Background()
	token := sign(t, edKey, claims(RoleCitizen)) // expires at t0+1h

	p, err := v.Verify(ctx, token)
	if err != nil {
		t.Fatalf("first Verify: %v", err)
	}
	if !p.Expires.Equal(t0.Add(time.Hour)) {
		t.Errorf("Expires = %v, want %v", p.Expires, t0.Add(time.Hour))
	}

	// Take the issuer's keys away: only a cached answer can still verify.
	v.issuers[testIssuer].keys = jwk.NewSet()
	if got, err := v.Verify(ctx, token); err != nil || got != p {
		t.Fatalf("cached Verify = %+v, %v; want %+v", got, err, p)
	}
	if _, err := v.Verify(ctx, sign(t, edKey, claims(RoleAuditor))); err == nil {
		t.Fatal("an uncached token verified without keys")
	}

	// Past expiry and skew, the cached entry no longer answers.
	now = t0.Add(time.Hour + DefaultSkew)
	if _, err := v.Verify(ctx, token); err == nil {
		t.Fatal("an expired token was answered from the cache")
	} else if fault.CodeOf(err) != fault.Unauthenticated {
		t.Fatalf("error %v, want unauthenticated", err)
	}
}

// TestVerifyCacheExpiry presents a cached token at times around its expiry,
// its issuer's keys taken away so that only the cache could verify it: the
// cache answers until exp plus the skew, as verification would, and never
// after; an expired entry is dropped.
func TestVerifyCacheExpiry(t *testing.T) {
	exp := t0.Add(time.Hour) // claims' exp
	tests := []struct {
		name   string
		at     time.Time
		cached bool
	}{
		{"long before exp", t0.Add(time.Minute), true},
		{"just before exp", exp.Add(-time.Nanosecond), true},
		{"within the skew", exp.Add(DefaultSkew - time.Nanosecond), true},
		{"at exp plus the skew", exp.Add(DefaultSkew), false},
		{"a day later", exp.Add(24 * time.Hour), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			now := t0
			v := newTestVerifier(t, &now)
			token := sign(t, edKey, claims(RoleCitizen))
			want, err := v.Verify(context.Background(), token)
			if err != nil {
				t.Fatalf("first Verify: %v", err)
			}
			v.issuers[testIssuer].keys = jwk.NewSet()
			now = tt.at
			got, err := v.Verify(context.Background(), token)
			switch {
			case tt.cached && (err != nil || got != want):
				t.Fatalf("Verify = %+v, %v; want %+v from the cache", got, err, want)
			case !tt.cached && err == nil:
				t.Fatalf("an expired token was answered from the cache: %+v", got)
			case !tt.cached && fault.CodeOf(err) != fault.Unauthenticated:
				t.Fatalf("error %v, want unauthenticated", err)
			}
			if n := v.cache.Len(); tt.cached != (n == 1) {
				t.Errorf("the cache holds %d entries after the call; want the entry kept only while the token is valid", n)
			}
		})
	}
}

func TestVerifyCacheBounded(t *testing.T) {
	now := t0
	v := newTestVerifier(t, &now, WithCacheSize(5))
	for i := range 20 {
		c := claims(RoleAuditor)
		c["jti"] = fmt.Sprint(i)
		if _, err := v.Verify(context.Background(), sign(t, edKey, c)); err != nil {
			t.Fatal(err)
		}
		if n := v.cache.Len(); n > 5 {
			t.Fatalf("cache holds %d tokens, bound is 5", n)
		}
	}
}

func TestVerifyConcurrent(t *testing.T) {
	now := t0
	v := newTestVerifier(t, &now, WithCacheSize(8))
	tokens := make([]string, 16)
	for i := range tokens {
		c := claims(RoleCitizen)
		c["jti"] = fmt.Sprint(i)
		tokens[i] = sign(t, edKey, c)
	}
	var wg sync.WaitGroup
	var failures atomic.Int32
	for g := range 8 {
		wg.Go(func() {
			for i := range 200 {
				if _, err := v.Verify(context.Background(), tokens[(g+i)%len(tokens)]); err != nil {
					failures.Add(1)
				}
			}
		})
	}
	wg.Wait()
	if n := failures.Load(); n > 0 {
		t.Fatalf("%d verifications failed", n)
	}
}

func TestNewVerifierRefuses(t *testing.T) {
	testKeys(t)
	secret := jwk.NewSet()
	k, _ := jwk.FromRaw([]byte("0123456789abcdef0123456789abcdef"))
	_ = secret.AddKey(k)
	keys := publicSet(t, edKey)
	tests := []struct {
		name    string
		issuers []Issuer
		wantErr string
	}{
		{"none", nil, "no token issuer"},
		{"no name", []Issuer{{Audience: "a", Keys: keys}}, "no name"},
		{"no audience", []Issuer{{Name: "i", Keys: keys}}, "no audience"},
		{"no keys", []Issuer{{Name: "i", Audience: "a"}}, "either keys or a JWKS URL"},
		{"both keys and URL", []Issuer{{Name: "i", Audience: "a", Keys: keys, JWKSURL: "http://x"}}, "either keys or a JWKS URL"},
		{"twice", []Issuer{{Name: "i", Audience: "a", Keys: keys}, {Name: "i", Audience: "b", Keys: keys}}, "configured twice"},
		{"symmetric key", []Issuer{{Name: "i", Audience: "a", Keys: secret}}, "symmetric"},
		{"empty key set", []Issuer{{Name: "i", Audience: "a", Keys: jwk.NewSet()}}, "empty"},
		{"lifetime of an unknown role", []Issuer{{Name: "i", Audience: "a", Keys: keys, MaxLifetime: map[Role]time.Duration{"admin": time.Hour}}}, `"admin": not a role`},
		{"lifetime zero", []Issuer{{Name: "i", Audience: "a", Keys: keys, MaxLifetime: map[Role]time.Duration{RoleCitizen: 0}}}, "citizen must be positive"},
		{"lifetime negative", []Issuer{{Name: "i", Audience: "a", Keys: keys, MaxLifetime: map[Role]time.Duration{RoleAuditor: -time.Hour}}}, "auditor must be positive"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v, err := NewVerifier(context.Background(), tt.issuers)
			if err == nil {
				v.Close()
				t.Fatalf("NewVerifier accepted %+v", tt.issuers)
			}
			if !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("error %q does not contain %q", err, tt.wantErr)
			}
		})
	}
}

func TestVerifyPrivateKeysAreReducedToPublic(t *testing.T) {
	testKeys(t)
	private := jwk.NewSet()
	_ = private.AddKey(edKey.key)
	now := t0
	v, err := NewVerifier(context.Background(), []Issuer{{Name: testIssuer, Audience: testAudience, Keys: private}}, WithClock(func() time.Time { return now }))
	if err != nil {
		t.Fatal(err)
	}
	defer v.Close()
	k, _ := v.issuers[testIssuer].keys.Key(0)
	if ok, _ := jwk.IsPrivateKey(k); ok {
		t.Error("the verifier kept a private key")
	}
	if _, err := v.Verify(context.Background(), sign(t, edKey, claims(RoleAuditor))); err != nil {
		t.Errorf("Verify: %v", err)
	}
}

// jwksServer serves the public keys of the current signers and counts the
// fetches.
type jwksServer struct {
	mu      sync.Mutex
	signers []signer
	fail    bool
	fetches atomic.Int32
}

func (s *jwksServer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	s.fetches.Add(1)
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.fail {
		http.Error(w, "down", http.StatusServiceUnavailable)
		return
	}
	set := jwk.NewSet()
	for _, sg := range s.signers {
		pub, _ := sg.key.PublicKey()
		_ = set.AddKey(pub)
	}
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(set)
}

func (s *jwksServer) set(fail bool, signers ...signer) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.fail, s.signers = fail, signers
}

func TestVerifyJWKSURL(t *testing.T) {
	testKeys(t)
	js := &jwksServer{}
	js.set(false, edKey)
	srv := httptest.NewServer(js)
	defer srv.Close()
	now := t0
	ctx := context.Background()
	v, err := NewVerifier(ctx, []Issuer{{Name: testIssuer, Audience: testAudience, JWKSURL: srv.URL}},
		WithClock(func() time.Time { return now }), WithHTTPClient(srv.Client()))
	if err != nil {
		t.Fatalf("NewVerifier: %v", err)
	}
	defer v.Close()

	if _, err := v.Verify(ctx, sign(t, edKey, claims(RoleRequester))); err != nil {
		t.Fatalf("Verify with the JWKS key: %v", err)
	}
	c := claims(RoleAuditor)
	if _, err := v.Verify(ctx, sign(t, edKey, c)); err != nil {
		t.Fatalf("Verify: %v", err)
	}
	if n := js.fetches.Load(); n != 1 {
		t.Errorf("the JWKS was fetched %d times, want once", n)
	}

	// The issuer rotates to a new key: a token with the new kid makes the
	// verifier refetch the JWKS once.
	rotated := signer{jwa.ES256, ecKey.key}
	js.set(false, edKey, rotated)
	if _, err := v.Verify(ctx, sign(t, rotated, claims(RoleCitizen))); err != nil {
		t.Fatalf("Verify with the rotated key: %v", err)
	}
	if n := js.fetches.Load(); n != 2 {
		t.Errorf("the JWKS was fetched %d times, want twice", n)
	}

	// Made-up kids do not make the verifier refetch again and again.
	for i := range 5 {
		bogus := signer{jwa.EdDSA, mustKey(edB.key, "bogus-"+string(rune('a'+i)))}
		if _, err := v.Verify(ctx, sign(t, bogus, claims(RoleCitizen))); err == nil {
			t.Fatal("a token with an unknown kid verified")
		}
	}
	if n := js.fetches.Load(); n != 2 {
		t.Errorf("unknown kids caused %d more fetches, want none", n-2)
	}
}

func TestVerifyJWKSDownAtStart(t *testing.T) {
	testKeys(t)
	js := &jwksServer{}
	js.set(true)
	srv := httptest.NewServer(js)
	defer srv.Close()
	now := t0
	ctx := context.Background()
	v, err := NewVerifier(ctx, []Issuer{{Name: testIssuer, Audience: testAudience, JWKSURL: srv.URL}},
		WithClock(func() time.Time { return now }), WithHTTPClient(srv.Client()))
	if err != nil {
		t.Fatalf("NewVerifier must start while the issuer is down: %v", err)
	}
	defer v.Close()
	token := sign(t, edKey, claims(RoleRequester))
	_, err = v.Verify(ctx, token)
	if fe, ok := fault.As(err); !ok || fe.Code != fault.Unauthenticated || !strings.Contains(fe.Message, "cannot be fetched") {
		t.Fatalf("Verify while the issuer is down = %v, want unauthenticated: keys cannot be fetched", err)
	}
	js.set(false, edKey)
	fetches := js.fetches.Load()
	if _, err := v.Verify(ctx, token); err == nil || js.fetches.Load() != fetches {
		t.Fatalf("Verify right after a failed fetch = %v after %d more fetches; want a failure without a fetch", err, js.fetches.Load()-fetches)
	}
	now = now.Add(keysRetryInterval)
	if _, err := v.Verify(ctx, token); err != nil {
		t.Fatalf("Verify once the issuer is back: %v", err)
	}
}

func TestDevIssuer(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data")
	d, err := NewDevIssuer(dir)
	if err != nil {
		t.Fatalf("NewDevIssuer: %v", err)
	}
	info, err := os.Stat(filepath.Join(dir, DevKeyFile))
	if err != nil {
		t.Fatal(err)
	}
	if mode := info.Mode().Perm(); mode != 0o600 {
		t.Errorf("key file mode = %v, want 0600", mode)
	}

	// A second issuer on the same directory reuses the key: its tokens
	// verify against the first one's Issuer and the other way round.
	d2, err := NewDevIssuer(dir)
	if err != nil {
		t.Fatalf("second NewDevIssuer: %v", err)
	}
	v, err := NewVerifier(context.Background(), []Issuer{d.Issuer()})
	if err != nil {
		t.Fatal(err)
	}
	defer v.Close()

	tests := []struct {
		name string
		in   Principal
		want Principal
	}{
		{"requester", Principal{Role: RoleRequester, Org: "P0801900B"}, Principal{Role: RoleRequester, Org: "P0801900B"}},
		{"citizen normalised", Principal{Role: RoleCitizen, Sub: "12345678-z"}, Principal{Role: RoleCitizen, Sub: "12345678Z"}},
		{"auditor", Principal{Role: RoleAuditor, Sub: "dpo"}, Principal{Role: RoleAuditor, Sub: "dpo"}},
		{"publisher", Principal{Role: RolePublisher, Owner: "ine"}, Principal{Role: RolePublisher, Owner: "ine"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := time.Now().Truncate(time.Second)
			token, err := d2.Mint(tt.in, time.Hour)
			if err != nil {
				t.Fatalf("Mint: %v", err)
			}
			got, err := v.Verify(context.Background(), token)
			if err != nil {
				t.Fatalf("Verify: %v", err)
			}
			tt.want.Issuer = DevIssuerName
			tt.want.Expires = got.Expires
			if got != tt.want {
				t.Errorf("Verify = %+v, want %+v", got, tt.want)
			}
			if exp := got.Expires.Sub(before); exp < time.Hour || exp > time.Hour+2*time.Second {
				t.Errorf("token lives %v, want 1h", exp)
			}

			msg, err := jws.Parse([]byte(token))
			if err != nil {
				t.Fatal(err)
			}
			h := msg.Signatures()[0].ProtectedHeaders()
			if h.Algorithm() != jwa.EdDSA || h.KeyID() == "" {
				t.Errorf("header alg=%s kid=%q, want EdDSA with a kid", h.Algorithm(), h.KeyID())
			}
			var c map[string]any
			if err := json.Unmarshal(msg.Payload(), &c); err != nil {
				t.Fatal(err)
			}
			for _, claim := range []string{"iss", "aud", "iat", "nbf", "exp", "jti", "role"} {
				if _, ok := c[claim]; !ok {
					t.Errorf("the token has no %s claim", claim)
				}
			}
		})
	}

	t.Run("distinct jti", func(t *testing.T) {
		a, _ := d.Mint(Principal{Role: RoleAuditor}, time.Hour)
		b, _ := d.Mint(Principal{Role: RoleAuditor}, time.Hour)
		if a == b {
			t.Error("two mints gave the same token")
		}
	})

	t.Run("expired dev token refused", func(t *testing.T) {
		old := *d
		old.now = func() time.Time { return time.Now().Add(-2 * time.Hour) }
		token, err := old.Mint(Principal{Role: RoleAuditor}, time.Hour)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := v.Verify(context.Background(), token); err == nil || !strings.Contains(err.Error(), "expired") {
			t.Errorf("Verify of an expired dev token = %v, want expired", err)
		}
	})

	t.Run("another directory is another key", func(t *testing.T) {
		other, err := NewDevIssuer(t.TempDir())
		if err != nil {
			t.Fatal(err)
		}
		token, _ := other.Mint(Principal{Role: RoleAuditor}, time.Hour)
		if _, err := v.Verify(context.Background(), token); err == nil {
			t.Error("a token of another development key verified")
		}
	})
}

func TestDevIssuerMintRefuses(t *testing.T) {
	d, err := NewDevIssuer(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name      string
		p         Principal
		ttl       time.Duration
		wantField string
	}{
		{"no role", Principal{}, time.Hour, "role"},
		{"unknown role", Principal{Role: "root"}, time.Hour, "role"},
		{"requester without org", Principal{Role: RoleRequester}, time.Hour, "org"},
		{"requester with a bad org", Principal{Role: RoleRequester, Org: "08019"}, time.Hour, "org"},
		{"citizen without sub", Principal{Role: RoleCitizen}, time.Hour, "sub"},
		{"citizen with a bad DNI", Principal{Role: RoleCitizen, Sub: "12345678A"}, time.Hour, "sub"},
		{"publisher without owner", Principal{Role: RolePublisher}, time.Hour, "owner"},
		{"no lifetime", Principal{Role: RoleAuditor}, 0, "ttl"},
		{"longer than a development token may live", Principal{Role: RoleAuditor}, DevMaxLifetime + time.Second, "ttl"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := d.Mint(tt.p, tt.ttl)
			fe, ok := fault.As(err)
			if !ok || fe.Code != fault.InvalidRequest {
				t.Fatalf("Mint = %v, want an invalid_request *fault.Error", err)
			}
			if len(fe.Fields) != 1 || fe.Fields[0].Field != tt.wantField {
				t.Errorf("fields = %+v, want one naming %s", fe.Fields, tt.wantField)
			}
		})
	}
}

func TestDevIssuerRefusesABadKeyFile(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, DevKeyFile), []byte(`{"kty":"oct","k":"c2VjcmV0"}`), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := NewDevIssuer(dir); err == nil || !strings.Contains(err.Error(), "Ed25519") {
		t.Errorf("NewDevIssuer with a symmetric key file = %v, want an error", err)
	}
}

func TestLoadIssuerKeys(t *testing.T) {
	testKeys(t)
	dir := t.TempDir()
	write := func(name string, data []byte) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, data, 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	jwks, _ := json.Marshal(publicSet(t, edKey, ecKey))
	edPub, _ := edKey.key.PublicKey()
	single, _ := json.Marshal(edPub)
	privJWK, _ := json.Marshal(edKey.key)
	der, _ := x509.MarshalPKIXPublicKey(rsaRaw.Public())
	pemKey := pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der})
	secret, _ := jwk.FromRaw([]byte("0123456789abcdef0123456789abcdef"))
	secretJSON, _ := json.Marshal(secret)

	tests := []struct {
		name    string
		path    string
		want    int
		wantErr string
	}{
		{"JWKS", write("keys.jwks", jwks), 2, ""},
		{"single JWK", write("key.jwk", single), 1, ""},
		{"private JWK", write("private.jwk", privJWK), 1, ""},
		{"PEM", write("key.pem", pemKey), 1, ""},
		{"symmetric", write("secret.jwk", secretJSON), 0, "symmetric"},
		{"empty set", write("empty.jwks", []byte(`{"keys":[]}`)), 0, "empty"},
		{"garbage", write("garbage", []byte("hello")), 0, "parse"},
		{"missing", filepath.Join(dir, "nope"), 0, "read"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			set, err := LoadIssuerKeys(tt.path)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("LoadIssuerKeys = %v, want an error containing %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("LoadIssuerKeys: %v", err)
			}
			if set.Len() != tt.want {
				t.Errorf("%d keys, want %d", set.Len(), tt.want)
			}
			for i := range set.Len() {
				k, _ := set.Key(i)
				if ok, _ := jwk.IsPrivateKey(k); ok {
					t.Errorf("key %d is private", i)
				}
			}
		})
	}

	// A PEM-loaded key verifies that key's tokens.
	set, err := LoadIssuerKeys(filepath.Join(dir, "key.pem"))
	if err != nil {
		t.Fatal(err)
	}
	now := t0
	v, err := NewVerifier(context.Background(), []Issuer{{Name: testIssuer, Audience: testAudience, Keys: set}}, WithClock(func() time.Time { return now }))
	if err != nil {
		t.Fatal(err)
	}
	defer v.Close()
	noKid := signer{jwa.RS256, mustKey(rsaRaw, "")}
	_ = noKid.key.Remove(jwk.KeyIDKey)
	if _, err := v.Verify(context.Background(), sign(t, noKid, claims(RoleAuditor))); err != nil {
		t.Errorf("Verify with a PEM key: %v", err)
	}
}

func BenchmarkVerifyCached(b *testing.B) {
	now := t0
	v := newTestVerifier(b, &now)
	token := sign(b, edKey, claims(RoleRequester))
	ctx := context.Background()
	if _, err := v.Verify(ctx, token); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := v.Verify(ctx, token); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkVerifyUncached(b *testing.B) {
	for _, s := range []struct {
		name string
		sg   func() signer
	}{{"EdDSA", func() signer { return edKey }}, {"ES256", func() signer { return ecKey }}, {"RS256", func() signer { return rsaKey }}} {
		b.Run(s.name, func(b *testing.B) {
			now := t0
			v := newTestVerifier(b, &now, WithCacheSize(0))
			token := sign(b, s.sg(), claims(RoleRequester))
			ctx := context.Background()
			b.ReportAllocs()
			for b.Loop() {
				if _, err := v.Verify(ctx, token); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// expiryOf reads the exp claim of a compact JWT without verifying it.
func expiryOf(t *testing.T, token string) time.Time {
	t.Helper()
	parts := strings.Split(token, ".")
	if len(parts) != 3 {
		t.Fatalf("not a compact JWT: %q", token)
	}
	payload, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		t.Fatal(err)
	}
	var c struct {
		Exp int64 `json:"exp"`
	}
	if err := json.Unmarshal(payload, &c); err != nil || c.Exp == 0 {
		t.Fatalf("no exp in %s: %v", payload, err)
	}
	return time.Unix(c.Exp, 0).UTC()
}
