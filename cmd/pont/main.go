// Command pont is the Pont broker and its tools: one binary for the node
// (serve, dev), for the people around it (adapter, policy, token, keygen)
// and for a transfer log's witnesses (witness).
// It only wires flags to the packages that do the work.
package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"runtime/debug"
	"syscall"

	"github.com/pontexchange/pont/exchange/broker"
)

const usage = `pont — data exchange between public administrations

Usage:
  pont dev     [--addr HOST:PORT] [--data DIR] [--modules DIR] [--catalog DIR] [--policies DIR] [--adapter FILE.wasm]...
                                                                 run everything in one process, for development
  pont dev sources [--listen HOST:PORT]                          serve the simulated sources alone
  pont serve   [--config FILE] [--database URL] [--addr HOST:PORT] run a production node on PostgreSQL
  pont adapter keygen|manifest add|check|test|sign|publish|list|show|activate|rollback|build
                                                                 a data owner's adapters: 'pont adapter help'
  pont audit   search [--subject ...] [--format ...] | show ID   search the transfer log over the API (auditors)
  pont policy test                                               run the Rego tests of the policies
  pont keygen  --name NAME --out PREFIX [--witness]              write a signed-note key pair: a log's, or a witness's
  pont witness [--config FILE] [--listen HOST:PORT] [--key FILE] [--state FILE] [--log ORIGIN=VKEY]...
                                                                 cosign a log's checkpoints (c2sp.org/tlog-witness)
  pont token   --role ROLE [--org ORG] [--sub SUB] [--owner OWNER] [--data DIR]
                                                                 mint a development token

Run 'pont COMMAND --help' for a command's flags.
`

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	os.Exit(run(ctx, os.Args[1:], os.Stdout, os.Stderr))
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return 2
	}
	var err error
	switch args[0] {
	case "dev":
		err = runDev(ctx, args[1:], stdout, stderr)
	case "serve":
		err = runServe(ctx, args[1:], stdout, stderr)
	case "adapter":
		// Building the reference adapters is a development tool (tools.go);
		// a data owner's commands are the rest.
		if len(args) > 1 && args[1] == "build" {
			err = runAdapterBuild(ctx, args[2:], stdout, stderr)
		} else {
			err = runAdapter(ctx, args[1:], stdout, stderr)
		}
	case "audit":
		err = runAudit(ctx, args[1:], stdout, stderr)
	case "policy":
		err = runPolicy(ctx, args[1:], stdout, stderr)
	case "token":
		err = runToken(ctx, args[1:], stdout, stderr)
	case "keygen":
		err = runKeygen(ctx, args[1:], stdout, stderr)
	case "witness":
		err = runWitness(ctx, args[1:], stdout, stderr)
	case "help", "-h", "--help":
		fmt.Fprint(stdout, usage)
		return 0
	default:
		fmt.Fprintf(stderr, "pont: unknown command %q\n\n%s", args[0], usage)
		return 2
	}
	if err != nil {
		if err == errUsage {
			return 2
		}
		fmt.Fprintf(stderr, "pont %s: %v\n", args[0], err)
		return 1
	}
	return 0
}

// errUsage reports a usage error already explained to the user.
var errUsage = fmt.Errorf("usage")

// reloadOnHangup reloads the node's policies on SIGHUP, until ctx is done.
// A refused set is logged by the broker; the serving one stays.
func reloadOnHangup(ctx context.Context, b *broker.Broker, log *slog.Logger) {
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	for {
		select {
		case <-ctx.Done():
			return
		case <-hup:
			if rev, err := b.ReloadPolicies(ctx); err == nil {
				log.Info("policies reloaded on SIGHUP", slog.String("revision", rev))
			} else {
				log.Warn("SIGHUP: policies not reloaded", slog.String("error", err.Error()))
			}
		}
	}
}

func newLogger(w io.Writer, level slog.Level) *slog.Logger {
	return slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: level}))
}

// releaseStartupMemory collects the garbage of starting a node and returns
// it to the kernel. Decoding and compiling the adapters' modules leaves
// about a hundred MiB of it, which the collector would otherwise keep,
// resident, until the heap next doubles past the start's peak. Twice: a
// sync.Pool keeps what it held through one collection (pgx keeps the
// buffers that read the modules out of the store in one), and gives it
// up at the second.
func releaseStartupMemory() {
	debug.FreeOSMemory()
	debug.FreeOSMemory()
}

// defaultModulesDir is bin/adapters beside the pont binary, where make build puts them.
func defaultModulesDir() string {
	exe, err := os.Executable()
	if err != nil {
		return "bin/adapters"
	}
	return filepath.Join(filepath.Dir(exe), "adapters")
}
