package main

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/pontexchange/pont/exchange/manifest"
	"github.com/pontexchange/pont/exchange/store/postgres/pgtest"
	"github.com/pontexchange/pont/internal/testenv"
)

// TestOwnerPublishesOnTwoNodes is a data owner's whole way, with the
// commands a new user would run: the Ajuntament de Tarragona, which the
// catalog's sources do not list, makes a key (which the operator adds to
// owners.json), embeds a manifest in its padró adapter written in C,
// checks it, tests it against recorded answers of its source (one of them
// in ISO-8859-1), signs it, publishes and activates it on one node of a
// two-node deployment on PostgreSQL; both nodes answer its queries from
// it, then from its next version, then from the first again after a
// rollback. A publication outside its rights, a module changed after
// signing and a signature by another key are refused, naming why.
func TestOwnerPublishesOnTwoNodes(t *testing.T) {
	if testing.Short() && !testenv.InCI() {
		t.Skip("starts two pont serve processes: about half a minute")
	}
	testenv.NeedTools(t, "Debian: apt-get install clang lld wasi-libc libclang-rt-14-dev-wasm32", "clang")
	program := filepath.Join(modulesDir, "padro-c-08019.wasm")
	if _, err := os.Stat(program); err != nil {
		t.Fatalf("the C padró adapter was not built: %v", err)
	}
	dbURL := pgtest.NewDatabase(t)
	bin := buildPont(t)
	dir := t.TempDir()
	keys := filepath.Join(dir, "keys")
	if err := os.MkdirAll(keys, 0o700); err != nil {
		t.Fatal(err)
	}
	mint := func(args ...string) string {
		return strings.TrimSpace(pontExec(t, bin, append([]string{"token", "--data", keys}, args...)...))
	}
	requester := mint("--role", "requester", "--org", "P0801900B")
	auditor := mint("--role", "auditor", "--sub", "dpo-1")
	publisher := mint("--role", "publisher", "--sub", "it-tarragona-1", "--owner", "L01431482")
	logKey := filepath.Join(keys, "log")
	pontExec(t, bin, "keygen", "--name", "pont.localhost/publish-test-log", "--out", logKey)

	// The owner's key, and the operator's one edit: its public half in
	// the catalog's owners.json.
	ownerKeys := filepath.Join(dir, "owner")
	if err := os.MkdirAll(ownerKeys, 0o700); err != nil {
		t.Fatal(err)
	}
	out := pontExec(t, bin, "adapter", "keygen", "--owner", "L01431482", "--out", ownerKeys)
	if !strings.Contains(out, `"keys"`) {
		t.Fatalf("pont adapter keygen printed no JWKS for the operator:\n%s", out)
	}
	privs, _ := filepath.Glob(filepath.Join(ownerKeys, "L01431482-*.jwk"))
	pubs, _ := filepath.Glob(filepath.Join(ownerKeys, "L01431482-*.pub.jwks"))
	if len(privs) != 1 || len(pubs) != 1 {
		t.Fatalf("keygen wrote %v and %v, want one private key and one JWKS", privs, pubs)
	}
	modules, catalogDir := padroOnly(t, dir)
	ownersFile := filepath.Join(catalogDir, "owners.json")
	var owners map[string]map[string]any
	readJSON(t, ownersFile, &owners)
	var jwks any
	readJSON(t, pubs[0], &jwks)
	owners["L01431482"]["keys"] = jwks
	writeJSON(t, ownersFile, owners)

	// The adapter: the padró program with Tarragona's manifest.
	manifestFile := filepath.Join(dir, "manifest.json")
	tgnManifest := func(version string) {
		writeJSON(t, manifestFile, map[string]any{
			"abi": 1, "name": "padro-43148", "version": version, "owner": "L01431482",
			"services": []string{"padro"}, "scope": "43148",
			"allowed_hosts":   []string{"http://padro-43148.sources.pont.test"},
			"config":          []string{"source_url"},
			"config_defaults": map[string]string{"source_url": "http://padro-43148.sources.pont.test"},
		})
	}
	build := func(version string) string {
		tgnManifest(version)
		module := filepath.Join(dir, "padro-43148-"+version+".wasm")
		pontExec(t, bin, "adapter", "manifest", "add", "--manifest", manifestFile, "--out", module, program)
		// pont adapter test exits non-zero, failing pontExec, on any case
		// that fails.
		pontExec(t, bin, "adapter", "test", module, "--cases", tarragonaCases(t, dir))
		pontExec(t, bin, "adapter", "sign", "--key", privs[0], module)
		check := pontExec(t, bin, "adapter", "check", "--catalog", catalogDir, module)
		if !strings.Contains(check, "ok   signature: made by owner L01431482's key") || strings.Contains(check, "FAIL") {
			t.Fatalf("pont adapter check:\n%s", check)
		}
		return module
	}
	v1, v2 := build("1.0.0"), build("1.1.0")

	// The deployment: two nodes on one database.
	sources := startSources(t)
	policies, err := filepath.Abs(filepath.Join(repoRoot, "policies"))
	if err != nil {
		t.Fatal(err)
	}
	nodeConfig := func(name string) string {
		cfg := map[string]any{
			"listen": "127.0.0.1:0", "database_url": dbURL, "node": name,
			"data_dir": filepath.Join(dir, name), "modules_dir": modules, "catalog_dir": catalogDir, "policies_dir": policies,
			"cursor_secret":    "publish-test-cursor-secret",
			"issuers":          []any{map[string]any{"issuer": "pont-dev", "audience": "pont", "key_file": filepath.Join(keys, "dev-issuer.jwk")}},
			"source_addresses": map[string]any{".sources.pont.test": sources},
			"transfer_log":     map[string]any{"signing_key_file": logKey + ".key"},
			"log_level":        "info",
		}
		path := filepath.Join(dir, name+".json")
		writeJSON(t, path, cfg)
		return path
	}
	a := &serveProc{name: "node-a", config: nodeConfig("node-a")}
	b := &serveProc{name: "node-b", config: nodeConfig("node-b")}
	a.start(t, bin)
	b.start(t, bin)

	adapter := func(args ...string) (string, error) {
		var stdout, stderr bytes.Buffer
		cmd := exec.Command(bin, append([]string{"adapter"}, args...)...)
		cmd.Env = append(os.Environ(), "PONT_TOKEN="+publisher)
		cmd.Stdout, cmd.Stderr = &stdout, &stderr
		err := cmd.Run()
		return stdout.String() + stderr.String(), err
	}
	mustAdapter := func(args ...string) string {
		t.Helper()
		out, err := adapter(args...)
		if err != nil {
			t.Fatalf("pont adapter %s: %v\n%s", args[0], err, out)
		}
		return out
	}

	// answeredBy asks node for the padró of Tarragona and answers the
	// version of padro-43148 that answered, or what it got instead.
	answeredBy := func(node *serveProc) (string, string) {
		t.Helper()
		status, body := query(t, node.baseURL(), requester, "padro", "12345678Z", map[string]any{"municipality": "43148"}, nil)
		if status != http.StatusOK {
			return "", fmt.Sprintf("%d %v", status, body)
		}
		data, _ := body["data"].(map[string]any)
		if muni, _ := data["municipality"].(map[string]any); muni["name"] != "Tarragona" {
			t.Fatalf("%s: the data %v are not Tarragona's", node.name, data)
		}
		// The record says which adapter and version answered.
		id, _ := body["transfer_id"].(string)
		var rec map[string]any
		if err := json.Unmarshal([]byte(httpGetAuth(t, node.baseURL()+"/v1/audit/transfers/"+id, auditor, http.StatusOK)), &rec); err != nil {
			t.Fatal(err)
		}
		src, _ := body["source"].(map[string]any)
		if rec["adapter"] != "padro-43148" || src["adapter"] != "padro-43148" || src["version"] != rec["adapter_version"] {
			t.Fatalf("%s: answered by %v, recorded as %v %v", node.name, src, rec["adapter"], rec["adapter_version"])
		}
		v, _ := rec["adapter_version"].(string)
		return v, "version " + v
	}
	within := func(node *serveProc, want string) {
		t.Helper()
		deadline := time.Now().Add(time.Second)
		for {
			got, what := answeredBy(node)
			if got == want {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s answers %s a second after the change, want padro-43148 %s", node.name, what, want)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	if status, body := query(t, a.baseURL(), requester, "padro", "12345678Z", map[string]any{"municipality": "43148"}, nil); status != http.StatusUnprocessableEntity || body["code"] != "no_source" {
		t.Fatalf("before publishing, Tarragona's padró: %d %v, want 422 no_source", status, body)
	}

	// Refused, nothing stored.
	outside := filepath.Join(dir, "outside.wasm")
	writeModule(t, outside, v1, func(m *manifest.Manifest) { m.Scope = "08019" }, privs[0], bin)
	tampered := filepath.Join(dir, "tampered.wasm")
	writeModule(t, tampered, v1, func(m *manifest.Manifest) {
		m.AllowedHosts = append(m.AllowedHosts, "https://collector.example")
	}, "", bin)
	otherKey := filepath.Join(dir, "other")
	if err := os.MkdirAll(otherKey, 0o700); err != nil {
		t.Fatal(err)
	}
	pontExec(t, bin, "adapter", "keygen", "--owner", "L01431482", "--out", otherKey)
	others, _ := filepath.Glob(filepath.Join(otherKey, "*.jwk"))
	wrongKey := filepath.Join(dir, "wrong-key.wasm")
	writeModule(t, wrongKey, v1, func(*manifest.Manifest) {}, others[0], bin)
	for _, tt := range []struct{ name, module, want string }{
		{"outside its rights", outside, `may not serve padro at scope "08019"`},
		{"changed after signing", tampered, "the module was changed after it was signed"},
		{"signed by a key the catalog does not list", wrongKey, "is not one of owner L01431482's current keys"},
	} {
		out, err := adapter("publish", "--server", a.baseURL(), tt.module)
		if err == nil || !strings.Contains(out, "module_refused") || !strings.Contains(out, tt.want) {
			t.Errorf("%s: pont adapter publish = %v\n%s\nwant module_refused naming %q", tt.name, err, out, tt.want)
		}
	}
	if out := mustAdapter("list", "--server", a.baseURL()); !strings.Contains(out, "no adapters published") {
		t.Fatalf("after the refusals, pont adapter list:\n%s", out)
	}

	// Published and activated on one node: both answer from it.
	mustAdapter("publish", "--server", a.baseURL(), "--activate", v1)
	within(a, "1.0.0")
	within(b, "1.0.0")
	// The next version, activated on the other node.
	mustAdapter("publish", "--server", b.baseURL(), v2)
	if out, err := adapter("publish", "--server", b.baseURL(), v2); err == nil || !strings.Contains(out, "version_exists") {
		t.Errorf("publishing 1.1.0 twice: %v\n%s", err, out)
	}
	mustAdapter("activate", "--server", b.baseURL(), "padro-43148", "1.1.0")
	within(b, "1.1.0")
	within(a, "1.1.0")
	// Rolled back.
	if out := mustAdapter("rollback", "--server", a.baseURL(), "padro-43148"); !strings.Contains(out, "serves from 1.0.0") {
		t.Errorf("pont adapter rollback said:\n%s", out)
	}
	within(a, "1.0.0")
	within(b, "1.0.0")
	show := mustAdapter("show", "--server", b.baseURL(), "padro-43148")
	for _, want := range []string{"active 1.0.0", "1.1.0", "rollback 1.0.0 by it-tarragona-1"} {
		if !strings.Contains(show, want) {
			t.Errorf("pont adapter show has no %q:\n%s", want, show)
		}
	}
}

// tarragonaCases writes recorded answers of Tarragona's padró for pont
// adapter test: a resident, answered in ISO-8859-1 as old registers do,
// and a subject it does not know.
func tarragonaCases(t *testing.T, dir string) string {
	t.Helper()
	cases := filepath.Join(dir, "cases-43148")
	if _, err := os.Stat(cases); err == nil {
		return cases
	}
	if err := os.MkdirAll(cases, 0o700); err != nil {
		t.Fatal(err)
	}
	query := func(id string) map[string]any {
		return map[string]any{"service": "padro", "purpose": "social-benefits", "requester": "P0801900B", "procedure": "AJUT-MENJADOR",
			"subject": map[string]any{"id_type": "DNI", "id": id}, "params": map[string]any{"municipality": "43148"}}
	}
	record := `{"document":{"tipus":"DNI","numero":"12345678Z"},"provincia":{"codi":"43","nom":"Tarragona"},` +
		`"municipi":{"codi_ine":"43148","nom":"Tarragona"},"entitat_singular":{"codi":"000100","nom":"Tarragona"},` +
		`"nucli":{"codi":"01","nom":"Tarragona"},"domicili":{"codi_via":"000910","tipus_via":"PL","nom_via":"de la Font ` + "\xe0" + ` Uni` + "\xf3" + `",` +
		`"numero":"1","bloc":"","portal":"","escala":"","pis":"","porta":"","codi_postal":"43003"},"data_alta":"01/07/2023"}`
	writeJSON(t, filepath.Join(cases, "found-latin1.json"), map[string]any{
		"description": "A resident, answered in ISO-8859-1: the street name reaches the answer in UTF-8.",
		"query":       query("12345678Z"),
		"source": []any{map[string]any{
			"request": "GET /padro/v1/habitants/12345678Z?municipi=43148", "status": 200,
			"headers":     map[string]string{"Content-Type": "application/json; charset=ISO-8859-1"},
			"body_base64": base64.StdEncoding.EncodeToString([]byte(record)),
		}},
		"expect": map[string]any{"data": map[string]any{
			"province": map[string]any{"code": "43", "name": "Tarragona"}, "municipality": map[string]any{"code": "43148", "name": "Tarragona"},
			"entity":            map[string]any{"singular": map[string]any{"code": "000100", "name": "Tarragona"}, "nucleus": map[string]any{"code": "01", "name": "Tarragona"}},
			"address":           map[string]any{"street_code": "000910", "street_type": "PL", "street_name": "de la Font à Unió", "number": "1", "postcode": "43003"},
			"registration_date": "2023-07-01",
		}},
	})
	writeJSON(t, filepath.Join(cases, "not-found.json"), map[string]any{
		"description": "The register does not know the subject.",
		"query":       query("00000000T"),
		"source": []any{map[string]any{"request": "GET /padro/v1/habitants/00000000T?municipi=43148", "status": 404,
			"body_json": map[string]any{"error": map[string]any{"message": "no consta", "status": 404}}}},
		"expect": map[string]any{"error": "subject_not_found"},
	})
	return cases
}

func readJSON(t *testing.T, path string, v any) {
	t.Helper()
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(raw, v); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
}

func writeJSON(t *testing.T, path string, v any) {
	t.Helper()
	raw, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, raw, 0o600); err != nil {
		t.Fatal(err)
	}
}

// writeModule writes to path the signed module from with its manifest
// changed by change, keeping its signature; then signs it with key when
// key is not empty.
func writeModule(t *testing.T, path, from string, change func(*manifest.Manifest), key, bin string) {
	t.Helper()
	wasm, err := os.ReadFile(from)
	if err != nil {
		t.Fatal(err)
	}
	m, err := manifest.Read(wasm)
	if err != nil {
		t.Fatal(err)
	}
	change(&m)
	if wasm, err = manifest.Embed(wasm, m); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, wasm, 0o644); err != nil {
		t.Fatal(err)
	}
	if key != "" {
		pontExec(t, bin, "adapter", "sign", "--key", key, path)
	}
}

// startSources serves the simulated sources in this process until the
// test ends, and answers their host:port.
func startSources(t *testing.T) string {
	t.Helper()
	ctx, stop := context.WithCancel(context.Background())
	var out, errs testenv.SyncBuffer
	exited := make(chan int, 1)
	go func() { exited <- run(ctx, []string{"dev", "sources", "--listen", "127.0.0.1:0"}, &out, &errs) }()
	t.Cleanup(func() {
		stop()
		if code := <-exited; code != 0 {
			t.Errorf("pont dev sources exited %d:\n%s", code, errs.String())
		}
	})
	return strings.TrimPrefix(waitFor(t, &out, "Simulated sources listening on ", exited, &errs), "http://")
}
