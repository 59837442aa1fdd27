// Command baseline is the yardstick of `make bench`: a bare Go HTTP handler
// that takes Pont's query request, calls the same simulated source over
// HTTP as the reference adapter would, and returns the source's JSON — no
// token check, no policy, no Wasm, no transfer log. Pont's throughput is
// reported as a fraction of this one's.
//
// It calls the simulated sources that `pont dev sources` serves at
// --sources, as `pont serve` does under make bench (its source_addresses
// sends *.sources.pont.test there); without --sources it serves them on a
// loopback port of its own. It picks the source from the catalog's sources
// by the service's routing key, as Pont's router does.
//
// Usage: baseline [--addr 127.0.0.1:0] [--sources HOST:PORT]; it prints
// "listening on http://ADDR".
package main

import (
	"context"
	"flag"
	"fmt"
	"log"
	"net"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/pontexchange/pont/catalog"
	"github.com/pontexchange/pont/plugins"
)

func main() {
	addr := flag.String("addr", "127.0.0.1:0", "listen address")
	sources := flag.String("sources", "", "host:port of the simulated sources (pont dev sources); default: serve them here")
	flag.Parse()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, *addr, *sources); err != nil {
		log.Fatalf("baseline: %v", err)
	}
}

func run(ctx context.Context, addr, sourcesAddr string) error {
	cat, err := catalog.Default()
	if err != nil {
		return fmt.Errorf("catalog: %w", err)
	}
	var client *http.Client
	if sourcesAddr != "" {
		client = plugins.DevClient(sourcesAddr)
	} else {
		sources, err := plugins.StartDevNetwork()
		if err != nil {
			return err
		}
		defer sources.Close()
		client = sources.Client
	}
	h, err := newHandler(cat, client)
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("listen: %w", err)
	}
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second}
	go func() {
		<-ctx.Done()
		_ = srv.Close()
	}()
	fmt.Printf("listening on http://%s\n", ln.Addr())
	if err := srv.Serve(ln); err != nil && err != http.ErrServerClosed {
		return fmt.Errorf("serve: %w", err)
	}
	return nil
}
