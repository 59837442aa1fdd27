package auth

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
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
}

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
	t := &trusted{Issuer: iss}
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
	alg, kid, issName, err := peek(token)
	if err != nil {
		return Principal{}, fault.Wrap(fault.Unauthenticated, err, "the token is not a signed JWT (header.payload.signature)")
	}
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
	return p, nil
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

// peek reads the algorithm and key id of a compact JWS's header and the
// iss of its payload, before any verification, to pick the issuer's keys.
func peek(token string) (alg jwa.SignatureAlgorithm, kid, iss string, err error) {
	header, rest, ok := strings.Cut(token, ".")
	payload, sig, ok2 := strings.Cut(rest, ".")
	if !ok || !ok2 || strings.Contains(sig, ".") || header == "" || payload == "" {
		return "", "", "", errors.New("not three dot-separated parts")
	}
	var h struct {
		Alg string `json:"alg"`
		Kid string `json:"kid"`
	}
	if err := decodeSegment(header, &h); err != nil {
		return "", "", "", fmt.Errorf("header: %w", err)
	}
	var c struct {
		Iss any `json:"iss"`
	}
	if err := decodeSegment(payload, &c); err != nil {
		return "", "", "", fmt.Errorf("payload: %w", err)
	}
	s, _ := c.Iss.(string)
	return jwa.SignatureAlgorithm(h.Alg), h.Kid, s, nil
}

func decodeSegment(seg string, v any) error {
	b, err := base64.RawURLEncoding.DecodeString(seg)
	if err != nil {
		return fmt.Errorf("not base64url: %w", err)
	}
	if err := json.Unmarshal(b, v); err != nil {
		return fmt.Errorf("not a JSON object: %w", err)
	}
	return nil
}

// quoteShort quotes a value taken from a token for a message, cut short:
// it is the caller's own input, but it should not flood a log line.
func quoteShort(s string) string {
	if len(s) > 64 {
		s = s[:64] + "…"
	}
	return fmt.Sprintf("%q", s)
}
