package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"time"

	"github.com/pontexchange/pont/catalog"
	"github.com/pontexchange/pont/exchange/auth"
	"github.com/pontexchange/pont/exchange/broker"
	"github.com/pontexchange/pont/exchange/store/sqlite"
	"github.com/pontexchange/pont/plugins"
)

// This file and tools.go are the only ones of the command that may use the
// development fixtures (the simulated sources, the embedded store):
// TestServeCarriesNoFixtures keeps pont serve's code clear of them.

func runDev(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) > 0 && args[0] == "sources" {
		return runDevSources(ctx, args[1:], stdout, stderr)
	}
	if len(args) > 0 && args[0] == "deploy" {
		return runDevDeploy(ctx, args[1:], stdout, stderr)
	}
	fs := flag.NewFlagSet("pont dev", flag.ContinueOnError)
	fs.SetOutput(stderr)
	addr := fs.String("addr", "127.0.0.1:8080", "listen address")
	data := fs.String("data", "./.pont-dev", "data directory: embedded store, development keys, compilation cache")
	modules := fs.String("modules", defaultModulesDir(), "directory of the adapters' .wasm modules")
	policiesDir := fs.String("policies", "", "directory of Rego policies, reloaded when they change and on SIGHUP (default: the embedded ones)")
	catalogDir := fs.String("catalog", "", "catalog directory (default: the embedded one); owners without keys in its owners.json get development keys")
	var extra []string
	fs.Func("adapter", "an extra adapter `module` (.wasm, repeatable): it takes over the service and scope its manifest names; unsigned, so development mode only", func(path string) error {
		if path == "" {
			return errors.New("empty path")
		}
		extra = append(extra, path)
		return nil
	})
	verbose := fs.Bool("v", false, "log every request")
	if err := fs.Parse(args); err != nil {
		return errUsage
	}
	level := slog.LevelInfo
	if *verbose {
		level = slog.LevelDebug
	}
	log := newLogger(stderr, level)

	start := time.Now()
	var cat *catalog.Catalog
	if *catalogDir != "" {
		var err error
		if cat, err = catalog.Load(os.DirFS(*catalogDir)); err != nil {
			return fmt.Errorf("catalog %s: %w", *catalogDir, err)
		}
	}
	parts, err := openDevParts(ctx, *data)
	if err != nil {
		return err
	}
	defer parts.close()
	b, err := broker.New(ctx, broker.Config{
		DataDir: *data, Store: parts.store, HTTPClient: parts.client, DevIssuer: parts.issuer,
		ModulesDir: *modules, UnsignedModules: extra, PoliciesDir: *policiesDir, Catalog: cat, Logger: log,
	})
	if err != nil {
		return err
	}
	defer b.Close(context.WithoutCancel(ctx))
	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		return fmt.Errorf("listen: %w", err)
	}
	go reloadOnHangup(ctx, b, log)
	go releaseStartupMemory()
	log.Info("pont dev ready", slog.String("addr", ln.Addr().String()), slog.Duration("start", time.Since(start)), slog.Any("adapters", b.Adapters()))
	token, err := parts.issuer.Mint(auth.Principal{Role: auth.RoleRequester, Org: "P0801900B"}, 12*time.Hour)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "The pages: open http://%s/ and sign in as a fixture citizen (Anna Puig Soler), the auditor or a data owner (docs/web.md).\n\n", ln.Addr().String())
	fmt.Fprint(stdout, exampleQuery(ln.Addr().String(), token, filepath.Join(*data, "log.vkey")))
	fmt.Fprintf(stdout, "The SCSP v3 door (docs/scsp.md): sign the residence request of the Ajuntament de Barcelona with xmlsec1 and send it:\n\n%s\n",
		broker.DevSCSPCommands(*data, "http://"+ln.Addr().String()))
	return b.Serve(ctx, ln)
}

// devParts are what a development node has that a production one does
// not: the embedded store, the simulated sources of the reference adapters
// with the client that reaches them under their own host names, and the
// development token issuer.
type devParts struct {
	store  *sqlite.Store
	devnet *plugins.DevNetwork
	client *http.Client
	issuer *auth.DevIssuer
}

// openDevParts opens the development parts with their files in dataDir.
// The store passes to the broker, which closes it; close stops the sources.
func openDevParts(ctx context.Context, dataDir string) (p *devParts, err error) {
	if err := os.MkdirAll(dataDir, 0o700); err != nil {
		return nil, fmt.Errorf("data directory: %w", err)
	}
	p = &devParts{}
	if p.issuer, err = auth.NewDevIssuer(dataDir); err != nil {
		return nil, fmt.Errorf("development issuer: %w", err)
	}
	if p.devnet, err = plugins.StartDevNetwork(); err != nil {
		return nil, err
	}
	// The node reaches the simulated sources the way pont serve reaches any
	// source with source_addresses, so that development runs that code.
	if p.client, err = broker.NewSourceClient(map[string]string{"." + plugins.DevSourceDomain: p.devnet.Addr}); err != nil {
		_ = p.devnet.Close()
		return nil, err
	}
	if p.store, err = sqlite.New(ctx, sqlite.Config{Path: filepath.Join(dataDir, "pont.db")}); err != nil {
		_ = p.devnet.Close()
		return nil, fmt.Errorf("embedded store: %w", err)
	}
	return p, nil
}

// close stops the simulated sources.
func (p *devParts) close() { _ = p.devnet.Close() }

// runDevSources serves the simulated sources alone, for a node configured
// with source_addresses (make bench runs pont serve so), until ctx is done.
func runDevSources(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("pont dev sources", flag.ContinueOnError)
	fs.SetOutput(stderr)
	listen := fs.String("listen", "127.0.0.1:8090", "listen address (port 0: a free one, printed)")
	if err := fs.Parse(args); err != nil {
		return errUsage
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "pont dev sources: unexpected argument %q\n", fs.Arg(0))
		return errUsage
	}
	devnet, err := plugins.ListenDevNetwork(*listen)
	if err != nil {
		return err
	}
	defer devnet.Close()
	fmt.Fprintf(stdout, "Simulated sources listening on http://%s\n", devnet.Addr)
	fmt.Fprintf(stdout, "A node reaches them with \"source_addresses\": {\".%s\": \"%s\"}\n", plugins.DevSourceDomain, devnet.Addr)
	<-ctx.Done()
	return nil
}

// runDevDeploy writes what a production node needs to serve the
// reference adapters: owner keys of its making, a catalog that holds their
// public halves, and the modules signed with them.
func runDevDeploy(_ context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("pont dev deploy", flag.ContinueOnError)
	fs.SetOutput(stderr)
	out := fs.String("out", ".pont-dev/deploy", "directory to write (it must not exist)")
	modules := fs.String("modules", defaultModulesDir(), "directory of the modules to sign (make build's)")
	if err := fs.Parse(args); err != nil || fs.NArg() > 0 {
		return errUsage
	}
	if _, err := os.Stat(*out); err == nil {
		return fmt.Errorf("%s exists: pont dev deploy writes a new directory (remove it first)", *out)
	}
	d, err := plugins.Deploy(*out, *modules)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "catalog_dir: %s (owners.json holds a development key of each owner)\nmodules_dir: %s (the reference adapters, signed)\nowners' private keys: %s\n", d.CatalogDir, d.ModulesDir, d.KeysDir)
	return nil
}

func exampleQuery(addr, token, logKey string) string {
	return fmt.Sprintf(`
Pont is running on http://%[1]s (development mode: simulated sources, development tokens).

Ask for the padró of citizen 12345678Z as the Ajuntament de Barcelona (this token is valid for 12 hours):

curl -s -X POST http://%[1]s/v1/services/padro/queries \
  -H 'Authorization: Bearer %[2]s' \
  -H 'Content-Type: application/json' \
  -d '{"procedure":{"code":"DEMO","name":"Demostració"},"purpose":"demo","legal_basis":{"type":"presumed"},"case_id":"EXP-2026-00001","official":{"id":"38000001E","name":"Anna Puig"},"subject":{"id_type":"DNI","id":"12345678Z"},"params":{"municipality":"08019"}}'

The answer ends with a receipt; a second later its proof is at
http://%[1]s/v1/audit/proofs/inclusion?transfer_id=ID (same token).
Check the whole transfer log against its key (%[3]s):
  bin/pont audit verify --server http://%[1]s --log-key %[3]s --token "$(curl -s -X POST http://%[1]s/dev/token -H 'Accept: text/plain' -H 'Content-Type: application/json' -d '{"role":"auditor","sub":"dpo-1"}')"

Many subjects at once: the same envelope with "subjects":[{"subject":{…}},…] instead of "subject"
answers up to 25 on /queries, and up to 1,000 as a job on http://%[1]s/v1/services/padro/jobs
(202 at once; GET the Location it answers until "state" is "0003"; docs/jobs.md).

More tokens: curl -s -X POST http://%[1]s/dev/token -H 'Accept: text/plain' -H 'Content-Type: application/json' -d '{"role":"auditor","sub":"dpo-1"}'
The API: http://%[1]s/openapi.json   The services: http://%[1]s/v1/catalog/services

`, addr, token, logKey)
}
