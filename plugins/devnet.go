package plugins

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"strings"
	"time"
)

// DevNetwork is the simulated source systems served on one TCP address, with
// an HTTP client that reaches them: its dialer sends every
// *.sources.pont.test host there, so a caller uses the real-looking hosts
// that the manifests name and only the network underneath is simulated.
type DevNetwork struct {
	// Addr is the host:port the simulated sources listen on: what a node's
	// source_addresses maps ".sources.pont.test" to.
	Addr string
	// Client reaches the simulated sources (and any other host as usual).
	Client *http.Client
	srv    *http.Server
}

// StartDevNetwork serves DevSources on a free loopback port until Close.
func StartDevNetwork() (*DevNetwork, error) { return ListenDevNetwork("127.0.0.1:0") }

// ListenDevNetwork serves DevSources on addr (host:port; port 0 picks a free
// one) until Close.
func ListenDevNetwork(addr string) (*DevNetwork, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("plugins: simulated sources: %w", err)
	}
	srv := &http.Server{Handler: DevSources(), ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = srv.Serve(ln) }()
	bound := ln.Addr().String()
	return &DevNetwork{Addr: bound, Client: DevClient(bound), srv: srv}, nil
}

// DevClient is an HTTP client that connects to addr for every
// *.sources.pont.test host and to any other host as usual: it reaches
// simulated sources served elsewhere (pont dev sources) by their
// real-looking names.
func DevClient(addr string) *http.Client {
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
	return &http.Client{Transport: transport, Timeout: 30 * time.Second}
}

// Close stops the simulated sources.
func (n *DevNetwork) Close() error { return n.srv.Close() }
