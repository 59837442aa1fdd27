package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/pontexchange/pont/exchange/auth"
	"github.com/pontexchange/pont/exchange/broker"
	"github.com/pontexchange/pont/exchange/guard"
	"github.com/pontexchange/pont/exchange/store/postgres/pgtest"
	"github.com/pontexchange/pont/internal/testenv"
)

// repoRoot is where pont.example.json and its relative paths are.
const repoRoot = "../.."

// TestServeWithTheExampleConfig runs the README's production path: a token
// minted by `pont token`, the simulated sources by `pont dev sources`,
// `pont serve --config pont.example.json --database URL` on a fresh
// PostgreSQL database, a query, and `pont audit search`. Only what cannot
// be the same in a test changes: the listen ports (0), the data directory,
// the key file and the modules (built for the test).
func TestServeWithTheExampleConfig(t *testing.T) {
	dbURL := pgtest.NewDatabase(t)
	raw, err := os.ReadFile(filepath.Join(repoRoot, "pont.example.json"))
	if err != nil {
		t.Fatal(err)
	}
	var cfg map[string]any
	if err := json.Unmarshal(raw, &cfg); err != nil {
		t.Fatalf("pont.example.json: %v", err)
	}

	// The README mints tokens with `bin/pont token`, whose key (in --data,
	// ./.pont-dev by default) the example's issuer trusts.
	keys := t.TempDir()
	mint := func(args ...string) string {
		code, out, errs := pontRun(t, append([]string{"token", "--data", keys}, args...)...)
		if code != 0 {
			t.Fatalf("pont token %v: %d %s", args, code, errs)
		}
		return strings.TrimSpace(out)
	}
	requester := mint("--role", "requester", "--org", "P0801900B")
	auditor := mint("--role", "auditor", "--sub", "dpo-1")
	citizen := mint("--role", "citizen", "--sub", "12345678Z") // the default ttl: a citizen's default maximum

	issuers := cfg["issuers"].([]any)
	iss := issuers[0].(map[string]any)
	if iss["issuer"] != "pont-dev" || iss["audience"] != "pont" || iss["key_file"] != ".pont-dev/dev-issuer.jwk" {
		t.Fatalf("the example's issuer is not the development one: %v", iss)
	}
	iss["key_file"] = filepath.Join(keys, "dev-issuer.jwk")

	// The example reaches the simulated sources where `pont dev sources`
	// listens by default; the test's listen on a free port.
	if got, want := cfg["source_addresses"], map[string]any{".sources.pont.test": "127.0.0.1:8090"}; !reflect.DeepEqual(got, want) {
		t.Fatalf("the example's source_addresses = %v, want %v", got, want)
	}
	srcCtx, stopSources := context.WithCancel(context.Background())
	var srcOut, srcErr testenv.SyncBuffer
	srcExited := make(chan int, 1)
	go func() {
		srcExited <- run(srcCtx, []string{"dev", "sources", "--listen", "127.0.0.1:0"}, &srcOut, &srcErr)
	}()
	t.Cleanup(func() {
		stopSources()
		if code := <-srcExited; code != 0 {
			t.Errorf("pont dev sources exited %d:\n%s", code, srcErr.String())
		}
	})
	sources := strings.TrimPrefix(waitFor(t, &srcOut, "Simulated sources listening on ", srcExited, &srcErr), "http://")
	cfg["source_addresses"] = map[string]any{".sources.pont.test": sources}

	// The README makes the log's signing key with pont keygen.
	tl := cfg["transfer_log"].(map[string]any)
	if tl["signing_key_file"] != ".pont-dev/serve-log.key" {
		t.Fatalf("the example's log key is not the README's: %v", tl)
	}
	logKey := filepath.Join(keys, "serve-log")
	if code, _, errs := pontRun(t, "keygen", "--name", "pont.localhost/serve-transfer-log", "--out", logKey); code != 0 {
		t.Fatalf("pont keygen: %d %s", code, errs)
	}
	tl["signing_key_file"] = logKey + ".key"

	cfg["listen"] = "127.0.0.1:0"
	cfg["debug_listen"] = "127.0.0.1:0"
	cfg["metrics_listen"] = "127.0.0.1:0"
	cfg["data_dir"] = t.TempDir()
	// The README deploys the reference adapters signed with owner keys of
	// pont dev deploy's making, and a catalog holding those keys.
	if cfg["modules_dir"] != ".pont-dev/deploy/modules" || cfg["catalog_dir"] != ".pont-dev/deploy/catalog" {
		t.Fatalf("the example's modules_dir and catalog_dir are not pont dev deploy's: %v, %v", cfg["modules_dir"], cfg["catalog_dir"])
	}
	deployDir := filepath.Join(t.TempDir(), "deploy")
	if code, _, errs := pontRun(t, "dev", "deploy", "--out", deployDir, "--modules", modulesDir); code != 0 {
		t.Fatalf("pont dev deploy: %d %s", code, errs)
	}
	cfg["modules_dir"] = filepath.Join(deployDir, "modules")
	cfg["catalog_dir"] = filepath.Join(deployDir, "catalog")
	for _, key := range []string{"policies_dir"} {
		if p, _ := cfg[key].(string); p != "" {
			abs, err := filepath.Abs(filepath.Join(repoRoot, p))
			if err != nil {
				t.Fatal(err)
			}
			cfg[key] = abs
		}
	}
	adapted, _ := json.Marshal(cfg)
	cfgPath := filepath.Join(t.TempDir(), "pont.json")
	if err := os.WriteFile(cfgPath, adapted, 0o600); err != nil {
		t.Fatal(err)
	}

	ctx, cancel := context.WithCancel(context.Background())
	var stdout, stderr testenv.SyncBuffer
	exited := make(chan int, 1)
	go func() {
		exited <- run(ctx, []string{"serve", "--config", cfgPath, "--database", dbURL}, &stdout, &stderr)
	}()
	stopped := false
	t.Cleanup(func() {
		if !stopped {
			cancel()
			<-exited
		}
	})
	base := waitFor(t, &stdout, "Pont is serving on ", exited, &stderr)
	metrics := waitFor(t, &stdout, "Metrics of this node are at ", exited, &stderr)
	profiles := waitFor(t, &stdout, "Profiles of this process (pprof) are at ", exited, &stderr)

	status, out := query(t, base, requester, "padro", "12345678Z", map[string]any{"municipality": "08019"}, nil)
	if status != http.StatusOK {
		t.Fatalf("query: %d %v\n%s", status, out, stderr.String())
	}
	id := out["transfer_id"].(string)
	if data, _ := out["data"].(map[string]any); len(data) == 0 {
		t.Fatalf("no data: %v", out)
	}

	// The record is in PostgreSQL.
	conn, err := pgx.Connect(context.Background(), dbURL)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(context.Background())
	var node, sum string
	if err := conn.QueryRow(context.Background(), "SELECT node, data_sha256 FROM transfers WHERE id = $1", id).Scan(&node, &sum); err != nil {
		t.Fatalf("transfer %s in PostgreSQL: %v", id, err)
	}
	if node != cfg["node"] || len(sum) != 64 {
		t.Errorf("the record: node %q, data_sha256 %q", node, sum)
	}

	// A requester is refused the audit API; the auditor finds the query.
	if code, _, errs := pontRun(t, "audit", "search", "--server", base, "--token", requester); code != 1 || !strings.Contains(errs, "403 forbidden") {
		t.Errorf("a requester's search: %d %s", code, errs)
	}
	code, found, errs := pontRun(t, "audit", "search", "--server", base, "--token", auditor, "--subject", "12345678Z", "--format", "json")
	if code != 0 {
		t.Fatalf("pont audit search: %d %s", code, errs)
	}
	recs := jsonRecords(t, found)
	if len(recs) != 1 || recs[0].ID != id || recs[0].Service != "padro" || recs[0].Decision != "allow" {
		t.Errorf("pont audit search found %+v, want transfer %s", recs, id)
	}

	// The log verifies with its public key, once the query is sealed
	// (within the example's seal_interval, 1 s).
	state := filepath.Join(t.TempDir(), "state")
	var verified string
	for deadline := time.Now().Add(20 * time.Second); ; {
		code, out, errs := pontRun(t, "audit", "verify", "--server", base, "--token", auditor, "--log-key", logKey+".vkey", "--state", state)
		if code == 0 {
			verified = out
			break
		}
		if time.Now().After(deadline) || !strings.Contains(errs, "no checkpoint yet") {
			t.Fatalf("pont audit verify: %d %s %s", code, out, errs)
		}
		time.Sleep(200 * time.Millisecond)
	}
	if !strings.Contains(verified, "verified: ") || !strings.Contains(verified, "signed by pont.localhost/serve-transfer-log") {
		t.Errorf("pont audit verify said:\n%s", verified)
	}
	// The requester's receipt of its query checks offline; a receipt whose
	// entry was changed does not, and the command says why.
	// The log's first checkpoint may be older than the query (the node's
	// start published its adapters): the proof comes with the next seal.
	var receipt string
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		resp, err := httpDo(base+"/v1/audit/proofs/inclusion?transfer_id="+id, requester)
		if err != nil {
			t.Fatal(err)
		}
		if resp.status == http.StatusOK {
			receipt = resp.body
			break
		}
		if resp.status != http.StatusNotFound || time.Now().After(deadline) {
			t.Fatalf("GET the inclusion proof of %s: %d %s", id, resp.status, resp.body)
		}
	}
	receiptFile := filepath.Join(t.TempDir(), "receipt.json")
	if err := os.WriteFile(receiptFile, []byte(receipt), 0o600); err != nil {
		t.Fatal(err)
	}
	if code, out, errs := pontRun(t, "audit", "verify", "--receipt", receiptFile, "--log-key", logKey+".vkey"); code != 0 || !strings.Contains(out, "verified: record "+id) {
		t.Errorf("pont audit verify --receipt: %d %s %s", code, out, errs)
	}
	var r map[string]any
	_ = json.Unmarshal([]byte(receipt), &r)
	r["leaf_index"] = r["leaf_index"].(float64) + 1
	bad, _ := json.Marshal(r)
	if err := os.WriteFile(receiptFile, bad, 0o600); err != nil {
		t.Fatal(err)
	}
	if code, _, errs := pontRun(t, "audit", "verify", "--receipt", receiptFile, "--log-key", logKey+".vkey"); code != 1 || !strings.Contains(errs, "FAILED") {
		t.Errorf("a changed receipt: %d %s", code, errs)
	}

	// The profiles answer on their own listener, and not on the API's.
	for _, c := range []struct {
		url, want string
	}{
		{profiles + "goroutine?debug=1", "goroutine profile: total"},
		{profiles + "trace?seconds=0.2", "go 1."},
	} {
		body := httpGet(t, c.url, http.StatusOK)
		if !strings.HasPrefix(body, c.want) {
			t.Errorf("GET %s: %.40q, want it to start with %q", c.url, body, c.want)
		}
	}
	httpGet(t, profiles+"cmdline", http.StatusNotFound) // --database may hold a password
	httpGet(t, base+"/debug/pprof/", http.StatusNotFound)

	// The metrics answer on their own listener, and not on the API's; the
	// API's contract and readiness stay public.
	if body := httpGet(t, metrics, http.StatusOK); !strings.Contains(body, "pont_http_requests_total") {
		t.Errorf("GET %s lacks pont_http_requests_total", metrics)
	}
	httpGet(t, base+"/metrics", http.StatusNotFound)
	httpGet(t, base+"/openapi.json", http.StatusOK)
	if body := httpGet(t, base+"/readyz", http.StatusOK); strings.TrimSpace(body) != `{"status":"ready"}` {
		t.Errorf("readyz: %s", body)
	}

	// A citizen's token of pont token's default lifetime is accepted.
	httpGetAuth(t, base+"/v1/me/transfers", citizen, http.StatusOK)

	cancel()
	stopped = true
	if code := <-exited; code != 0 {
		t.Errorf("pont serve exited %d:\n%s", code, stderr.String())
	}
}

type httpAnswer struct {
	status int
	body   string
}

// httpDo GETs url with a bearer token and answers whatever it answered.
func httpDo(url, token string) (httpAnswer, error) {
	req, err := http.NewRequest(http.MethodGet, url, nil)
	if err != nil {
		return httpAnswer{}, err
	}
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return httpAnswer{}, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	return httpAnswer{resp.StatusCode, string(body)}, err
}

func httpGet(t *testing.T, url string, want int) string {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != want {
		t.Errorf("GET %s: %d, want %d", url, resp.StatusCode, want)
	}
	return string(body)
}

// httpGetAuth GETs url with a bearer token and checks the status.
func httpGetAuth(t *testing.T, url, token string, want int) string {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != want {
		t.Errorf("GET %s: %d %s, want %d", url, resp.StatusCode, body, want)
	}
	return string(body)
}

func TestLoadServeConfig(t *testing.T) {
	dir := t.TempDir()
	write := func(name, body string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	t.Run("the example", func(t *testing.T) {
		cfg, err := loadServeConfig(filepath.Join(repoRoot, "pont.example.json"))
		if err != nil {
			t.Fatal(err)
		}
		root, _ := filepath.Abs(repoRoot)
		abs := func(p string) string { a, _ := filepath.Abs(p); return a }
		for name, got := range map[string]string{
			"modules_dir":  cfg.ModulesDir,
			"catalog_dir":  cfg.CatalogDir,
			"policies_dir": cfg.PoliciesDir,
			"key_file":     cfg.Issuers[0].KeyFile,
		} {
			if !strings.HasPrefix(abs(got), root+string(filepath.Separator)) {
				t.Errorf("%s = %s: not under the repository", name, got)
			}
		}
		if cfg.SourceAddresses[".sources.pont.test"] == "" || cfg.Listen == "" || cfg.CursorSecret != "" {
			t.Errorf("the example: %+v", cfg)
		}
		// The example's guard reaches the broker (its values are guard's
		// defaults, written out).
		bcfg, err := brokerConfig(cfg)
		if err != nil {
			t.Fatal(err)
		}
		if want := (guard.Config{SubjectFailures: 3, SubjectOpenFor: 30 * time.Second, Subjects: 4096, SourceWindow: 10 * time.Second,
			SourceMinCalls: 20, SourceFailureRatio: 0.5, SourceOpenFor: 10 * time.Second}); !reflect.DeepEqual(bcfg.Guard, want) {
			t.Errorf("the example's guard = %+v, want %+v", bcfg.Guard, want)
		}
	})
	tests := []struct {
		name, body string
		want       serveConfig
		err        string
	}{
		{
			name: "relative paths are the file's",
			body: `{"data_dir":"d","modules_dir":"/abs/m","catalog_dir":"c","issuers":[{"issuer":"i","audience":"a","key_file":"k.jwk"}]}`,
			want: serveConfig{Listen: "127.0.0.1:8080", DataDir: filepath.Join(dir, "d"), ModulesDir: "/abs/m", CatalogDir: filepath.Join(dir, "c"),
				Issuers: []issuerConfig{{Issuer: "i", Audience: "a", KeyFile: filepath.Join(dir, "k.jwk")}}},
		},
		{
			name: "source addresses",
			body: `{"source_addresses":{".sources.example.org":"10.0.0.7:8443","padro.example.org":"padro.lan:443"}}`,
			want: serveConfig{Listen: "127.0.0.1:8080", DataDir: filepath.Join(dir, ".pont"),
				SourceAddresses: map[string]string{".sources.example.org": "10.0.0.7:8443", "padro.example.org": "padro.lan:443"}},
		},
		{name: "unknown field", body: `{"listen":"x","databse_url":"postgres://"}`, err: `unknown field "databse_url"`},
		{name: "simulated sources are no production key", body: `{"simulated_sources":true}`, err: `unknown field "simulated_sources"`},
		{name: "unknown guard key", body: `{"guard":{"share":2,"shares":2}}`, err: `unknown field "shares"`},
		{name: "a guard duration in seconds", body: `{"guard":{"subject_open_for":30}}`, err: "guard.subject_open_for of type string"},
		{name: "not JSON", body: `listen: x`, err: "invalid character"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := loadServeConfig(write(strings.ReplaceAll(tt.name, " ", "-")+".json", tt.body))
			if tt.err != "" {
				if err == nil || !strings.Contains(err.Error(), tt.err) {
					t.Fatalf("err %v, want %q", err, tt.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("got\n%+v\nwant\n%+v", got, tt.want)
			}
		})
	}
}

func TestServeRefusesBadSettings(t *testing.T) {
	dir := t.TempDir()
	short := filepath.Join(dir, "short.json")
	if err := os.WriteFile(short, []byte(`{"cursor_secret":"tooshort"}`), 0o600); err != nil {
		t.Fatal(err)
	}
	public := filepath.Join(dir, "public.json")
	if err := os.WriteFile(public, []byte(`{"debug_listen":"0.0.0.0:6060"}`), 0o600); err != nil {
		t.Fatal(err)
	}
	badSource := filepath.Join(dir, "badsource.json")
	if err := os.WriteFile(badSource, []byte(`{"source_addresses":{"https://padro.example.org":"10.0.0.7:8443"}}`), 0o600); err != nil {
		t.Fatal(err)
	}
	noPort := filepath.Join(dir, "noport.json")
	if err := os.WriteFile(noPort, []byte(`{"debug_listen":"127.0.0.1"}`), 0o600); err != nil {
		t.Fatal(err)
	}
	badGuard := filepath.Join(dir, "badguard.json")
	if err := os.WriteFile(badGuard, []byte(`{"guard":{"source_failure_ratio":1.5}}`), 0o600); err != nil {
		t.Fatal(err)
	}
	noCAs := filepath.Join(dir, "nocas.json")
	if err := os.WriteFile(noCAs, []byte(`{"scsp":{"trusted_cas_file":"missing.pem","cert_file":"n.pem","key_file":"n.key"}}`), 0o600); err != nil {
		t.Fatal(err)
	}
	notPEM := filepath.Join(dir, "notpem.json")
	if err := os.WriteFile(filepath.Join(dir, "cas.txt"), []byte("no certificate here"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(notPEM, []byte(`{"scsp":{"trusted_cas_file":"cas.txt","cert_file":"n.pem","key_file":"n.key"}}`), 0o600); err != nil {
		t.Fatal(err)
	}
	badJobs := filepath.Join(dir, "badjobs.json")
	if err := os.WriteFile(badJobs, []byte(`{"jobs":{"chunk_timeout":"5m","rescue_after":"1m"}}`), 0o600); err != nil {
		t.Fatal(err)
	}
	shortKey := filepath.Join(dir, "short.key")
	if err := os.WriteFile(shortKey, []byte("0123456789"), 0o600); err != nil {
		t.Fatal(err)
	}
	webShort := filepath.Join(dir, "webshort.json")
	if err := os.WriteFile(webShort, []byte(`{"web":{"session_key_file":"short.key"}}`), 0o600); err != nil {
		t.Fatal(err)
	}
	longKey := filepath.Join(dir, "long.key")
	if err := os.WriteFile(longKey, bytes.Repeat([]byte("k"), 32), 0o600); err != nil {
		t.Fatal(err)
	}
	webOIDC := filepath.Join(dir, "weboidc.json")
	if err := os.WriteFile(webOIDC, []byte(`{"web":{"session_key_file":"long.key","oidc":{"issuer":"http://idp.example.org","client_id":"pont","redirect_url":"https://pont.example.org/signin/oidc/callback"}}}`), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("PONT_DATABASE_URL", "")
	t.Setenv("PONT_CURSOR_SECRET", "")
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"serve", "--config", webShort, "--database", "postgres://x"}, "web.session_key_file " + shortKey + ": 10 bytes, at least 32 are needed"},
		{[]string{"serve", "--config", webOIDC, "--database", "postgres://x"}, "web.oidc: "},
		{[]string{"serve"}, "no database: give --database, PONT_DATABASE_URL or database_url"},
		{[]string{"serve", "--config", filepath.Join(dir, "missing.json"), "--database", "postgres://x"}, "configuration: open"},
		{[]string{"serve", "--config", short, "--database", "postgres://x"}, "cursor_secret: 8 bytes, at least 16 are needed"},
		{[]string{"serve", "--config", public, "--database", "postgres://x"}, `debug_listen: "0.0.0.0:6060" is not a loopback address`},
		{[]string{"serve", "--config", noPort, "--database", "postgres://x"}, "debug_listen: address 127.0.0.1: missing port in address"},
		{[]string{"serve", "--config", badSource, "--database", "postgres://x"}, `source_addresses: broker: source address "https://padro.example.org": not a host name`},
		{[]string{"serve", "--config", badGuard, "--database", "postgres://x"}, "guard.source_failure_ratio: 1.5 is not in (0, 1]"},
		{[]string{"serve", "--config", noCAs, "--database", "postgres://x"}, "scsp.trusted_cas_file: open"},
		{[]string{"serve", "--config", notPEM, "--database", "postgres://x"}, "no PEM certificate in it"},
		{[]string{"serve", "--config", badJobs, "--database", "postgres://x"}, "jobs.rescue_after (1m) must be longer than jobs.chunk_timeout (5m)"},
	} {
		code, _, errs := pontRun(t, c.args...)
		if code != 1 || !strings.Contains(errs, c.want) {
			t.Errorf("%v: exit %d, stderr %q; want 1 and %q", c.args, code, errs, c.want)
		}
	}
}

// TestServeIssuerLifetimes reads max_token_lifetime from the file and from
// an issuer, the issuer's entries over the file's, role by role, and refuses
// an unknown role or a duration that is not positive, naming the entry.
func TestServeIssuerLifetimes(t *testing.T) {
	tests := []struct {
		name, body string
		want       []map[auth.Role]time.Duration // per issuer
		err        string
	}{
		{
			name: "none: the verifier's defaults",
			body: `{"issuers":[{"issuer":"i","audience":"a","jwks_url":"https://idp.example/jwks"}]}`,
			want: []map[auth.Role]time.Duration{nil},
		},
		{
			name: "global and per issuer",
			body: `{"max_token_lifetime":{"citizen":"30m","requester":"8h"},"issuers":[
				{"issuer":"i","audience":"a","jwks_url":"https://idp.example/jwks"},
				{"issuer":"j","audience":"a","jwks_url":"https://idp.example/jwks","max_token_lifetime":{"citizen":"15m","auditor":"1h"}}]}`,
			want: []map[auth.Role]time.Duration{
				{auth.RoleCitizen: 30 * time.Minute, auth.RoleRequester: 8 * time.Hour},
				{auth.RoleCitizen: 15 * time.Minute, auth.RoleRequester: 8 * time.Hour, auth.RoleAuditor: time.Hour},
			},
		},
		{
			name: "per issuer only",
			body: `{"issuers":[{"issuer":"i","audience":"a","jwks_url":"https://idp.example/jwks","max_token_lifetime":{"publisher":"2h"}}]}`,
			want: []map[auth.Role]time.Duration{{auth.RolePublisher: 2 * time.Hour}},
		},
		{name: "unknown role", body: `{"max_token_lifetime":{"admin":"1h"}}`, err: `max_token_lifetime: "admin" is not a role`},
		{name: "not a duration", body: `{"max_token_lifetime":{"citizen":"3600"}}`, err: `max_token_lifetime: citizen: "3600" is not a positive duration`},
		{name: "negative", body: `{"issuers":[{"issuer":"i","audience":"a","jwks_url":"u","max_token_lifetime":{"auditor":"-1h"}}]}`, err: `issuers[0].max_token_lifetime: auditor: "-1h" is not a positive duration`},
	}
	dir := t.TempDir()
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(dir, strings.ReplaceAll(tt.name, " ", "-")+".json")
			if err := os.WriteFile(path, []byte(tt.body), 0o600); err != nil {
				t.Fatal(err)
			}
			cfg, err := loadServeConfig(path)
			if err != nil {
				t.Fatal(err)
			}
			issuers, err := serveIssuers(cfg)
			if tt.err != "" {
				if err == nil || !strings.Contains(err.Error(), tt.err) {
					t.Fatalf("err %v, want %q", err, tt.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if len(issuers) != len(tt.want) {
				t.Fatalf("%d issuers, want %d", len(issuers), len(tt.want))
			}
			for i, iss := range issuers {
				if !reflect.DeepEqual(iss.MaxLifetime, tt.want[i]) {
					t.Errorf("issuer %d: MaxLifetime %v, want %v", i, iss.MaxLifetime, tt.want[i])
				}
			}
		})
	}
}

// TestServeGuardConfig reads the file's guard object into
// broker.Config.Guard, a zero or absent key leaving guard's default, and
// refuses each wrong value naming its key.
func TestServeGuardConfig(t *testing.T) {
	tests := []struct {
		name, body string
		want       guard.Config
		err        string
	}{
		{name: "absent: the defaults", body: `{}`},
		{name: "empty: the defaults", body: `{"guard":{}}`},
		{
			name: "zero: the defaults",
			body: `{"guard":{"share":0,"subject_failures":0,"subject_open_for":"0s","subjects":0,"source_window":"","source_min_calls":0,"source_failure_ratio":0,"source_open_for":"0"}}`,
		},
		{
			name: "every key",
			body: `{"guard":{"share":3,"subject_failures":5,"subject_open_for":"1m30s","subjects":10000,
				"source_window":"20s","source_min_calls":40,"source_failure_ratio":0.25,"source_open_for":"5s"}}`,
			want: guard.Config{
				Share: 3, SubjectFailures: 5, SubjectOpenFor: 90 * time.Second, Subjects: 10000,
				SourceWindow: 20 * time.Second, SourceMinCalls: 40, SourceFailureRatio: 0.25, SourceOpenFor: 5 * time.Second,
			},
		},
		{name: "some keys", body: `{"guard":{"source_failure_ratio":1,"subject_open_for":"2h"}}`, want: guard.Config{SourceFailureRatio: 1, SubjectOpenFor: 2 * time.Hour}},
		{name: "negative share", body: `{"guard":{"share":-1}}`, err: "guard.share: -1 is negative"},
		{name: "negative subject_failures", body: `{"guard":{"subject_failures":-3}}`, err: "guard.subject_failures: -3 is negative"},
		{name: "negative subjects", body: `{"guard":{"subjects":-4096}}`, err: "guard.subjects: -4096 is negative"},
		{name: "negative source_min_calls", body: `{"guard":{"source_min_calls":-20}}`, err: "guard.source_min_calls: -20 is negative"},
		{name: "ratio above 1", body: `{"guard":{"source_failure_ratio":1.5}}`, err: "guard.source_failure_ratio: 1.5 is not in (0, 1]"},
		{name: "negative ratio", body: `{"guard":{"source_failure_ratio":-0.5}}`, err: "guard.source_failure_ratio: -0.5 is not in (0, 1]"},
		{name: "subject_open_for without a unit", body: `{"guard":{"subject_open_for":"30"}}`, err: `guard.subject_open_for: "30" is not a duration`},
		{name: "source_window not a duration", body: `{"guard":{"source_window":"ten seconds"}}`, err: `guard.source_window: "ten seconds" is not a duration`},
		{name: "negative source_open_for", body: `{"guard":{"source_open_for":"-10s"}}`, err: `guard.source_open_for: "-10s" is negative`},
		{name: "negative subject_open_for", body: `{"guard":{"subject_open_for":"-1ms"}}`, err: `guard.subject_open_for: "-1ms" is negative`},
		{name: "negative source_window", body: `{"guard":{"source_window":"-1m"}}`, err: `guard.source_window: "-1m" is negative`},
	}
	dir := t.TempDir()
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(dir, strings.ReplaceAll(tt.name, " ", "-")+".json")
			if err := os.WriteFile(path, []byte(tt.body), 0o600); err != nil {
				t.Fatal(err)
			}
			cfg, err := loadServeConfig(path)
			if err != nil {
				t.Fatal(err)
			}
			bcfg, err := brokerConfig(cfg)
			if tt.err != "" {
				if err == nil || !strings.Contains(err.Error(), tt.err) {
					t.Fatalf("err %v, want %q", err, tt.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(bcfg.Guard, tt.want) {
				t.Errorf("broker.Config.Guard = %+v, want %+v", bcfg.Guard, tt.want)
			}
		})
	}
}

// TestTransferLogConfig: the log's key and witnesses reach the broker, and
// each wrong value is refused naming its key.
func TestTransferLogConfig(t *testing.T) {
	dir := t.TempDir()
	if code, _, errs := pontRun(t, "keygen", "--name", "pont.test/log", "--out", filepath.Join(dir, "log")); code != 0 {
		t.Fatalf("keygen: %s", errs)
	}
	if code, _, errs := pontRun(t, "keygen", "--witness", "--name", "witness.test", "--out", filepath.Join(dir, "w")); code != 0 {
		t.Fatalf("keygen --witness: %s", errs)
	}
	key, vkey, wkey := filepath.Join(dir, "log.key"), filepath.Join(dir, "log.vkey"), filepath.Join(dir, "w.vkey")
	type witnessCfg = struct {
		URL     string `json:"url"`
		KeyFile string `json:"key_file"`
	}
	good := transferLogConfig{SigningKeyFile: key, Witnesses: []witnessCfg{{"https://w.test", wkey}}, SealInterval: "500ms", Retention: "8760h"}
	var bc broker.Config
	if err := good.apply(&bc); err != nil {
		t.Fatal(err)
	}
	if bc.LogSigner.Name() != "pont.test/log" || bc.LogVerifier.Name() != "pont.test/log" || len(bc.Witnesses) != 1 ||
		bc.Witnesses[0].Key.Name() != "witness.test" || bc.SealInterval != 500*time.Millisecond || bc.Retention != 8760*time.Hour {
		t.Errorf("broker config %+v", bc)
	}
	for _, c := range []struct {
		name   string
		change func(*transferLogConfig)
		want   string
	}{
		{"no key", func(c *transferLogConfig) { c.SigningKeyFile = "" }, "transfer_log.signing_key_file is required"},
		{"a missing key file", func(c *transferLogConfig) { c.SigningKeyFile = filepath.Join(dir, "nope.key") }, "transfer_log.signing_key_file"},
		{"the public key as the private one", func(c *transferLogConfig) { c.SigningKeyFile = vkey }, "transfer_log.signing_key_file"},
		{"a witness without a URL", func(c *transferLogConfig) { c.Witnesses = []witnessCfg{{"", wkey}} }, "transfer_log.witnesses[0].url"},
		{"a witness's key that is the log's", func(c *transferLogConfig) { c.Witnesses = []witnessCfg{{"https://w.test", key}} }, "transfer_log.witnesses[0].key_file"},
		{"a seal interval without unit", func(c *transferLogConfig) { c.SealInterval = "1" }, "transfer_log.seal_interval"},
		{"a negative retention", func(c *transferLogConfig) { c.Retention = "-1h" }, "transfer_log.retention"},
	} {
		t.Run(c.name, func(t *testing.T) {
			cfg := good
			cfg.Witnesses = slices.Clone(good.Witnesses)
			c.change(&cfg)
			var bc broker.Config
			if err := cfg.apply(&bc); err == nil || !strings.Contains(err.Error(), c.want) {
				t.Errorf("err = %v, want one naming %q", err, c.want)
			}
		})
	}
}
