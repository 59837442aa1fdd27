package broker

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"time"
)

// sourceCallTimeout bounds one http_call of an adapter end to end, as a
// last resort behind the adapter's own deadline.
const sourceCallTimeout = 10 * time.Second

// NewSourceClient returns the HTTP client that carries adapters' http_call
// (Config.HTTPClient). addresses, which may be empty, maps a host name, or a
// domain suffix written with its leading dot (".sources.example.org": every
// host under it, not the domain itself), to the host:port the connection is
// made to instead of the one DNS gives, like curl's --resolve. An exact host
// wins over a suffix, and a longer suffix over a shorter one. Only the
// connection moves: the URL, the Host header, the TLS server name and the
// certificate check, and the manifest's allowed hosts (checked by the Wasm
// host before any connection) all still use the adapter's host name, and
// every port of a mapped host goes to the one address. Mapped hosts bypass
// any proxy from the environment, since the mapping names where they are.
func NewSourceClient(addresses map[string]string) (*http.Client, error) {
	r, err := newResolver(addresses)
	if err != nil {
		return nil, err
	}
	dialer := &net.Dialer{Timeout: 30 * time.Second, KeepAlive: 30 * time.Second}
	transport := http.DefaultTransport.(*http.Transport).Clone()
	transport.DialContext = func(ctx context.Context, network, hostport string) (net.Conn, error) {
		host, _, err := net.SplitHostPort(hostport)
		if err != nil {
			return nil, fmt.Errorf("broker: dial %s: %w", hostport, err)
		}
		if to, ok := r.lookup(host); ok {
			return dialer.DialContext(ctx, network, to)
		}
		return dialer.DialContext(ctx, network, hostport)
	}
	transport.Proxy = func(req *http.Request) (*url.URL, error) {
		if _, ok := r.lookup(req.URL.Hostname()); ok {
			return nil, nil
		}
		return http.ProxyFromEnvironment(req)
	}
	// An adapter's pool calls its source concurrently: with Go's default
	// of two idle connections a host, every call beyond the second under
	// load would open (and soon close) a connection of its own.
	transport.MaxIdleConnsPerHost = 64
	// Nor may a cap on all hosts together undo that: the default transport
	// keeps 100 idle connections in all, fewer than a node with nine
	// source hosts keeps busy under load, so connections were closed and
	// dialled again on every burst. The hosts are the manifests' few, so
	// the per-host cap bounds the total.
	transport.MaxIdleConns = 0
	return &http.Client{Transport: transport, Timeout: sourceCallTimeout}, nil
}

// resolver is NewSourceClient's address map, validated.
type resolver struct {
	hosts    map[string]string
	suffixes []suffixAddr // longest first
}

type suffixAddr struct{ suffix, addr string }

func newResolver(addresses map[string]string) (*resolver, error) {
	r := &resolver{hosts: map[string]string{}}
	var errs []error
	for key, addr := range addresses {
		name := strings.ToLower(strings.TrimSuffix(key, "."))
		suffix := strings.HasPrefix(name, ".")
		if err := checkHostName(strings.TrimPrefix(name, ".")); err != nil {
			errs = append(errs, fmt.Errorf("broker: source address %q: %w", key, err))
			continue
		}
		if err := checkDialAddress(addr); err != nil {
			errs = append(errs, fmt.Errorf("broker: source address %q: %w", key, err))
			continue
		}
		if suffix {
			r.suffixes = append(r.suffixes, suffixAddr{name, addr})
		} else {
			r.hosts[name] = addr
		}
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	sort.Slice(r.suffixes, func(i, j int) bool {
		if a, b := len(r.suffixes[i].suffix), len(r.suffixes[j].suffix); a != b {
			return a > b
		}
		return r.suffixes[i].suffix < r.suffixes[j].suffix
	})
	return r, nil
}

// lookup answers where to connect for host, if the map names it.
func (r *resolver) lookup(host string) (string, bool) {
	host = strings.ToLower(strings.TrimSuffix(host, "."))
	if addr, ok := r.hosts[host]; ok {
		return addr, true
	}
	for _, s := range r.suffixes {
		if strings.HasSuffix(host, s.suffix) {
			return s.addr, true
		}
	}
	return "", false
}

// checkHostName accepts a DNS host name (letters, digits, hyphens, dots):
// not a URL, not a host:port, not an IP address, whose connection needs
// no redirecting.
func checkHostName(name string) error {
	if name == "" {
		return errors.New("not a host name or .domain")
	}
	if net.ParseIP(name) != nil {
		return errors.New("an IP address is not a host name: it is dialled as it is")
	}
	for _, label := range strings.Split(name, ".") {
		if label == "" || len(label) > 63 || label[0] == '-' || label[len(label)-1] == '-' {
			return errors.New("not a host name or .domain (give the name alone, without scheme or port)")
		}
		for _, c := range label {
			if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-') {
				return errors.New("not a host name or .domain (give the name alone, without scheme or port)")
			}
		}
	}
	return nil
}

// checkDialAddress accepts host:port with a port from 1 to 65535.
func checkDialAddress(addr string) error {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("the address: %w", err)
	}
	if host == "" {
		return fmt.Errorf("the address %q has no host", addr)
	}
	if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 {
		return fmt.Errorf("the address %q: the port is not a number from 1 to 65535", addr)
	}
	return nil
}
