package catalog

import (
	"crypto"
	"crypto/ed25519"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"regexp"
	"slices"
	"strings"

	"github.com/lestrrat-go/jwx/v2/jwa"
	"github.com/lestrrat-go/jwx/v2/jwk"
)

// Owner is a data owner: a public body that holds citizens' data for some
// services and scopes, and publishes the adapters that answer for them.
// The catalog says who each owner is, which keys sign its adapters and
// what it may serve; the owner then adds its sources by publishing, and the
// catalog's files do not change when it does.
type Owner struct {
	// Name is the body's name, e.g. "Ajuntament de Tarragona".
	Name string `json:"name"`
	// Keys is a JWKS of the owner's Ed25519 public keys (kty OKP, crv
	// Ed25519, each with its kid): a module signed by any of them is the
	// owner's. Rotation: add the new key, sign with it, then remove the old
	// one; a version signed by a removed key is no longer loaded. Empty: the
	// owner cannot publish (pont dev makes development keys for it).
	Keys json.RawMessage `json:"keys,omitempty"`
	// Serves lists, for each service, the scopes the owner may publish
	// adapters for: routing-key values (a municipality's INE code, a
	// province's), or "*" where one adapter serves every value.
	Serves map[string][]string `json:"serves"`

	keys map[string]ed25519.PublicKey // by kid
}

// PublicKey answers the owner's key with kid.
func (o *Owner) PublicKey(kid string) (ed25519.PublicKey, bool) {
	k, ok := o.keys[kid]
	return k, ok
}

// KeyIDs answers the kids of the owner's keys, sorted.
func (o *Owner) KeyIDs() []string { return slices.Sorted(maps.Keys(o.keys)) }

// MayServe reports whether the owner may publish an adapter that serves
// service at scope.
func (o *Owner) MayServe(service, scope string) bool {
	return slices.Contains(o.Serves[service], scope)
}

// ownerNIFPattern is a legal person's NIF (the CIF form): a letter, seven
// digits and a check character.
var ownerNIFPattern = regexp.MustCompile(`^[ABCDEFGHJNPQRSUVW][0-9]{7}[0-9A-J]$`)

// dir3Pattern is a DIR3 code of the common directory of units and offices:
// a letter that says the administration (E state, A region, L local
// entity, U university, I other institutions, J justice, O office, G
// other) and eight letters or digits, e.g. L01431482 for the Ajuntament
// de Tarragona.
var dir3Pattern = regexp.MustCompile(`^[AEGIJLOU][0-9A-Z]{8}$`)

// ValidOwnerID checks an owner's id: a legal person's NIF whose check
// character is right, or a DIR3 code.
func ValidOwnerID(id string) error {
	nif := ownerNIFPattern.MatchString(id)
	want := ""
	if nif {
		if want = nifControl(id); strings.ContainsRune(want, rune(id[8])) {
			return nil
		}
	}
	// A DIR3 code of a region or the state (A09002970, E04990101) has a
	// NIF's shape, and no NIF's check character.
	if dir3Pattern.MatchString(id) {
		return nil
	}
	if nif {
		return fmt.Errorf("%q is a NIF with a wrong check character (want %s)", id, strings.Join(strings.Split(want, ""), " or "))
	}
	return fmt.Errorf("%q is neither a legal person's NIF (a letter, seven digits, a check character) nor a DIR3 code (a letter and eight letters or digits)", id)
}

// nifControl answers the check characters a legal person's NIF may end
// with: a letter for the kinds that must end with one (public bodies
// among them), a digit for those that must end with a digit, either for
// the rest.
func nifControl(id string) string {
	sum := 0
	for i := 1; i <= 7; i++ {
		d := int(id[i] - '0')
		if i%2 == 1 { // odd positions count twice, digits added
			d *= 2
			d = d/10 + d%10
		}
		sum += d
	}
	c := (10 - sum%10) % 10
	letter, digit := string("JABCDEFGHI"[c]), string(rune('0'+c))
	switch id[0] {
	case 'P', 'Q', 'R', 'S', 'W', 'N':
		return letter
	case 'A', 'B', 'E', 'H':
		return digit
	}
	return digit + letter
}

// checkOwners checks every owner against the services and parses its keys.
func (c *Catalog) checkOwners() error {
	for _, id := range sortedKeys(c.Owners) {
		o := c.Owners[id]
		if err := c.checkOwner(id, o); err != nil {
			return fmt.Errorf("owner %s: %w", id, err)
		}
	}
	return nil
}

func (c *Catalog) checkOwner(id string, o *Owner) error {
	if err := ValidOwnerID(id); err != nil {
		return err
	}
	if strings.TrimSpace(o.Name) == "" {
		return errors.New("name is required")
	}
	if len(o.Serves) == 0 {
		return errors.New("serves: name at least one service and its scopes")
	}
	for _, svc := range sortedKeys(o.Serves) {
		s, ok := c.Services[svc]
		if !ok {
			return fmt.Errorf("serves: unknown service %q", svc)
		}
		scopes := o.Serves[svc]
		if len(scopes) == 0 {
			return fmt.Errorf("serves.%s: no scopes", svc)
		}
		for i, scope := range scopes {
			switch {
			case strings.TrimSpace(scope) == "":
				return fmt.Errorf("serves.%s[%d]: is empty", svc, i)
			case s.RoutingKey == "" && scope != AnyScope:
				return fmt.Errorf("serves.%s[%d]: %q: the service has no routing key, so its only scope is %q", svc, i, scope, AnyScope)
			case slices.Index(scopes, scope) != i:
				return fmt.Errorf("serves.%s[%d]: %q is listed twice", svc, i, scope)
			}
		}
	}
	keys, err := parseOwnerKeys(o.Keys)
	if err != nil {
		return fmt.Errorf("keys: %w", err)
	}
	o.keys = keys
	return nil
}

// parseOwnerKeys reads a JWKS of Ed25519 public keys, each with a kid of
// its own. A private key is refused: the catalog is no place for one.
func parseOwnerKeys(raw json.RawMessage) (map[string]ed25519.PublicKey, error) {
	keys := map[string]ed25519.PublicKey{}
	if len(raw) == 0 || string(raw) == "null" {
		return keys, nil
	}
	var probe struct {
		Keys []map[string]any `json:"keys"`
	}
	if err := json.Unmarshal(raw, &probe); err != nil {
		return nil, fmt.Errorf("not a JWKS ({\"keys\": [...]}): %w", err)
	}
	for i, k := range probe.Keys {
		if _, private := k["d"]; private {
			return nil, fmt.Errorf("keys[%d]: is a private key (it has \"d\"); give the public key only", i)
		}
	}
	set, err := jwk.Parse(raw)
	if err != nil {
		return nil, fmt.Errorf("not a JWKS: %w", err)
	}
	for i := 0; i < set.Len(); i++ {
		k, _ := set.Key(i)
		pub, err := Ed25519Key(k)
		if err != nil {
			return nil, fmt.Errorf("keys[%d]: %w", i, err)
		}
		kid := k.KeyID()
		switch {
		case kid == "":
			return nil, fmt.Errorf("keys[%d]: kid is required", i)
		case keys[kid] != nil:
			return nil, fmt.Errorf("keys[%d]: kid %q is used twice", i, kid)
		}
		keys[kid] = pub
	}
	return keys, nil
}

// Ed25519Key answers the Ed25519 public key of a JWK (an OKP key on curve
// Ed25519, public or private), or an error naming what it is instead.
func Ed25519Key(k jwk.Key) (ed25519.PublicKey, error) {
	if k.KeyType() != jwa.OKP {
		return nil, fmt.Errorf("kty is %q; an owner's key is an Ed25519 key (kty OKP, crv Ed25519)", k.KeyType())
	}
	if alg := k.Algorithm().String(); alg != "" && alg != jwa.EdDSA.String() {
		return nil, fmt.Errorf("alg is %q; an Ed25519 key signs with EdDSA", alg)
	}
	var raw any
	if err := k.Raw(&raw); err != nil {
		return nil, fmt.Errorf("reading the key: %w", err)
	}
	switch key := raw.(type) {
	case ed25519.PublicKey:
		return key, nil
	case ed25519.PrivateKey:
		return key.Public().(ed25519.PublicKey), nil
	}
	return nil, fmt.Errorf("crv is not Ed25519 (the key is a %T)", raw)
}

// KeyID answers the kid Pont gives an Ed25519 key: its RFC 7638
// thumbprint, base64url without padding, so that the same key always has
// the same kid.
func KeyID(pub ed25519.PublicKey) (string, error) {
	k, err := jwk.FromRaw(pub)
	if err != nil {
		return "", fmt.Errorf("catalog: key id: %w", err)
	}
	tp, err := k.Thumbprint(crypto.SHA256)
	if err != nil {
		return "", fmt.Errorf("catalog: key id: %w", err)
	}
	return base64.RawURLEncoding.EncodeToString(tp), nil
}

// WithOwners answers a copy of the catalog whose owners are owners,
// checked as Load checks owners.json. Development nodes use it to give
// every owner a key of their own making.
func (c *Catalog) WithOwners(owners map[string]*Owner) (*Catalog, error) {
	out := *c
	out.Owners = make(map[string]*Owner, len(owners))
	for id, o := range owners {
		cp := *o
		cp.Serves = maps.Clone(o.Serves)
		out.Owners[id] = &cp
	}
	if err := out.checkOwners(); err != nil {
		return nil, fmt.Errorf("catalog: owners: %w", err)
	}
	return &out, nil
}
