package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"time"

	"github.com/pontexchange/pont/exchange/auth"
	"github.com/pontexchange/pont/exchange/broker"
)

func runDev(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("pont dev", flag.ContinueOnError)
	fs.SetOutput(stderr)
	addr := fs.String("addr", "127.0.0.1:8080", "listen address")
	data := fs.String("data", "./.pont-dev", "data directory: embedded store, development keys, compilation cache")
	modules := fs.String("modules", defaultModulesDir(), "directory of the adapters' .wasm modules")
	policiesDir := fs.String("policies", "", "directory of Rego policies, reloaded when they change and on SIGHUP (default: the embedded ones)")
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
	b, err := broker.New(ctx, broker.Config{DataDir: *data, Dev: true, ModulesDir: *modules, ExtraModules: extra, PoliciesDir: *policiesDir, Logger: log})
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
	token, err := b.DevIssuer().Mint(auth.Principal{Role: auth.RoleRequester, Org: "P0801900B"}, 12*time.Hour)
	if err != nil {
		return err
	}
	fmt.Fprint(stdout, exampleQuery(ln.Addr().String(), token))
	return b.Serve(ctx, ln)
}

// defaultModulesDir is bin/adapters beside the pont binary, where make build puts them.
func defaultModulesDir() string {
	exe, err := os.Executable()
	if err != nil {
		return "bin/adapters"
	}
	return filepath.Join(filepath.Dir(exe), "adapters")
}

func exampleQuery(addr, token string) string {
	return fmt.Sprintf(`
Pont is running on http://%[1]s (development mode: simulated sources, development tokens).

Ask for the padró of citizen 12345678Z as the Ajuntament de Barcelona (this token is valid for 12 hours):

curl -s -X POST http://%[1]s/v1/services/padro/queries \
  -H 'Authorization: Bearer %[2]s' \
  -H 'Content-Type: application/json' \
  -d '{"procedure":{"code":"DEMO","name":"Demostració"},"purpose":"demo","legal_basis":{"type":"presumed"},"case_id":"EXP-2026-00001","official":{"id":"38000001E","name":"Anna Puig"},"subject":{"id_type":"DNI","id":"12345678Z"},"params":{"municipality":"08019"}}'

More tokens: curl -s -X POST http://%[1]s/dev/token -H 'Accept: text/plain' -H 'Content-Type: application/json' -d '{"role":"auditor","sub":"dpo-1"}'
The API: http://%[1]s/openapi.json   The services: http://%[1]s/v1/catalog/services

`, addr, token)
}
