package broker_test

import (
	"crypto/tls"
	"crypto/x509"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"testing/fstest"

	"github.com/pontexchange/pont/catalog"
	"github.com/pontexchange/pont/exchange/broker"
	"github.com/pontexchange/pont/plugins"
)

func TestNewSourceClientRefusesBadAddresses(t *testing.T) {
	tests := []struct {
		name      string
		addresses map[string]string
		want      string
	}{
		{"a URL", map[string]string{"http://padro.example.org": "127.0.0.1:80"}, `"http://padro.example.org": not a host name`},
		{"a host and port", map[string]string{"padro.example.org:443": "127.0.0.1:80"}, "not a host name"},
		{"an empty name", map[string]string{"": "127.0.0.1:80"}, "not a host name or .domain"},
		{"a lone dot", map[string]string{".": "127.0.0.1:80"}, "not a host name or .domain"},
		{"an empty label", map[string]string{"a..example.org": "127.0.0.1:80"}, "not a host name"},
		{"an IP address", map[string]string{"10.0.0.1": "127.0.0.1:80"}, "an IP address is not a host name"},
		{"a wildcard", map[string]string{"*.example.org": "127.0.0.1:80"}, "not a host name"},
		{"no port", map[string]string{"padro.example.org": "127.0.0.1"}, "missing port"},
		{"no host", map[string]string{"padro.example.org": ":8080"}, "has no host"},
		{"port zero", map[string]string{"padro.example.org": "127.0.0.1:0"}, "the port is not a number from 1 to 65535"},
		{"a named port", map[string]string{"padro.example.org": "127.0.0.1:https"}, "the port is not a number"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := broker.NewSourceClient(tt.addresses)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("NewSourceClient(%v) = %v, want an error containing %q", tt.addresses, err, tt.want)
			}
		})
	}
	for _, ok := range []map[string]string{
		nil,
		{"Padro.Example.ORG.": "127.0.0.1:8443", ".sources.example.org": "sources.internal:8080", "xn--padr-2ra.example": "[::1]:80"},
	} {
		if _, err := broker.NewSourceClient(ok); err != nil {
			t.Errorf("NewSourceClient(%v): %v", ok, err)
		}
	}
}

// namedServer answers its name and the Host header it was asked for.
func namedServer(t *testing.T, name string) *httptest.Server {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, name+" "+r.Host)
	}))
	t.Cleanup(srv.Close)
	return srv
}

func get(t *testing.T, c *http.Client, url string) (string, error) {
	t.Helper()
	resp, err := c.Get(url)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	return string(body), err
}

func TestSourceClientConnectsWhereTheMapSays(t *testing.T) {
	a, b, c := namedServer(t, "a"), namedServer(t, "b"), namedServer(t, "c")
	addr := func(s *httptest.Server) string { return s.Listener.Addr().String() }
	client, err := broker.NewSourceClient(map[string]string{
		"padro.example.test":        addr(a),
		".example.test":             addr(b),
		".girona.example.test.":     addr(c),
		"exact.girona.example.test": addr(a),
	})
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name, url, want string
	}{
		{"an exact host", "http://padro.example.test/x", "a padro.example.test"},
		{"in any case", "http://PADRO.example.test/x", "a PADRO.example.test"},
		{"under a suffix, on any port", "http://titulacions.example.test:9999/x", "b titulacions.example.test:9999"},
		{"under the longer suffix", "http://padro.girona.example.test/x", "c padro.girona.example.test"},
		{"an exact host under a suffix", "http://exact.girona.example.test/x", "a exact.girona.example.test"},
		{"a host not in the map, dialled as it is", b.URL + "/x", "b " + addr(b)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := get(t, client, tt.url)
			if err != nil {
				t.Fatalf("GET %s: %v", tt.url, err)
			}
			if got != tt.want {
				t.Errorf("GET %s reached %q, want %q", tt.url, got, tt.want)
			}
		})
	}
}

// TestSourceClientChecksTheSourcesName: a mapping moves the connection and
// nothing else, so TLS still verifies the certificate against the host the
// adapter named.
func TestSourceClientChecksTheSourcesName(t *testing.T) {
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "tls "+r.TLS.ServerName)
	}))
	t.Cleanup(srv.Close)
	addr := srv.Listener.Addr().String()
	// httptest's certificate names example.com (and loopback addresses).
	client, err := broker.NewSourceClient(map[string]string{"example.com": addr, "impostor.example.org": addr})
	if err != nil {
		t.Fatal(err)
	}
	roots := x509.NewCertPool()
	roots.AddCert(srv.Certificate())
	client.Transport.(*http.Transport).TLSClientConfig = &tls.Config{RootCAs: roots}

	got, err := get(t, client, "https://example.com/")
	if err != nil || got != "tls example.com" {
		t.Errorf("GET https://example.com/: %q %v, want the server, asked for example.com", got, err)
	}
	if got, err := get(t, client, "https://impostor.example.org/"); err == nil || !strings.Contains(err.Error(), "certificate is valid for") {
		t.Errorf("GET https://impostor.example.org/: %q %v, want a certificate refused for another name", got, err)
	}
}

// hostRecorder serves the simulated sources and remembers the hosts asked.
type hostRecorder struct {
	next  http.Handler
	mu    sync.Mutex
	hosts map[string]int
}

func (h *hostRecorder) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	h.mu.Lock()
	h.hosts[r.Host]++
	h.mu.Unlock()
	h.next.ServeHTTP(w, r)
}

func (h *hostRecorder) count(host string) int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.hosts[host]
}

// TestSourceAddressesThroughTheBroker runs a node whose only way to the
// simulated sources is a source address map: the reference adapter reaches
// its source under its own host name, and an adapter configured to call a
// host that the map reaches but its manifest does not allow is refused
// before any connection.
func TestSourceAddressesThroughTheBroker(t *testing.T) {
	rec := &hostRecorder{next: plugins.DevSources(), hosts: map[string]int{}}
	srv := httptest.NewServer(rec)
	t.Cleanup(srv.Close)
	client, err := broker.NewSourceClient(map[string]string{".sources.pont.test": srv.Listener.Addr().String()})
	if err != nil {
		t.Fatal(err)
	}

	n := startDevWith(t, broker.Config{HTTPClient: client})
	status, out, _ := n.do("POST", "/v1/services/padro/queries", n.requester(barcelona), envelope("12345678Z", map[string]any{"municipality": "08019"}))
	if status != http.StatusOK {
		t.Fatalf("query: %d %v", status, out)
	}
	if got := rec.count("padro-08019.sources.pont.test"); got != 1 {
		t.Errorf("the source was asked %d times under its own name, want 1: %v", got, rec.hosts)
	}

	// padro-08019's manifest allows only its own host; point its
	// configuration at Girona's, which the map reaches as well.
	fsys := fstest.MapFS{}
	for _, p := range []string{"purposes.json", "authorisations.json", "owners.json", "services/padro.json", "services/titulacions.json", "services/discapacitat.json", "services/familia-nombrosa.json", "services/prestacions.json"} {
		raw, err := os.ReadFile(filepath.Join("../../catalog", p))
		if err != nil {
			t.Fatal(err)
		}
		if p == "services/padro.json" {
			const own = `"source_url": "http://padro-08019.sources.pont.test"`
			if !strings.Contains(string(raw), own) {
				t.Fatalf("the catalog's padro-08019 no longer has %s", own)
			}
			raw = []byte(strings.Replace(string(raw), own, `"source_url": "http://padro-17079.sources.pont.test"`, 1))
		}
		fsys[p] = &fstest.MapFile{Data: raw}
	}
	cat, err := catalog.Load(fsys)
	if err != nil {
		t.Fatal(err)
	}
	n = startDevWith(t, broker.Config{HTTPClient: client, Catalog: cat})
	status, out, _ = n.do("POST", "/v1/services/padro/queries", n.requester(barcelona), envelope("12345678Z", map[string]any{"municipality": "08019"}))
	if detail, _ := out["detail"].(string); status != http.StatusServiceUnavailable || out["code"] != "source_unavailable" ||
		!strings.Contains(detail, "host_not_allowed") {
		t.Errorf("a call off the manifest's hosts: %d %v, want 503 source_unavailable for host_not_allowed", status, out)
	}
	if got := rec.count("padro-17079.sources.pont.test"); got != 0 {
		t.Errorf("a host the manifest does not allow was called %d times", got)
	}
}
