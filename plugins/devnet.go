package plugins

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"strings"
	"time"
)

// DevNetwork is the simulated source systems served on a loopback port, with
// the HTTP client that reaches them: its dialer sends every
// *.sources.pont.test host there, so adapters call the real-looking hosts
// their manifests name and only the network underneath is simulated.
type DevNetwork struct {
	// Client reaches the simulated sources (and any other host as usual).
	Client *http.Client
	srv    *http.Server
}

// StartDevNetwork serves DevSources on a loopback port until Close.
func StartDevNetwork() (*DevNetwork, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("plugins: simulated sources: %w", err)
	}
	srv := &http.Server{Handler: DevSources(), ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = srv.Serve(ln) }()

	addr := ln.Addr().String()
	dialer := &net.Dialer{Timeout: 5 * time.Second}
	transport := &http.Transport{
		DialContext: func(ctx context.Context, network, hostport string) (net.Conn, error) {
			host, _, err := net.SplitHostPort(hostport)
			if err != nil {
				return nil, err
			}
			if strings.HasSuffix(host, "."+DevSourceDomain) {
				return dialer.DialContext(ctx, network, addr)
			}
			return dialer.DialContext(ctx, network, hostport)
		},
		MaxIdleConnsPerHost: 64,
		IdleConnTimeout:     90 * time.Second,
	}
	return &DevNetwork{Client: &http.Client{Transport: transport, Timeout: 30 * time.Second}, srv: srv}, nil
}

// Close stops the simulated sources.
func (n *DevNetwork) Close() error { return n.srv.Close() }
