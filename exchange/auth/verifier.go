package auth

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"net/http"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/hashicorp/golang-lru/v2/expirable"
	"github.com/lestrrat-go/jwx/v2/jwa"
	"github.com/lestrrat-go/jwx/v2/jwk"
	"github.com/lestrrat-go/jwx/v2/jws"
	"github.com/lestrrat-go/jwx/v2/jwt"

	"github.com/pontexchange/pont/exchange/fault"
)

// Issuer is a token issuer Pont trusts: an identity provider of the
// administrations, the citizens' (Cl@ve, VÀLid) or Pont's development one.
type Issuer struct {
	// Name is the iss the issuer's tokens carry.
	Name string
	// Audience must be among the tokens' aud.
	Audience string
	// Keys are the issuer's public keys. Either Keys or JWKSURL is set.
	Keys jwk.Set
	// JWKSURL is where the issuer publishes its keys; they are fetched,
	// cached and refreshed.
	JWKSURL string
	// MaxLifetime bounds, per role, how long a token of this issuer may
	// live: exp minus the earlier of iat and nbf, or minus the time of its
	// first verification when it has neither. A role it does not name takes
	// DefaultMaxLifetime.
	MaxLifetime map[Role]time.Duration
}

// DefaultMaxLifetime is the longest lifetime a token of role may have
// unless its issuer's MaxLifetime says otherwise: an hour for a citizen,
// whose token is carried by a browser, and a working day for the roles
// held by systems and officials; 0 for a role Pont does not know.
func DefaultMaxLifetime(r Role) time.Duration {
	switch r {
	case RoleCitizen:
		return time.Hour
	case RoleRequester, RoleAuditor, RolePublisher:
		return 12 * time.Hour
	}
	return 0
}

// roles lists the roles in a fixed order, for messages and defaults.
var roles = []Role{RoleRequester, RoleCitizen, RoleAuditor, RolePublisher}

// Defaults of a Verifier.
const (
	// DefaultSkew is the clock difference tolerated on exp, nbf and iat.
	DefaultSkew = 30 * time.Second
	// DefaultCacheSize bounds the verified-token cache.
	DefaultCacheSize = 10_000
	// cacheTTL bounds how long a verified token is answered from the cache,
	// however far its exp: a token signed with a key that its issuer has
	// since withdrawn from its JWKS stops verifying within this time, and
	// the entries of tokens nobody presents any more are swept.
	cacheTTL = 5 * time.Minute
	// kidRefreshInterval bounds how often an unknown kid makes the
	// verifier refetch an issuer's JWKS (a key rotation), so that tokens
	// with made-up kids cannot make Pont hammer the issuer.
	kidRefreshInterval = time.Minute
	// keysRetryInterval bounds how often an issuer whose JWKS could never
	// be fetched is tried again.
	keysRetryInterval = 10 * time.Second
	// maxTokenLen refuses absurd tokens before any decoding.
	maxTokenLen = 16 << 10
)

// allowedAlgs are the only signature algorithms accepted: asymmetric ones,
// so that a public key can never be misused as an HMAC secret, and never
// "none".
var allowedAlgs = map[jwa.SignatureAlgorithm]bool{jwa.EdDSA: true, jwa.ES256: true, jwa.RS256: true}

type verifierConfig struct {
	now        func() time.Time
	skew       time.Duration
	cacheSize  int
	httpClient *http.Client
	logger     *slog.Logger
}

// VerifierOption configures a Verifier.
type VerifierOption func(*verifierConfig)

// WithClock sets the clock the verifier checks exp, nbf and iat against.
// Defaults to time.Now.
func WithClock(now func() time.Time) VerifierOption {
	return func(c *verifierConfig) { c.now = now }
}

// WithSkew sets the clock difference tolerated on exp, nbf and iat.
// Defaults to DefaultSkew.
func WithSkew(d time.Duration) VerifierOption {
	return func(c *verifierConfig) { c.skew = d }
}

// WithCacheSize bounds the number of verified tokens kept; 0 disables the
// cache. Defaults to DefaultCacheSize.
func WithCacheSize(n int) VerifierOption {
	return func(c *verifierConfig) { c.cacheSize = n }
}

// WithHTTPClient sets the client that fetches JWKS URLs. Defaults to a
// client with a 10 s timeout.
func WithHTTPClient(hc *http.Client) VerifierOption {
	return func(c *verifierConfig) { c.httpClient = hc }
}

// WithLogger sets the logger for key fetching problems. Defaults to
// slog.Default().
func WithLogger(l *slog.Logger) VerifierOption {
	return func(c *verifierConfig) { c.logger = l }
}

// Verifier verifies bearer tokens against the trusted issuers and caches
// the principals of verified tokens until they expire. It is safe for
// concurrent use.
type Verifier struct {
	cfg     verifierConfig
	issuers map[string]*trusted
	cancel  context.CancelFunc // stops JWKS refreshing

	// cache holds the principals of verified tokens by the tokens' SHA-256,
	// the least recently used dropped first once full; nil when disabled.
	// An entry answers only before its token's exp (plus the skew) by the
	// verifier's clock, and for at most cacheTTL.
	cache *expirable.LRU[[sha256.Size]byte, Principal]
}

// trusted is an issuer with its keys ready for use.
type trusted struct {
	Issuer
	keys        jwk.Set    // static keys, or the cached JWKS
	jwks        *jwk.Cache // nil for static keys
	lastRefresh atomic.Int64
	maxLifetime map[Role]time.Duration // every role, defaults filled in
}

// NewVerifier returns a Verifier that trusts issuers. Each issuer needs a
// name, an audience and either keys or a JWKS URL; JWKS URLs are fetched
// once here (a failure is logged, and retried when a token needs the keys)
// and then refreshed in the background until Close. Keys are reduced to
// their public part; symmetric keys are refused.
func NewVerifier(ctx context.Context, issuers []Issuer, opts ...VerifierOption) (*Verifier, error) {
	cfg := verifierConfig{
		now:        time.Now,
		skew:       DefaultSkew,
		cacheSize:  DefaultCacheSize,
		httpClient: &http.Client{Timeout: 10 * time.Second},
		logger:     slog.Default(),
	}
	for _, o := range opts {
		o(&cfg)
	}
	if len(issuers) == 0 {
		return nil, errors.New("auth: no token issuer is configured")
	}
	if cfg.skew < 0 || cfg.cacheSize < 0 {
		return nil, errors.New("auth: skew and cache size must not be negative")
	}

	bg, cancel := context.WithCancel(context.WithoutCancel(ctx))
	v := &Verifier{cfg: cfg, issuers: make(map[string]*trusted, len(issuers)), cancel: cancel}
	if cfg.cacheSize > 0 {
		v.cache = expirable.NewLRU[[sha256.Size]byte, Principal](cfg.cacheSize, nil, cacheTTL)
	}
	var jwksCache *jwk.Cache
	for _, iss := range issuers {
		t, err := v.trust(ctx, bg, iss, &jwksCache)
		if err != nil {
			cancel()
			return nil, err
		}
		v.issuers[iss.Name] = t
	}
	return v, nil
}

func (v *Verifier) trust(ctx, bg context.Context, iss Issuer, jwksCache **jwk.Cache) (*trusted, error) {
	switch {
	case iss.Name == "":
		return nil, errors.New("auth: an issuer has no name (iss)")
	case iss.Audience == "":
		return nil, fmt.Errorf("auth: issuer %q has no audience", iss.Name)
	case v.issuers[iss.Name] != nil:
		return nil, fmt.Errorf("auth: issuer %q is configured twice", iss.Name)
	case (iss.Keys == nil) == (iss.JWKSURL == ""):
		return nil, fmt.Errorf("auth: issuer %q needs either keys or a JWKS URL", iss.Name)
	}
	t := &trusted{Issuer: iss, maxLifetime: make(map[Role]time.Duration, len(roles))}
	for _, r := range roles {
		t.maxLifetime[r] = DefaultMaxLifetime(r)
	}
	for r, d := range iss.MaxLifetime {
		if !r.Valid() {
			return nil, fmt.Errorf("auth: issuer %q: maximum token lifetime for %q: not a role (requester, citizen, auditor, publisher)", iss.Name, r)
		}
		if d <= 0 {
			return nil, fmt.Errorf("auth: issuer %q: maximum token lifetime for %s must be positive, not %v", iss.Name, r, d)
		}
		t.maxLifetime[r] = d
	}
	if iss.Keys != nil {
		keys, err := publicKeys(iss.Keys)
		if err != nil {
			return nil, fmt.Errorf("auth: keys of issuer %q: %w", iss.Name, err)
		}
		t.keys = keys
		return t, nil
	}
	if *jwksCache == nil {
		*jwksCache = jwk.NewCache(bg)
	}
	if err := (*jwksCache).Register(iss.JWKSURL, jwk.WithHTTPClient(v.cfg.httpClient), jwk.WithMinRefreshInterval(5*time.Minute)); err != nil {
		return nil, fmt.Errorf("auth: JWKS of issuer %q: %w", iss.Name, err)
	}
	t.jwks = *jwksCache
	t.keys = jwk.NewCachedSet(t.jwks, iss.JWKSURL)
	if _, err := t.jwks.Refresh(ctx, iss.JWKSURL); err != nil {
		// An identity provider that is down at start must not keep Pont
		// down; tokens of this issuer fail until its keys can be fetched.
		v.cfg.logger.Warn("auth: cannot fetch an issuer's JWKS yet", "issuer", iss.Name, "url", iss.JWKSURL, "err", err)
	}
	return t, nil
}

// Close stops refreshing JWKS URLs.
func (v *Verifier) Close() error {
	v.cancel()
	return nil
}

// Verify checks token — its issuer, signature, algorithm, audience, expiry
// and not-before, and the claims its role needs — and returns its
// principal. A token verified before is answered from the cache while it
// has not expired. Every failure is a *fault.Error with code
// fault.Unauthenticated saying what failed; the token itself never appears
// in it.
func (v *Verifier) Verify(ctx context.Context, token string) (Principal, error) {
	if len(token) > maxTokenLen {
		return Principal{}, fault.New(fault.Unauthenticated, "the token is longer than %d bytes", maxTokenLen)
	}
	now := v.cfg.now()
	var key [sha256.Size]byte
	if v.cache != nil {
		key = sha256.Sum256([]byte(token))
		if p, ok := v.cache.Get(key); ok {
			// The cache's own expiry runs on the wall clock and ignores
			// exp: the token's expiry is checked here, against the
			// verifier's clock, as verify would.
			if now.Before(p.Expires.Add(v.cfg.skew)) {
				return p, nil
			}
			v.cache.Remove(key)
		}
	}

	p, err := v.verify(ctx, token, now)
	if err != nil {
		return Principal{}, err
	}
	if v.cache != nil {
		v.cache.Add(key, p)
	}
	return p, nil
}

func (v *Verifier) verify(ctx context.Context, token string, now time.Time) (Principal, error) {
	u, err := inspect(token)
	if err != nil {
		return Principal{}, err
	}
	alg, kid, issName := u.alg, u.kid, u.iss
	if !allowedAlgs[alg] {
		return Principal{}, fault.New(fault.Unauthenticated, "the token's algorithm %s is not accepted: use EdDSA, ES256 or RS256", quoteShort(alg.String()))
	}
	if issName == "" {
		return Principal{}, fault.New(fault.Unauthenticated, "the token names no issuer (iss)")
	}
	iss, ok := v.issuers[issName]
	if !ok {
		return Principal{}, fault.New(fault.Unauthenticated, "the token's issuer %s is not trusted", quoteShort(issName))
	}

	var keyErr error
	tok, err := jwt.Parse([]byte(token),
		jwt.WithKeyProvider(jws.KeyProviderFunc(func(ctx context.Context, sink jws.KeySink, sig *jws.Signature, _ *jws.Message) error {
			keyErr = v.fetchKeys(ctx, iss, sink, alg, kid)
			return keyErr
		})),
		jwt.WithContext(ctx),
		jwt.WithValidate(true),
		jwt.WithIssuer(iss.Name),
		jwt.WithAudience(iss.Audience),
		jwt.WithAcceptableSkew(v.cfg.skew),
		jwt.WithClock(jwt.ClockFunc(func() time.Time { return now })),
		jwt.WithRequiredClaim(jwt.ExpirationKey),
	)
	if err != nil {
		return Principal{}, v.explain(err, keyErr, iss)
	}

	p := Principal{Sub: tok.Subject(), Issuer: iss.Name, Expires: tok.Expiration()}
	claims := tok.PrivateClaims()
	var bad []string
	for _, c := range []struct {
		name string
		dst  *string
	}{{"role", (*string)(&p.Role)}, {"org", &p.Org}, {"owner", &p.Owner}} {
		name, dst := c.name, c.dst
		raw, ok := claims[name]
		if !ok {
			continue
		}
		s, ok := raw.(string)
		if !ok {
			bad = append(bad, name+": must be a string")
			continue
		}
		*dst = s
	}
	p = p.normalize()
	for _, f := range p.check() {
		bad = append(bad, f.Field+": "+f.Message)
	}
	if len(bad) > 0 {
		return Principal{}, fault.New(fault.Unauthenticated, "the token's claims are invalid: %s", strings.Join(bad, "; "))
	}
	if err := checkLifetime(u, p.Role, iss.maxLifetime[p.Role], now, v.cfg.skew); err != nil {
		return Principal{}, err
	}
	return p, nil
}

// checkLifetime refuses a token of role that lives longer than max. Its
// lifetime runs from the earlier of iat and nbf, as the issuer wrote them,
// to exp; a token with neither is measured from now, allowing the clock
// skew since exp then comes from the issuer's clock and now from ours.
func checkLifetime(u unverified, role Role, max time.Duration, now time.Time, skew time.Duration) error {
	exp := u.times["exp"] // required: jwx has checked it is there
	start, from := int64(0), ""
	for _, name := range []string{"iat", "nbf"} {
		if t, ok := u.times[name]; ok && (from == "" || t < start) {
			start, from = t, name
		}
	}
	limit := max
	if from == "" {
		start, from = now.Unix(), "now"
		limit += skew
	}
	// Compared in seconds: exp - start may exceed what a Duration holds.
	if life := exp - start; life > int64(limit/time.Second) {
		return fault.New(fault.Unauthenticated, "the token lives %s (exp - %s), longer than the %v allowed for the %s role", seconds(life), from, max, role)
	}
	return nil
}

// seconds writes n seconds as a Duration does, when one can hold it.
func seconds(n int64) string {
	if n > int64(math.MaxInt64/time.Second) {
		return strconv.FormatInt(n, 10) + "s"
	}
	return (time.Duration(n) * time.Second).String()
}

// mayRefetch reports whether iss's JWKS may be fetched again now, at most
// once an interval, and if so records the fetch.
func (v *Verifier) mayRefetch(iss *trusted, interval time.Duration) bool {
	now := v.cfg.now().UnixNano()
	last := iss.lastRefresh.Load()
	return now-last >= int64(interval) && iss.lastRefresh.CompareAndSwap(last, now)
}

// fetchKeys offers the verifier the keys of iss that fit alg (and kid,
// when the token names one). A JWKS is refetched when it could never be
// fetched, or when the token names a kid it lacks; both at most once an
// interval, so that made-up tokens cannot make Pont hammer the issuer.
func (v *Verifier) fetchKeys(ctx context.Context, iss *trusted, sink jws.KeySink, alg jwa.SignatureAlgorithm, kid string) error {
	keys := iss.keys
	if iss.jwks != nil {
		set, err := iss.jwks.Get(ctx, iss.JWKSURL)
		if err != nil {
			// Never fetched (the issuer was down): try again, now and then.
			if !v.mayRefetch(iss, keysRetryInterval) {
				return errKeysUnavailable{err}
			}
			if set, err = iss.jwks.Refresh(ctx, iss.JWKSURL); err != nil {
				return errKeysUnavailable{err}
			}
		} else if _, ok := set.LookupKeyID(kid); kid != "" && !ok && v.mayRefetch(iss, kidRefreshInterval) {
			// The issuer may have rotated its keys.
			if fresh, err := iss.jwks.Refresh(ctx, iss.JWKSURL); err == nil {
				set = fresh
			} else {
				v.cfg.logger.Warn("auth: cannot refetch an issuer's JWKS", "issuer", iss.Name, "err", err)
			}
		}
		keys = set
	}
	found := false
	for i := range keys.Len() {
		k, ok := keys.Key(i)
		if !ok || (kid != "" && k.KeyID() != kid) || !keyFits(k, alg) {
			continue
		}
		found = true
		sink.Key(alg, k)
	}
	if !found {
		if kid != "" {
			return errNoKey{fmt.Sprintf("no %s key of the issuer has kid %s", alg, quoteShort(kid))}
		}
		return errNoKey{fmt.Sprintf("the issuer has no %s key", alg)}
	}
	return nil
}

// keyFits reports whether k is a public key of the type alg needs, meant
// for signatures and, when it names an algorithm, naming alg.
func keyFits(k jwk.Key, alg jwa.SignatureAlgorithm) bool {
	if u := k.KeyUsage(); u != "" && u != string(jwk.ForSignature) {
		return false
	}
	if a := k.Algorithm(); a != nil && a.String() != "" && a.String() != alg.String() {
		return false
	}
	switch alg {
	case jwa.EdDSA:
		ok, isOKP := k.(jwk.OKPPublicKey)
		return isOKP && ok.Crv() == jwa.Ed25519
	case jwa.ES256:
		ec, isEC := k.(jwk.ECDSAPublicKey)
		return isEC && ec.Crv() == jwa.P256
	case jwa.RS256:
		rsa, isRSA := k.(jwk.RSAPublicKey)
		return isRSA && len(rsa.N())*8 >= 2048
	}
	return false
}

type errNoKey struct{ msg string }

func (e errNoKey) Error() string { return e.msg }

type errKeysUnavailable struct{ err error }

func (e errKeysUnavailable) Error() string {
	return "the issuer's keys cannot be fetched: " + e.err.Error()
}
func (e errKeysUnavailable) Unwrap() error { return e.err }

// explain turns a jwx failure into a message that says what failed.
func (v *Verifier) explain(err, keyErr error, iss *trusted) *fault.Error {
	var msg string
	var noKey errNoKey
	var unavailable errKeysUnavailable
	switch {
	case errors.As(keyErr, &unavailable):
		msg = fmt.Sprintf("the keys of issuer %s cannot be fetched; retry later", quoteShort(iss.Name))
	case errors.As(keyErr, &noKey):
		msg = fmt.Sprintf("the token's signature cannot be checked: %s", noKey.msg)
	case errors.Is(err, jwt.ErrTokenExpired()):
		msg = "the token has expired"
	case errors.Is(err, jwt.ErrTokenNotYetValid()):
		msg = "the token is not valid yet (nbf)"
	case errors.Is(err, jwt.ErrInvalidIssuedAt()):
		msg = "the token was issued in the future (iat)"
	case errors.Is(err, jwt.ErrInvalidAudience()):
		msg = fmt.Sprintf("the token is not meant for Pont: its aud does not include %s", quoteShort(iss.Audience))
	case errors.Is(err, jwt.ErrRequiredClaim()):
		msg = "the token has no expiry (exp)"
	case jwt.IsValidationError(err):
		msg = "the token's registered claims are invalid"
	case jws.IsVerificationError(err):
		msg = fmt.Sprintf("the token's signature does not verify with the keys of issuer %s", quoteShort(iss.Name))
	default:
		msg = fmt.Sprintf("the token could not be verified against issuer %s", quoteShort(iss.Name))
	}
	return fault.Wrap(fault.Unauthenticated, err, "%s", msg)
}

// unverified is what Pont reads of a token before verifying it: the
// header's alg and kid, to pick the issuer's keys, the payload's iss, to
// pick the issuer, and its NumericDate claims, checked for their form here
// and for their values by jwx and checkLifetime once the signature holds.
type unverified struct {
	alg   jwa.SignatureAlgorithm
	kid   string
	iss   string
	times map[string]int64 // exp, nbf and iat, when present
}

// refusedHeaders are header parameters a token may not carry. crit names
// extensions the verifier must understand (RFC 7515, section 4.1.11) and Pont
// understands none; b64 (RFC 7797) changes what the signature covers; jku,
// x5u, jwk and x5c name or carry a key, and Pont takes keys only from its
// configuration. jwx would ignore all of them but b64, which is exactly
// what crit forbids, and ignoring a key the token names hides an attempt.
var refusedHeaders = []string{"crit", "b64", "jku", "x5u", "jwk", "x5c"}

// maxNumericDate is the largest exp, nbf or iat accepted: the end of the
// year 9999, so that sums and differences of dates cannot overflow.
const maxNumericDate = 253402300799

// inspect reads a compact JWS's header and payload before any verification
// and refuses what jwx would let through: a member named twice (the
// readers could disagree on which one counts), refused header parameters,
// and exp, nbf or iat that are not integer NumericDates (jwx takes
// "9999999999" as a date and drops a fraction).
func inspect(token string) (unverified, error) {
	notJWT := func(err error) error {
		return fault.Wrap(fault.Unauthenticated, err, "the token is not a signed JWT (header.payload.signature)")
	}
	header, rest, ok := strings.Cut(token, ".")
	payload, sig, ok2 := strings.Cut(rest, ".")
	if !ok || !ok2 || strings.Contains(sig, ".") || header == "" || payload == "" {
		return unverified{}, notJWT(errors.New("not three dot-separated parts"))
	}
	h, err := decodeSegment(header)
	if err != nil {
		return unverified{}, notJWT(fmt.Errorf("header: %w", err))
	}
	c, err := decodeSegment(payload)
	if err != nil {
		return unverified{}, notJWT(fmt.Errorf("payload: %w", err))
	}
	for _, name := range refusedHeaders {
		if raw, ok := h[name]; ok {
			return unverified{}, fault.New(fault.Unauthenticated, "the token's header carries %s (%s), which Pont does not accept", quoteShort(name), quoteShort(string(raw)))
		}
	}
	var u unverified
	var alg string
	for name, dst := range map[string]*string{"alg": &alg, "kid": &u.kid} {
		if raw, ok := h[name]; ok {
			if err := json.Unmarshal(raw, dst); err != nil {
				return unverified{}, notJWT(fmt.Errorf("header: %s is not a string", name))
			}
		}
	}
	u.alg = jwa.SignatureAlgorithm(alg)
	if raw, ok := c["iss"]; ok {
		_ = json.Unmarshal(raw, &u.iss) // not a string: no issuer
	}
	for _, name := range []string{"exp", "nbf", "iat"} {
		raw, ok := c[name]
		if !ok {
			continue
		}
		t, err := numericDate(raw)
		if err != nil {
			return unverified{}, fault.Wrap(fault.Unauthenticated, err, "the token's %s must be an integer number of seconds since 1970 (a NumericDate without fraction), not %s", name, quoteShort(string(raw)))
		}
		if u.times == nil {
			u.times = make(map[string]int64, 3)
		}
		u.times[name] = t
	}
	return u, nil
}

// numericDate reads an integer NumericDate: a JSON number of digits only,
// with neither fraction nor exponent, from 0 to maxNumericDate. Fractions
// are refused rather than truncated: no issuer needs them for a token's
// lifetime, and a reader that rounds and one that truncates disagree.
func numericDate(raw json.RawMessage) (int64, error) {
	if len(raw) == 0 || len(raw) > 12 {
		return 0, errors.New("not an integer from 0 to 253402300799")
	}
	for _, b := range raw {
		if b < '0' || b > '9' {
			return 0, errors.New("not an integer: only digits are accepted")
		}
	}
	t, err := strconv.ParseInt(string(raw), 10, 64)
	if err != nil || t > maxNumericDate {
		return 0, errors.New("not an integer from 0 to 253402300799")
	}
	return t, nil
}

// decodeSegment decodes a base64url segment holding one JSON object and
// returns its members, refusing a member named twice: RFC 7515 and 7519
// allow a parser that keeps the last one, but Pont reads a token twice
// (here and in jwx), and two readers must not be able to disagree.
func decodeSegment(seg string) (map[string]json.RawMessage, error) {
	b, err := base64.RawURLEncoding.DecodeString(seg)
	if err != nil {
		return nil, fmt.Errorf("not base64url: %w", err)
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	if tok, err := dec.Token(); err != nil || tok != json.Delim('{') {
		return nil, errors.New("not a JSON object")
	}
	members := make(map[string]json.RawMessage)
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return nil, fmt.Errorf("not a JSON object: %w", err)
		}
		name, _ := tok.(string)
		if _, dup := members[name]; dup {
			return nil, fmt.Errorf("member %s appears twice", quoteShort(name))
		}
		var v json.RawMessage
		if err := dec.Decode(&v); err != nil {
			return nil, fmt.Errorf("not a JSON object: %w", err)
		}
		members[name] = v
	}
	if _, err := dec.Token(); err != nil {
		return nil, fmt.Errorf("not a JSON object: %w", err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, errors.New("not a JSON object: data after it")
	}
	return members, nil
}

// quoteShort quotes a value taken from a token for a message, cut short:
// it is the caller's own input, but it should not flood a log line.
func quoteShort(s string) string {
	if len(s) > 64 {
		s = s[:64] + "…"
	}
	return fmt.Sprintf("%q", s)
}
