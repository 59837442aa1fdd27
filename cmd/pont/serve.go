package main

import (
	"bytes"
	"context"
	"crypto"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/pontexchange/pont/catalog"
	"github.com/pontexchange/pont/exchange/api"
	"github.com/pontexchange/pont/exchange/audit"
	"github.com/pontexchange/pont/exchange/auth"
	"github.com/pontexchange/pont/exchange/broker"
	"github.com/pontexchange/pont/exchange/guard"
	"github.com/pontexchange/pont/exchange/quota"
	"github.com/pontexchange/pont/exchange/store/postgres"
	"github.com/pontexchange/pont/exchange/translog"
	"github.com/pontexchange/pont/exchange/wasmhost"
	"github.com/pontexchange/pont/exchange/web"
	"github.com/pontexchange/pont/exchange/witness"
)

// serveConfig is the configuration file of pont serve (JSON). Relative
// paths are relative to the file.
type serveConfig struct {
	Listen      string `json:"listen"`
	DatabaseURL string `json:"database_url"`
	Node        string `json:"node"`
	DataDir     string `json:"data_dir"`
	ModulesDir  string `json:"modules_dir"`
	CatalogDir  string `json:"catalog_dir"`
	PoliciesDir string `json:"policies_dir"`
	// CursorSecret signs the audit search cursors (at least 16 bytes).
	// Nodes behind one load balancer must share it; without it each node
	// signs with a random key, and its cursors end with it.
	CursorSecret string         `json:"cursor_secret"`
	Issuers      []issuerConfig `json:"issuers"`
	// MaxTokenLifetime bounds, per role, how long the tokens of every
	// issuer may live ("citizen": "1h"); an issuer's own max_token_lifetime
	// overrides it role by role, and a role neither names takes
	// auth.DefaultMaxLifetime.
	MaxTokenLifetime map[string]string `json:"max_token_lifetime"`
	// SourceAddresses maps a source's host name, or a ".domain" suffix, to
	// the host:port its connections go to instead (broker.NewSourceClient).
	SourceAddresses map[string]string `json:"source_addresses"`
	Limits          struct {
		TimeoutMS      int    `json:"timeout_ms"`
		MemoryPages    uint32 `json:"memory_pages"`
		MaxAnswerBytes int    `json:"max_answer_bytes"`
		PoolMin        int    `json:"pool_min"`
		PoolMax        int    `json:"pool_max"`
		// NetworkWaitMemoryMB is the guest memory an adapter's pool may
		// add past pool_max while its instances wait on their sources;
		// negative: none.
		NetworkWaitMemoryMB int64 `json:"network_wait_memory_mb"`
	} `json:"limits"`
	Audit struct {
		MaxBatch   int `json:"max_batch"`
		MaxWaitMS  int `json:"max_wait_ms"`
		Committers int `json:"committers"`
	} `json:"audit"`
	// Quota is each caller's allowance of requests (quota.Config).
	Quota quota.Config `json:"quota"`
	// Guard tunes the circuit breakers and the fair share in front of
	// every adapter (guard.Config).
	Guard guardConfig `json:"guard"`
	// TransferLog is the tamper-evident log's signing key, witnesses,
	// sealing interval and retention (docs/transfer-log.md).
	TransferLog transferLogConfig `json:"transfer_log"`
	// Jobs tunes the asynchronous queries (docs/jobs.md).
	Jobs jobsConfig `json:"jobs"`
	// SCSP opens the SCSP v3 SOAP door (docs/scsp.md); absent: closed.
	SCSP *scspConfig `json:"scsp"`
	// Web serves the pages (docs/web.md); absent: none.
	Web      *webConfig `json:"web"`
	LogLevel string     `json:"log_level"`
	// MetricsListen, when set, is the address on which /metrics is
	// served, on a listener of its own; the API's listener never serves it.
	MetricsListen string `json:"metrics_listen"`
	// DebugListen, when set, is a loopback address on which the Go
	// runtime's profiles (pprof, execution traces) are served.
	DebugListen string `json:"debug_listen"`
}

// guardConfig is the file's spelling of guard.Config: counts, a ratio, and
// durations as Go duration strings ("30s"), like max_token_lifetime's. A
// zero or absent key takes guard's default; each adapter's capacity is its
// own, not the file's.
type guardConfig struct {
	Share              int     `json:"share"`
	SubjectFailures    int     `json:"subject_failures"`
	SubjectOpenFor     string  `json:"subject_open_for"`
	Subjects           int     `json:"subjects"`
	SourceWindow       string  `json:"source_window"`
	SourceMinCalls     int     `json:"source_min_calls"`
	SourceFailureRatio float64 `json:"source_failure_ratio"`
	SourceOpenFor      string  `json:"source_open_for"`
}

// config checks g and answers its guard.Config, naming the key that is
// wrong: a negative number, a ratio outside (0, 1], a duration that does not
// parse or is negative.
func (g guardConfig) config() (guard.Config, error) {
	var c guard.Config
	for _, n := range []struct {
		key string
		v   int
		to  *int
	}{
		{"share", g.Share, &c.Share},
		{"subject_failures", g.SubjectFailures, &c.SubjectFailures},
		{"subjects", g.Subjects, &c.Subjects},
		{"source_min_calls", g.SourceMinCalls, &c.SourceMinCalls},
	} {
		if n.v < 0 {
			return guard.Config{}, fmt.Errorf("guard.%s: %d is negative", n.key, n.v)
		}
		*n.to = n.v
	}
	for _, d := range []struct {
		key, v string
		to     *time.Duration
	}{
		{"subject_open_for", g.SubjectOpenFor, &c.SubjectOpenFor},
		{"source_window", g.SourceWindow, &c.SourceWindow},
		{"source_open_for", g.SourceOpenFor, &c.SourceOpenFor},
	} {
		if d.v == "" {
			continue
		}
		v, err := time.ParseDuration(d.v)
		if err != nil {
			return guard.Config{}, fmt.Errorf("guard.%s: %q is not a duration such as \"30s\" or \"1m\"", d.key, d.v)
		}
		if v < 0 {
			return guard.Config{}, fmt.Errorf("guard.%s: %q is negative", d.key, d.v)
		}
		*d.to = v
	}
	if r := g.SourceFailureRatio; r != 0 && !(r > 0 && r <= 1) {
		return guard.Config{}, fmt.Errorf("guard.source_failure_ratio: %v is not in (0, 1]", r)
	}
	c.SourceFailureRatio = g.SourceFailureRatio
	return c, nil
}

type issuerConfig struct {
	Issuer   string `json:"issuer"`
	Audience string `json:"audience"`
	KeyFile  string `json:"key_file"`
	JWKSURL  string `json:"jwks_url"`
	// MaxTokenLifetime overrides the file's max_token_lifetime for this
	// issuer, role by role.
	MaxTokenLifetime map[string]string `json:"max_token_lifetime"`
}

func runServe(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("pont serve", flag.ContinueOnError)
	fs.SetOutput(stderr)
	configPath := fs.String("config", "", "configuration file (JSON); see pont.example.json")
	database := fs.String("database", os.Getenv("PONT_DATABASE_URL"), "PostgreSQL URL (default $PONT_DATABASE_URL; overrides the file)")
	addr := fs.String("addr", "", "listen address (overrides the file)")
	if err := fs.Parse(args); err != nil {
		return errUsage
	}
	cfg, err := loadServeConfig(*configPath)
	if err != nil {
		return err
	}
	if *database != "" {
		cfg.DatabaseURL = *database
	}
	if *addr != "" {
		cfg.Listen = *addr
	}
	if v := os.Getenv("PONT_CURSOR_SECRET"); v != "" {
		cfg.CursorSecret = v
	}
	if cfg.DatabaseURL == "" {
		return errors.New("no database: give --database, PONT_DATABASE_URL or database_url in the configuration")
	}
	level := slog.LevelInfo
	if err := level.UnmarshalText([]byte(cfg.LogLevel)); cfg.LogLevel != "" && err != nil {
		return fmt.Errorf("log_level: %w", err)
	}
	log := newLogger(stderr, level)
	bcfg, err := brokerConfig(cfg)
	if err != nil {
		return err
	}
	if n := len(cfg.CursorSecret); n > 0 && n < api.MinCursorSecret {
		return fmt.Errorf("cursor_secret: %d bytes, at least %d are needed", n, api.MinCursorSecret)
	} else if n == 0 {
		log.Warn("no cursor_secret (or PONT_CURSOR_SECRET): audit search cursors are signed with a random key, valid on this node until it stops")
	}

	var metricsLn net.Listener
	if cfg.MetricsListen != "" {
		if metricsLn, err = net.Listen("tcp", cfg.MetricsListen); err != nil {
			return fmt.Errorf("metrics_listen: %w", err)
		}
		defer metricsLn.Close()
	}
	var debugLn net.Listener
	if cfg.DebugListen != "" {
		if debugLn, err = listenDebug(cfg.DebugListen); err != nil {
			return err
		}
		defer debugLn.Close()
	}

	issuers, err := serveIssuers(cfg)
	if err != nil {
		return err
	}
	var cat *catalog.Catalog
	if cfg.CatalogDir != "" {
		if cat, err = catalog.Load(os.DirFS(cfg.CatalogDir)); err != nil {
			return fmt.Errorf("catalog %s: %w", cfg.CatalogDir, err)
		}
	}

	client, err := broker.NewSourceClient(cfg.SourceAddresses)
	if err != nil {
		return fmt.Errorf("source_addresses: %w", err)
	}
	for _, host := range slices.Sorted(maps.Keys(cfg.SourceAddresses)) {
		log.Info("source address: connections to this host go to this address", slog.String("host", host), slog.String("address", cfg.SourceAddresses[host]))
	}
	if err := cfg.Jobs.apply(&bcfg); err != nil {
		return err
	}
	if cfg.SCSP != nil {
		if bcfg.SCSP, err = cfg.SCSP.door(); err != nil {
			return err
		}
	}
	if cfg.Web != nil {
		if bcfg.Pages, err = cfg.Web.pages(); err != nil {
			return err
		}
	}
	if err := cfg.TransferLog.apply(&bcfg); err != nil {
		return err
	}

	start := time.Now()
	st, err := postgres.New(ctx, postgres.Config{URL: cfg.DatabaseURL})
	if err != nil {
		return err
	}
	bcfg.Store, bcfg.HTTPClient, bcfg.Catalog, bcfg.Issuers, bcfg.Logger = st, client, cat, issuers, log
	b, err := broker.New(ctx, bcfg)
	if err != nil {
		return err // broker.New has closed the store
	}
	defer b.Close(context.WithoutCancel(ctx))
	go keepPartitions(ctx, st, log)
	if cfg.PoliciesDir != "" {
		go reloadOnHangup(ctx, b, log)
	}

	ln, err := net.Listen("tcp", cfg.Listen)
	if err != nil {
		return fmt.Errorf("listen: %w", err)
	}
	if metricsLn != nil {
		fmt.Fprintf(stdout, "Metrics of this node are at http://%s/metrics\n", metricsLn.Addr())
		go serveMetrics(ctx, metricsLn, b.MetricsHandler(), log)
	}
	if debugLn != nil {
		fmt.Fprintf(stdout, "Profiles of this process (pprof) are at http://%s/debug/pprof/\n", debugLn.Addr())
		go serveDebug(ctx, debugLn, log)
	}
	go releaseStartupMemory()
	log.Info("pont serve ready", slog.String("addr", ln.Addr().String()), slog.Duration("start", time.Since(start)), slog.Any("adapters", b.Adapters()))
	fmt.Fprintf(stdout, "Pont is serving on http://%s\n", ln.Addr())
	return b.Serve(ctx, ln)
}

// brokerConfig is the broker's configuration as far as the file gives it,
// checked: what needs opening or reading (the store, the source client, the
// catalog, the issuers' keys) and the logger are the caller's to add.
func brokerConfig(cfg serveConfig) (broker.Config, error) {
	g, err := cfg.Guard.config()
	if err != nil {
		return broker.Config{}, err
	}
	bc := broker.Config{
		Quota: cfg.Quota, Guard: g,
		DataDir: cfg.DataDir, ModulesDir: cfg.ModulesDir, PoliciesDir: cfg.PoliciesDir,
		Node: cfg.Node, CursorSecret: []byte(cfg.CursorSecret), PrivateMetrics: true,
		Limits: wasmhost.Limits{
			Timeout: time.Duration(cfg.Limits.TimeoutMS) * time.Millisecond, MemoryPages: cfg.Limits.MemoryPages,
			MaxAnswerBytes: cfg.Limits.MaxAnswerBytes, PoolMin: cfg.Limits.PoolMin, PoolMax: cfg.Limits.PoolMax,
			NetworkWaitMemory: cfg.Limits.NetworkWaitMemoryMB << 20,
		},
		AuditOptions: audit.Options{
			MaxBatch: cfg.Audit.MaxBatch, MaxWait: time.Duration(cfg.Audit.MaxWaitMS) * time.Millisecond,
			Committers: cfg.Audit.Committers,
		},
	}
	return bc, nil
}

// serveMetrics serves h at /metrics on ln until ctx ends, with a mux of
// its own, so that nothing in front of the API can reach the metrics.
func serveMetrics(ctx context.Context, ln net.Listener, h http.Handler, log *slog.Logger) {
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", h)
	serveSide(ctx, ln, mux, "metrics", log)
}

// serveIssuers builds the trusted issuers of cfg: their keys read from
// their files, and their tokens' maximum lifetimes, the issuer's own over
// the file's.
func serveIssuers(cfg serveConfig) ([]auth.Issuer, error) {
	global, err := parseLifetimes(cfg.MaxTokenLifetime)
	if err != nil {
		return nil, fmt.Errorf("max_token_lifetime: %w", err)
	}
	var issuers []auth.Issuer
	for i, ic := range cfg.Issuers {
		iss := auth.Issuer{Name: ic.Issuer, Audience: ic.Audience, JWKSURL: ic.JWKSURL}
		if ic.KeyFile != "" {
			if iss.Keys, err = auth.LoadIssuerKeys(ic.KeyFile); err != nil {
				return nil, fmt.Errorf("issuers[%d]: %w", i, err)
			}
		}
		own, err := parseLifetimes(ic.MaxTokenLifetime)
		if err != nil {
			return nil, fmt.Errorf("issuers[%d].max_token_lifetime: %w", i, err)
		}
		if len(global)+len(own) > 0 {
			iss.MaxLifetime = maps.Clone(global)
			if iss.MaxLifetime == nil {
				iss.MaxLifetime = make(map[auth.Role]time.Duration, len(own))
			}
			maps.Copy(iss.MaxLifetime, own)
		}
		issuers = append(issuers, iss)
	}
	return issuers, nil
}

// parseLifetimes reads a role-to-duration map ("citizen": "1h"), naming
// the role whose entry is wrong.
func parseLifetimes(in map[string]string) (map[auth.Role]time.Duration, error) {
	if len(in) == 0 {
		return nil, nil
	}
	out := make(map[auth.Role]time.Duration, len(in))
	for _, name := range slices.Sorted(maps.Keys(in)) {
		role := auth.Role(name)
		if !role.Valid() {
			return nil, fmt.Errorf("%q is not a role: use requester, citizen, auditor or publisher", name)
		}
		d, err := time.ParseDuration(in[name])
		if err != nil || d <= 0 {
			return nil, fmt.Errorf("%s: %q is not a positive duration such as \"1h\" or \"30m\"", name, in[name])
		}
		out[role] = d
	}
	return out, nil
}

// keepPartitions creates the transfer log's monthly partitions ahead, daily.
func keepPartitions(ctx context.Context, st *postgres.Store, log *slog.Logger) {
	t := time.NewTicker(24 * time.Hour)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case now := <-t.C:
			if err := st.EnsurePartitions(ctx, now); err != nil {
				log.Error("creating transfer partitions", slog.String("error", err.Error()))
			}
		}
	}
}

// decodeConfigFile decodes the JSON file at path into v, over what v
// holds, refusing unknown keys: a misspelt key must not pass for a default.
func decodeConfigFile(path string, v any) error {
	raw, err := os.ReadFile(path)
	if err != nil {
		return fmt.Errorf("configuration: %w", err)
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return fmt.Errorf("configuration %s: %w", path, err)
	}
	return nil
}

// loadServeConfig reads the file at path (if any) over the defaults.
func loadServeConfig(path string) (serveConfig, error) {
	cfg := serveConfig{Listen: "127.0.0.1:8080", DataDir: "./.pont"}
	if path == "" {
		return cfg, nil
	}
	if err := decodeConfigFile(path, &cfg); err != nil {
		return cfg, err
	}
	base := filepath.Dir(path)
	rel := func(p *string) {
		if *p != "" && !filepath.IsAbs(*p) {
			*p = filepath.Join(base, *p)
		}
	}
	rel(&cfg.DataDir)
	rel(&cfg.ModulesDir)
	rel(&cfg.CatalogDir)
	rel(&cfg.PoliciesDir)
	for i := range cfg.Issuers {
		rel(&cfg.Issuers[i].KeyFile)
	}
	rel(&cfg.TransferLog.SigningKeyFile)
	rel(&cfg.Jobs.CallbackKeyFile)
	if cfg.SCSP != nil {
		rel(&cfg.SCSP.TrustedCAsFile)
		rel(&cfg.SCSP.CertFile)
		rel(&cfg.SCSP.KeyFile)
	}
	if cfg.Web != nil {
		rel(&cfg.Web.SessionKeyFile)
		if cfg.Web.OIDC != nil {
			rel(&cfg.Web.OIDC.ClientSecretFile)
		}
	}
	for i := range cfg.TransferLog.Witnesses {
		rel(&cfg.TransferLog.Witnesses[i].KeyFile)
	}
	return cfg, nil
}

// transferLogConfig is the file's "transfer_log" section.
type transferLogConfig struct {
	// SigningKeyFile holds the log's private key (pont keygen's .key): its
	// name is the log's origin. Required.
	SigningKeyFile string `json:"signing_key_file"`
	// Witnesses cosign each checkpoint: the prefix of each one's
	// tlog-witness endpoint and its cosignature key file (its .vkey).
	Witnesses []struct {
		URL     string `json:"url"`
		KeyFile string `json:"key_file"`
	} `json:"witnesses"`
	// SealInterval is the least time between two checkpoints ("1s").
	SealInterval string `json:"seal_interval"`
	// Retention is how long records keep their personal fields ("8760h");
	// absent keeps them for ever.
	Retention string `json:"retention"`
}

// apply reads the keys t names into cfg, naming the key that is wrong.
func (t transferLogConfig) apply(cfg *broker.Config) error {
	if t.SigningKeyFile == "" {
		return errors.New("transfer_log.signing_key_file is required: the log's private key (pont keygen --name ORIGIN --out PREFIX writes one)")
	}
	raw, err := os.ReadFile(t.SigningKeyFile)
	if err != nil {
		return fmt.Errorf("transfer_log.signing_key_file: %w", err)
	}
	if cfg.LogSigner, cfg.LogVerifier, err = broker.ParseLogKey(strings.TrimSpace(string(raw))); err != nil {
		return fmt.Errorf("transfer_log.signing_key_file %s: %w", t.SigningKeyFile, err)
	}
	for i, w := range t.Witnesses {
		u, err := url.Parse(w.URL)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return fmt.Errorf("transfer_log.witnesses[%d].url: %q is not an http(s) URL", i, w.URL)
		}
		raw, err := os.ReadFile(w.KeyFile)
		if err != nil {
			return fmt.Errorf("transfer_log.witnesses[%d].key_file: %w", i, err)
		}
		key, err := witness.ParseWitnessKey(strings.TrimSpace(string(raw)))
		if err != nil {
			return fmt.Errorf("transfer_log.witnesses[%d].key_file %s: %w", i, w.KeyFile, err)
		}
		cfg.Witnesses = append(cfg.Witnesses, translog.Witness{URL: w.URL, Key: key})
	}
	for _, d := range []struct {
		key, v string
		to     *time.Duration
	}{
		{"seal_interval", t.SealInterval, &cfg.SealInterval},
		{"retention", t.Retention, &cfg.Retention},
	} {
		if d.v == "" {
			continue
		}
		v, err := time.ParseDuration(d.v)
		if err != nil || v <= 0 {
			return fmt.Errorf("transfer_log.%s: %q is not a positive duration such as \"1s\" or \"8760h\"", d.key, d.v)
		}
		*d.to = v
	}
	return nil
}

// jobsConfig is the file's "jobs" section.
type jobsConfig struct {
	// Workers is how many chunks of jobs the node works at once;
	// PerSource and PerOrganisation bound the elements it runs at once
	// against one adapter and for one organisation.
	Workers         int `json:"workers"`
	PerSource       int `json:"per_source"`
	PerOrganisation int `json:"per_organisation"`
	ChunkSize       int `json:"chunk_size"`
	// Durations, such as "168h".
	RetainFor    string `json:"retain_for"`
	ChunkTimeout string `json:"chunk_timeout"`
	RescueAfter  string `json:"rescue_after"`
	SweepEvery   string `json:"sweep_every"`
	// CallbackKeyFile holds the Ed25519 key (PKCS #8 PEM) that signs
	// callbacks, named CallbackKeyID; without it jobs cannot ask for one.
	CallbackKeyFile string `json:"callback_key_file"`
	CallbackKeyID   string `json:"callback_key_id"`
}

// apply reads j into cfg, naming the key that is wrong.
func (j jobsConfig) apply(cfg *broker.Config) error {
	for _, n := range []struct {
		key string
		v   int
		to  *int
	}{
		{"workers", j.Workers, &cfg.Jobs.Workers},
		{"per_source", j.PerSource, &cfg.Jobs.PerSource},
		{"per_organisation", j.PerOrganisation, &cfg.Jobs.PerOrganisation},
		{"chunk_size", j.ChunkSize, &cfg.Jobs.ChunkSize},
	} {
		if n.v < 0 {
			return fmt.Errorf("jobs.%s: %d is negative", n.key, n.v)
		}
		*n.to = n.v
	}
	for _, d := range []struct {
		key, v string
		to     *time.Duration
	}{
		{"retain_for", j.RetainFor, &cfg.Jobs.RetainFor},
		{"chunk_timeout", j.ChunkTimeout, &cfg.Jobs.ChunkTimeout},
		{"rescue_after", j.RescueAfter, &cfg.Jobs.RescueAfter},
		{"sweep_every", j.SweepEvery, &cfg.Jobs.SweepEvery},
	} {
		if d.v == "" {
			continue
		}
		v, err := time.ParseDuration(d.v)
		if err != nil || v <= 0 {
			return fmt.Errorf("jobs.%s: %q is not a positive duration such as \"30s\" or \"168h\"", d.key, d.v)
		}
		*d.to = v
	}
	if cfg.Jobs.RescueAfter > 0 && cfg.Jobs.ChunkTimeout > 0 && cfg.Jobs.RescueAfter <= cfg.Jobs.ChunkTimeout {
		return fmt.Errorf("jobs.rescue_after (%s) must be longer than jobs.chunk_timeout (%s): a chunk still running must not be given to another node", j.RescueAfter, j.ChunkTimeout)
	}
	if j.CallbackKeyFile == "" {
		return nil
	}
	if j.CallbackKeyID == "" {
		return errors.New("jobs.callback_key_id is required with jobs.callback_key_file: receivers find the key by it")
	}
	raw, err := os.ReadFile(j.CallbackKeyFile)
	if err != nil {
		return fmt.Errorf("jobs.callback_key_file: %w", err)
	}
	if cfg.Jobs.CallbackKey, err = broker.ParseCallbackKey(raw); err != nil {
		return fmt.Errorf("jobs.callback_key_file %s: %w", j.CallbackKeyFile, err)
	}
	cfg.Jobs.CallbackKeyID = j.CallbackKeyID
	return nil
}

// scspConfig is the file's "scsp" section.
type scspConfig struct {
	// TrustedCAsFile holds the PEM certificates of the authorities whose
	// certificates identify requesting organisations.
	TrustedCAsFile string `json:"trusted_cas_file"`
	// CertFile and KeyFile are the node's certificate and private key
	// (PEM; PKCS #8, PKCS #1 or SEC 1), which sign its answers.
	CertFile string `json:"cert_file"`
	KeyFile  string `json:"key_file"`
}

// door reads the section's files, naming the key that is wrong.
func (c scspConfig) door() (*api.SCSPDoor, error) {
	raw, err := os.ReadFile(c.TrustedCAsFile)
	if err != nil {
		return nil, fmt.Errorf("scsp.trusted_cas_file: %w", err)
	}
	roots := x509.NewCertPool()
	if !roots.AppendCertsFromPEM(raw) {
		return nil, fmt.Errorf("scsp.trusted_cas_file %s: no PEM certificate in it", c.TrustedCAsFile)
	}
	pair, err := tls.LoadX509KeyPair(c.CertFile, c.KeyFile)
	if err != nil {
		return nil, fmt.Errorf("scsp.cert_file and scsp.key_file: %w", err)
	}
	leaf, err := x509.ParseCertificate(pair.Certificate[0])
	if err != nil {
		return nil, fmt.Errorf("scsp.cert_file %s: %w", c.CertFile, err)
	}
	key, ok := pair.PrivateKey.(crypto.Signer)
	if !ok {
		return nil, fmt.Errorf("scsp.key_file %s: not a signing key", c.KeyFile)
	}
	return &api.SCSPDoor{Roots: roots, Cert: leaf, Key: key}, nil
}

// webConfig is the file's "web" section.
type webConfig struct {
	// SessionKeyFile holds the key that signs the pages' session
	// cookies: at least 32 random bytes (head -c 32 /dev/urandom), the
	// same on every node behind one address.
	SessionKeyFile string `json:"session_key_file"`
	// OIDC signs people in with an OpenID provider; absent: nobody can
	// sign in (the catalog's pages are served all the same).
	OIDC *oidcConfig `json:"oidc"`
}

// oidcConfig is the file's spelling of web.OIDC; the client secret is read
// from a file, as every other secret of the configuration.
type oidcConfig struct {
	Issuer           string   `json:"issuer"`
	ClientID         string   `json:"client_id"`
	ClientSecretFile string   `json:"client_secret_file"`
	RedirectURL      string   `json:"redirect_url"`
	Scopes           []string `json:"scopes"`
	SubjectClaim     string   `json:"subject_claim"`
	RoleClaim        string   `json:"role_claim"`
	OrgClaim         string   `json:"org_claim"`
	NameClaim        string   `json:"name_claim"`
}

// pages reads the section's files, naming the key that is wrong.
func (c webConfig) pages() (broker.PagesConfig, error) {
	key, err := os.ReadFile(c.SessionKeyFile)
	if err != nil {
		return broker.PagesConfig{}, fmt.Errorf("web.session_key_file: %w", err)
	}
	if len(key) < 32 {
		return broker.PagesConfig{}, fmt.Errorf("web.session_key_file %s: %d bytes, at least 32 are needed", c.SessionKeyFile, len(key))
	}
	out := broker.PagesConfig{SessionKey: key}
	if o := c.OIDC; o != nil {
		out.OIDC = &web.OIDC{
			Issuer: o.Issuer, ClientID: o.ClientID, RedirectURL: o.RedirectURL, Scopes: o.Scopes,
			SubjectClaim: o.SubjectClaim, RoleClaim: o.RoleClaim, OrgClaim: o.OrgClaim, NameClaim: o.NameClaim,
		}
		if o.ClientSecretFile != "" {
			secret, err := os.ReadFile(o.ClientSecretFile)
			if err != nil {
				return broker.PagesConfig{}, fmt.Errorf("web.oidc.client_secret_file: %w", err)
			}
			out.OIDC.ClientSecret = strings.TrimSpace(string(secret))
		}
		if err := out.OIDC.Check(); err != nil {
			return broker.PagesConfig{}, fmt.Errorf("web.oidc: %w", err)
		}
	}
	return out, nil
}
