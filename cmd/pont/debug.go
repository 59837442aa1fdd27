package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"time"
)

// listenDebug checks addr (the configuration's debug_listen) and listens on
// it. Only a loopback address is taken: the profiles name the code that
// runs, its goroutines and their arguments, and an execution trace slows the
// whole process while it records, so they are for someone on the machine,
// never for the network the API serves.
func listenDebug(addr string) (net.Listener, error) {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, fmt.Errorf("debug_listen: %w", err)
	}
	if ip := net.ParseIP(host); host != "localhost" && (ip == nil || !ip.IsLoopback()) {
		return nil, fmt.Errorf("debug_listen: %q is not a loopback address (127.0.0.1, ::1 or localhost): profiles are for this machine only", addr)
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("debug_listen: %w", err)
	}
	return ln, nil
}

// serveDebug serves the Go runtime's profiles (net/http/pprof, under
// /debug/pprof/) on ln until ctx ends. Its own mux keeps them off every
// other server of the process. The command line is left out: --database
// may carry a password.
func serveDebug(ctx context.Context, ln net.Listener, log *slog.Logger) {
	mux := http.NewServeMux()
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	serveSide(ctx, ln, mux, "profiles", log)
}

// serveSide serves mux on ln, a side listener of the process (profiles,
// metrics), until ctx ends; what stops it otherwise is logged under what.
func serveSide(ctx context.Context, ln net.Listener, mux http.Handler, what string, log *slog.Logger) {
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	go func() {
		<-ctx.Done()
		shut, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer cancel()
		_ = srv.Shutdown(shut)
	}()
	if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
		log.Error(what+" server stopped", slog.String("error", err.Error()))
	}
}
