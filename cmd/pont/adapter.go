package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/pontexchange/pont/catalog"
	"github.com/pontexchange/pont/exchange/api/types"
	"github.com/pontexchange/pont/exchange/fault"
	"github.com/pontexchange/pont/exchange/manifest"
	"github.com/pontexchange/pont/exchange/registry"
	"github.com/pontexchange/pont/exchange/signing"
	"github.com/pontexchange/pont/exchange/wasmhost"
)

const adapterUsage = `Usage: pont adapter COMMAND [flags] [arguments]

A data owner's commands, for an adapter in any language (sdk-wasm/ABI.md):

  keygen   --owner ID [--out DIR]                     make the owner's signing key pair
  manifest add --manifest FILE [--out FILE] MODULE    put the manifest into the module
  check    [--catalog DIR] MODULE                     check a module without a broker
  test     MODULE --cases DIR                         run it against recorded source answers
  sign     --key FILE [--out FILE] MODULE             sign it with the owner's key
  publish  --server URL [--token T] [--activate] MODULE
                                                      publish it (a publisher's token)
  list     --server URL [--token T]                   the owner's adapters and versions
  show     --server URL [--token T] NAME              one adapter, with its activations
  activate --server URL [--token T] NAME VERSION      serve from that version, on every node
  rollback --server URL [--token T] NAME              serve again from the version before

  build    [--out DIR]                                build the reference adapters of plugins/

The token defaults to $PONT_TOKEN. Run 'pont adapter COMMAND --help' for its flags.
`

func runAdapter(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		fmt.Fprint(stderr, adapterUsage)
		return errUsage
	}
	commands := map[string]func(context.Context, []string, io.Writer, io.Writer) error{
		"keygen": runAdapterKeygen, "manifest": runAdapterManifest,
		"check": runAdapterCheck, "test": runAdapterTest, "sign": runAdapterSign, "publish": runAdapterPublish,
		"list": runAdapterList, "show": runAdapterShow, "activate": runAdapterActivate, "rollback": runAdapterRollback,
	}
	cmd, ok := commands[args[0]]
	if !ok {
		if args[0] != "help" && args[0] != "-h" && args[0] != "--help" {
			fmt.Fprintf(stderr, "pont adapter: unknown command %q\n\n", args[0])
		}
		fmt.Fprint(stderr, adapterUsage)
		return errUsage
	}
	return cmd(ctx, args[1:], stdout, stderr)
}

// parseOne parses fs and answers its one positional argument, the module.
func parseOne(fs *flag.FlagSet, args []string, what string) (string, error) {
	if err := fs.Parse(interspersed(fs, args)); err != nil {
		return "", errUsage
	}
	if fs.NArg() != 1 {
		fmt.Fprintf(fs.Output(), "%s: give one %s\n", fs.Name(), what)
		fs.Usage()
		return "", errUsage
	}
	return fs.Arg(0), nil
}

// interspersed moves the flags after the positional arguments in front of
// them, so that "pont adapter test module.wasm --cases DIR" reads as its
// usage says.
func interspersed(fs *flag.FlagSet, args []string) []string {
	var flags, rest []string
	for i := 0; i < len(args); i++ {
		a := args[i]
		if a == "--" {
			rest = append(rest, args[i+1:]...)
			break
		}
		if !strings.HasPrefix(a, "-") || a == "-" {
			rest = append(rest, a)
			continue
		}
		flags = append(flags, a)
		name := strings.TrimLeft(a, "-")
		if strings.Contains(name, "=") {
			continue
		}
		if f := fs.Lookup(name); f != nil {
			if bf, ok := f.Value.(interface{ IsBoolFlag() bool }); ok && bf.IsBoolFlag() {
				continue
			}
			if i+1 < len(args) {
				flags = append(flags, args[i+1])
				i++
			}
		}
	}
	return append(flags, rest...)
}

func runAdapterKeygen(_ context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("pont adapter keygen", flag.ContinueOnError)
	fs.SetOutput(stderr)
	owner := fs.String("owner", "", "the data owner's id: its NIF or DIR3 code")
	out := fs.String("out", ".", "directory of the key files")
	if err := fs.Parse(args); err != nil || fs.NArg() > 0 {
		return errUsage
	}
	if err := catalog.ValidOwnerID(*owner); err != nil {
		return fmt.Errorf("--owner: %w", err)
	}
	key, err := signing.GenerateKey()
	if err != nil {
		return err
	}
	priv, err := json.MarshalIndent(key, "", "  ")
	if err != nil {
		return err
	}
	pub, err := signing.PublicJWKS(key)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(*out, 0o700); err != nil {
		return err
	}
	base := filepath.Join(*out, *owner+"-"+key.KeyID()[:8])
	if err := writeNewFile(base+".jwk", string(priv)+"\n", 0o600); err != nil {
		return err
	}
	if err := writeNewFile(base+".pub.jwks", string(pub)+"\n", 0o644); err != nil {
		os.Remove(base + ".jwk")
		return err
	}
	fmt.Fprintf(stdout, "Private key: %s.jwk (keep it to yourself; sign with pont adapter sign --key %s.jwk)\n", base, base)
	fmt.Fprintf(stdout, "Public keys: %s.pub.jwks (kid %s)\n", base, key.KeyID())
	fmt.Fprintf(stdout, "Give the public keys to the broker's operator, for your entry %q in the catalog's owners.json:\n\"keys\": %s\n", *owner, pub)
	return nil
}

func runAdapterManifest(_ context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 || args[0] != "add" {
		fmt.Fprintln(stderr, "usage: pont adapter manifest add --manifest FILE [--out FILE] MODULE")
		return errUsage
	}
	fs := flag.NewFlagSet("pont adapter manifest add", flag.ContinueOnError)
	fs.SetOutput(stderr)
	file := fs.String("manifest", "", "the manifest's JSON file (sdk-wasm/ABI.md, section 6)")
	out := fs.String("out", "", "where to write the module with its manifest (default: in place)")
	path, err := parseOne(fs, args[1:], "module")
	if err != nil {
		return err
	}
	if *file == "" {
		return errors.New("--manifest is required: the manifest's JSON file")
	}
	raw, err := os.ReadFile(*file)
	if err != nil {
		return err
	}
	m, err := manifest.Parse(raw)
	if err != nil {
		return fmt.Errorf("%s: %w", *file, err)
	}
	written, embedded, err := rewriteModule(path, *out, func(wasm []byte) ([]byte, error) {
		if _, err := signing.Read(wasm); err == nil {
			fmt.Fprintln(stderr, "pont adapter manifest add: the module was signed; the signature no longer matches and is removed: sign it again")
		}
		unsigned, err := signing.Strip(wasm)
		if err != nil {
			return nil, err
		}
		return manifest.Embed(unsigned, m)
	})
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "%s: manifest of %s %s added (%d bytes)\n", written, m.Name, m.Version, len(embedded))
	return nil
}

// rewriteModule reads the module at path, changes it with change, and
// writes the result to out, or over path when out is empty. It answers
// where it wrote and what.
func rewriteModule(path, out string, change func([]byte) ([]byte, error)) (string, []byte, error) {
	wasm, err := os.ReadFile(path)
	if err != nil {
		return "", nil, err
	}
	changed, err := change(wasm)
	if err != nil {
		return "", nil, err
	}
	if out == "" {
		out = path
	}
	if err := writeFileAtomic(out, changed, 0o644); err != nil {
		return "", nil, err
	}
	return out, changed, nil
}

func runAdapterSign(_ context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("pont adapter sign", flag.ContinueOnError)
	fs.SetOutput(stderr)
	keyFile := fs.String("key", "", "the owner's private key (a JWK, as pont adapter keygen writes it)")
	out := fs.String("out", "", "where to write the signed module (default: in place)")
	path, err := parseOne(fs, args, "module")
	if err != nil {
		return err
	}
	if *keyFile == "" {
		return errors.New("--key is required: the owner's private key file")
	}
	raw, err := os.ReadFile(*keyFile)
	if err != nil {
		return err
	}
	key, err := signing.ParsePrivateKey(raw)
	if err != nil {
		return fmt.Errorf("%s: %w", *keyFile, err)
	}
	written, signed, err := rewriteModule(path, *out, func(wasm []byte) ([]byte, error) { return signing.Sign(wasm, key) })
	if err != nil {
		return err
	}
	m, _ := manifest.Read(signed)
	sum := sha256.Sum256(signed)
	fmt.Fprintf(stdout, "%s: %s %s of owner %s signed with key %s (module_sha256 of the signed module %x)\n", written, m.Name, m.Version, m.Owner, key.KeyID(), sum)
	return nil
}

func runAdapterCheck(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("pont adapter check", flag.ContinueOnError)
	fs.SetOutput(stderr)
	catalogDir := fs.String("catalog", "", "catalog directory (default: the embedded catalog)")
	path, err := parseOne(fs, args, "module")
	if err != nil {
		return err
	}
	cat, _, err := loadCatalog(*catalogDir)
	if err != nil {
		return err
	}
	wasm, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	report := func(ok bool, format string, a ...any) {
		mark := "ok  "
		if !ok {
			mark = "FAIL"
		}
		fmt.Fprintf(stdout, "%s %s\n", mark, fmt.Sprintf(format, a...))
	}
	failed := 0
	fail := func(format string, a ...any) { failed++; report(false, format, a...) }

	m, err := manifest.Read(wasm)
	if err != nil {
		fail("manifest: %v", strings.TrimPrefix(err.Error(), "manifest: "))
		return fmt.Errorf("%s: 1 check failed", path)
	}
	report(true, "manifest: %s %s of owner %s, services %s, scope %q", m.Name, m.Version, m.Owner, strings.Join(m.Services, ", "), m.Scope)
	if _, err := registry.CheckUnsigned(wasm, cat, 0); err != nil {
		fail("services: %s", faultText(err))
	} else {
		report(true, "services: in the catalog, scope fits their routing keys")
	}
	owner, known := cat.Owners[m.Owner]
	switch {
	case !known:
		fail("owner: %s is not an owner in the catalog (owners.json)", m.Owner)
	default:
		var missing []string
		for _, svc := range m.Services {
			if !owner.MayServe(svc, m.Scope) {
				missing = append(missing, svc)
			}
		}
		if len(missing) > 0 {
			fail("rights: owner %s (%s) may not serve %s at scope %q", m.Owner, owner.Name, strings.Join(missing, ", "), m.Scope)
		} else {
			report(true, "rights: owner %s (%s) may serve them at scope %q", m.Owner, owner.Name, m.Scope)
		}
	}
	sig, sigErr := signing.Read(wasm)
	switch {
	case errors.Is(sigErr, signing.ErrUnsigned):
		fmt.Fprintln(stdout, "note signature: none yet; pont serve refuses an unsigned module (pont adapter sign --key FILE)")
	case sigErr != nil:
		fail("signature: %v", strings.TrimPrefix(sigErr.Error(), "signing: "))
	case !known || len(owner.KeyIDs()) == 0:
		fmt.Fprintf(stdout, "note signature: made with key %s; the catalog has no keys of owner %s to check it against\n", sig.KeyID, m.Owner)
	default:
		if _, err := signing.Verify(wasm, m, owner); err != nil {
			fail("signature: %v", strings.TrimPrefix(err.Error(), "signing: "))
		} else {
			report(true, "signature: made by owner %s's key %s over this module", m.Owner, sig.KeyID)
		}
	}

	host, err := wasmhost.New(ctx, wasmhost.Config{Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		return err
	}
	defer host.Close(ctx)
	config, cerr := registry.SourceConfig(m, cat)
	if cerr != nil {
		fail("config: %v", cerr)
	}
	a, err := host.Load(ctx, wasm, config)
	if err != nil {
		fail("module: %s", strings.TrimPrefix(err.Error(), "wasmhost: "))
	} else {
		defer a.Close(ctx)
		report(true, "module: compiles, exports pont_alloc and pont_handle, imports only pont and wasi_snapshot_preview1, starts")
		l := a.Limits()
		fmt.Fprintf(stdout, "limits: memory %d pages (%d MiB), deadline %s, answer %d bytes, HTTP response %d bytes, pool %d to %d instances, %g log lines/s (burst %d)\n",
			l.MemoryPages, l.MemoryPages/16, l.Timeout, l.MaxAnswerBytes, l.MaxHTTPResponseBytes, l.PoolMin, l.PoolMax, l.LogRate, l.LogBurst)
		var keys []string
		for _, k := range m.Config {
			v, set := config[k]
			switch {
			case !set:
				keys = append(keys, k+" (unset)")
			case m.ConfigDefaults[k] == v:
				keys = append(keys, k+" (the manifest's default)")
			default:
				keys = append(keys, k+" (the catalog's)")
			}
		}
		if len(keys) > 0 {
			fmt.Fprintf(stdout, "config: %s\n", strings.Join(keys, ", "))
		}
	}
	if failed > 0 {
		return fmt.Errorf("%s: %d checks failed", path, failed)
	}
	return nil
}

// faultText answers a fault's fields as one line.
func faultText(err error) string {
	f, ok := fault.As(err)
	if !ok || len(f.Fields) == 0 {
		return err.Error()
	}
	parts := make([]string, 0, len(f.Fields))
	for _, fe := range f.Fields {
		parts = append(parts, fe.Field+": "+fe.Message)
	}
	return strings.Join(parts, "; ")
}

// writeFileAtomic replaces path with data: a crash leaves the old file or
// the new one.
func writeFileAtomic(path string, data []byte, perm os.FileMode) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), ".pont-*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Chmod(perm); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), path)
}

// remote is a broker's adapter API, as a publisher calls it.
type remote struct {
	server, token string
	client        *http.Client
}

func remoteFlags(fs *flag.FlagSet) (server, token *string) {
	server = fs.String("server", "", "the broker's base URL (https://pont.example.org)")
	token = fs.String("token", "", "a publisher's bearer token (default: $PONT_TOKEN)")
	return server, token
}

func newRemote(server, token string) (*remote, error) {
	if server == "" {
		return nil, errors.New("--server is required: the broker's base URL")
	}
	u, err := url.Parse(server)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("--server %q is not an http(s) URL", server)
	}
	if token == "" {
		token = os.Getenv("PONT_TOKEN")
	}
	if token == "" {
		return nil, errors.New("a token is required: --token or $PONT_TOKEN (a publisher's, with your owner id)")
	}
	return &remote{server: strings.TrimSuffix(server, "/"), token: token, client: &http.Client{Timeout: 2 * time.Minute}}, nil
}

// do sends a request and decodes a 2xx answer into out; any other answer
// is an error that quotes the problem's title, detail and fields.
func (r *remote) do(ctx context.Context, method, path, contentType string, body []byte, out any) error {
	req, err := http.NewRequestWithContext(ctx, method, r.server+path, bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", "Bearer "+r.token)
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	resp, err := r.client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, 16<<20))
	if err != nil {
		return err
	}
	if resp.StatusCode/100 != 2 {
		var p struct {
			Code   string `json:"code"`
			Detail string `json:"detail"`
			Errors []struct {
				Field   string `json:"field"`
				Message string `json:"message"`
			} `json:"errors"`
		}
		if json.Unmarshal(raw, &p) != nil || p.Code == "" {
			return fmt.Errorf("%s %s: %s", method, path, resp.Status)
		}
		msg := fmt.Sprintf("%s: %s", p.Code, p.Detail)
		for _, e := range p.Errors {
			msg += fmt.Sprintf("\n  %s: %s", e.Field, e.Message)
		}
		return errors.New(msg)
	}
	if out == nil {
		return nil
	}
	return json.Unmarshal(raw, out)
}

func runAdapterPublish(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("pont adapter publish", flag.ContinueOnError)
	fs.SetOutput(stderr)
	server, token := remoteFlags(fs)
	activate := fs.Bool("activate", false, "activate the version once published")
	path, err := parseOne(fs, args, "signed module")
	if err != nil {
		return err
	}
	r, err := newRemote(*server, *token)
	if err != nil {
		return err
	}
	wasm, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	var v types.AdapterVersionV1
	if err := r.do(ctx, http.MethodPost, "/v1/adapters", "application/wasm", wasm, &v); err != nil {
		return fmt.Errorf("publishing %s: %w", path, err)
	}
	fmt.Fprintf(stdout, "published %s %s (owner %s, %s at scope %q, key %s, module_sha256 %s)\n",
		v.Name, v.Version, v.Owner, strings.Join(v.Services, ", "), v.Scope, v.KeyID, v.ModuleSHA256)
	if *activate {
		return activateRemote(ctx, r, v.Name, v.Version, stdout)
	}
	return nil
}

func activateRemote(ctx context.Context, r *remote, name, version string, stdout io.Writer) error {
	var a types.ActivationV1
	if err := r.do(ctx, http.MethodPost, "/v1/adapters/"+url.PathEscape(name)+"/versions/"+url.PathEscape(version)+"/activate", "", nil, &a); err != nil {
		return fmt.Errorf("activating %s %s: %w", name, version, err)
	}
	fmt.Fprintf(stdout, "activated %s %s at %s: every node serves from it within a second\n", a.Adapter, a.Version, a.At.Format(time.RFC3339))
	return nil
}

func runAdapterActivate(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("pont adapter activate", flag.ContinueOnError)
	fs.SetOutput(stderr)
	server, token := remoteFlags(fs)
	if err := fs.Parse(interspersed(fs, args)); err != nil {
		return errUsage
	}
	if fs.NArg() != 2 {
		fmt.Fprintln(stderr, "usage: pont adapter activate --server URL [--token T] NAME VERSION")
		return errUsage
	}
	r, err := newRemote(*server, *token)
	if err != nil {
		return err
	}
	return activateRemote(ctx, r, fs.Arg(0), fs.Arg(1), stdout)
}

func runAdapterRollback(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("pont adapter rollback", flag.ContinueOnError)
	fs.SetOutput(stderr)
	server, token := remoteFlags(fs)
	name, err := parseOne(fs, args, "adapter name")
	if err != nil {
		return err
	}
	r, err := newRemote(*server, *token)
	if err != nil {
		return err
	}
	var a types.ActivationV1
	if err := r.do(ctx, http.MethodPost, "/v1/adapters/"+url.PathEscape(name)+"/rollback", "", nil, &a); err != nil {
		return fmt.Errorf("rolling %s back: %w", name, err)
	}
	fmt.Fprintf(stdout, "rolled %s back: every node serves from %s within a second\n", a.Adapter, a.Version)
	return nil
}

func runAdapterList(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("pont adapter list", flag.ContinueOnError)
	fs.SetOutput(stderr)
	server, token := remoteFlags(fs)
	if err := fs.Parse(args); err != nil || fs.NArg() > 0 {
		return errUsage
	}
	r, err := newRemote(*server, *token)
	if err != nil {
		return err
	}
	var out struct {
		Adapters []types.AdapterV1 `json:"adapters"`
	}
	if err := r.do(ctx, http.MethodGet, "/v1/adapters", "", nil, &out); err != nil {
		return err
	}
	if len(out.Adapters) == 0 {
		fmt.Fprintln(stdout, "no adapters published")
	}
	for _, a := range out.Adapters {
		printAdapter(stdout, a)
	}
	return nil
}

func runAdapterShow(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("pont adapter show", flag.ContinueOnError)
	fs.SetOutput(stderr)
	server, token := remoteFlags(fs)
	name, err := parseOne(fs, args, "adapter name")
	if err != nil {
		return err
	}
	r, err := newRemote(*server, *token)
	if err != nil {
		return err
	}
	var a types.AdapterV1
	if err := r.do(ctx, http.MethodGet, "/v1/adapters/"+url.PathEscape(name), "", nil, &a); err != nil {
		return err
	}
	printAdapter(stdout, a)
	for _, act := range a.Activations {
		fmt.Fprintf(stdout, "  %s %-8s %s by %s\n", act.At.Format(time.RFC3339), act.Kind, act.Version, act.Actor)
	}
	return nil
}

func printAdapter(w io.Writer, a types.AdapterV1) {
	active := a.Active
	if active == "" {
		active = "none"
	}
	fmt.Fprintf(w, "%s (owner %s): active %s", a.Name, a.Owner, active)
	if a.Loaded != a.Active {
		fmt.Fprintf(w, ", this node serves %q", a.Loaded)
	}
	fmt.Fprintln(w)
	for _, v := range a.Versions {
		mark := " "
		if v.Active {
			mark = "*"
		}
		fmt.Fprintf(w, " %s %-12s %s at %q, published %s by %s, key %s, sha256 %s\n", mark, v.Version,
			strings.Join(v.Services, ","), v.Scope, v.PublishedAt.Format(time.RFC3339), v.PublishedBy, v.KeyID, v.ModuleSHA256[:min(16, len(v.ModuleSHA256))])
	}
}
