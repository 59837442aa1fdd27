package auth

import (
	"context"
	"testing"

	"github.com/pontexchange/pont/exchange/fault"
)

// FuzzVerify signs any header and claims with the issuer's real key, so
// that the signature holds and the verifier's own reading of the token is
// what is fuzzed: it never panics, a refusal is unauthenticated, and an
// accepted token is a principal of a known role from the configured issuer.
func FuzzVerify(f *testing.F) {
	testKeys(f)
	valid := claimsJSON(f, RoleRequester, nil)
	f.Add(`{"alg":"EdDSA","kid":"ed-1","typ":"JWT"}`, valid)
	f.Add(`{"alg":"EdDSA","kid":"ed-1","crit":["b64"],"b64":false}`, valid)
	f.Add(`{"alg":"EdDSA","kid":"ed-1"}`, claimsJSON(f, RoleCitizen, map[string]any{"exp": "9999999999"}))
	f.Add(`{"alg":"EdDSA","kid":"ed-1"}`, claimsJSON(f, RoleAuditor, map[string]any{"exp": 1.5e9}))
	f.Add(`{"alg":"EdDSA","kid":"ed-1","kid":"ec-1"}`, valid)
	f.Add(`{"alg":"none"}`, valid)
	now := t0
	v := newTestVerifier(f, &now)
	f.Fuzz(func(t *testing.T, header, payload string) {
		p, err := v.Verify(context.Background(), signRaw(t, edKey, header, payload))
		if err != nil {
			if fault.CodeOf(err) != fault.Unauthenticated {
				t.Fatalf("refusal %v is not unauthenticated", err)
			}
			return
		}
		switch p.Role {
		case RoleRequester, RoleCitizen, RoleAuditor, RolePublisher:
		default:
			t.Fatalf("accepted a principal of role %q", p.Role)
		}
	})
}
