package manifest

import (
	"bytes"
	"errors"
	"net/url"
	"strings"
	"testing"

	"github.com/pontexchange/pont/exchange/internal/wasmbin"
)

// emptyModule is the smallest valid module: the header alone.
var emptyModule = []byte{0x00, 'a', 's', 'm', 0x01, 0x00, 0x00, 0x00}

// withType is a module with one type section (func () -> ()), so Embed has a
// non-custom section to keep in place.
var withType = append(append([]byte{}, emptyModule...), 0x01, 0x04, 0x01, 0x60, 0x00, 0x00)

func good() Manifest {
	return Manifest{
		ABI: 1, Name: "padro-08019", Version: "1.0.0", Owner: "L01080193",
		Services: []string{"padro"}, Scope: "08019",
		AllowedHosts: []string{"http://padro-08019.sources.pont.test"},
		Config:       []string{"source_url"},
		Limits:       Limits{MemoryPages: 512, TimeoutMS: 2000, MaxAnswerBytes: 1 << 20},
	}
}

func TestEmbedRead(t *testing.T) {
	for name, base := range map[string][]byte{"empty": emptyModule, "with type section": withType} {
		t.Run(name, func(t *testing.T) {
			wasm, err := Embed(base, good())
			if err != nil {
				t.Fatalf("Embed: %v", err)
			}
			if !bytes.HasPrefix(wasm, base) {
				t.Errorf("Embed changed the sections before the manifest")
			}
			got, err := Read(wasm)
			if err != nil {
				t.Fatalf("Read: %v", err)
			}
			if got.Name != "padro-08019" || got.Scope != "08019" || got.Limits.TimeoutMS != 2000 || len(got.AllowedHosts) != 1 {
				t.Errorf("Read = %+v, want the embedded manifest", got)
			}

			// Embedding again replaces the section instead of adding one.
			m2 := good()
			m2.Version = "2.0.0"
			again, err := Embed(wasm, m2)
			if err != nil {
				t.Fatalf("Embed again: %v", err)
			}
			got, err = Read(again)
			if err != nil {
				t.Fatalf("Read after re-embed: %v", err)
			}
			if got.Version != "2.0.0" {
				t.Errorf("version = %q, want 2.0.0", got.Version)
			}
			if n := bytes.Count(again, []byte(SectionName)); n != 1 {
				t.Errorf("%d manifest sections after re-embed, want 1", n)
			}
		})
	}
}

func TestReadErrors(t *testing.T) {
	twice, err := Embed(emptyModule, good())
	if err != nil {
		t.Fatal(err)
	}
	sec := twice[len(emptyModule):]
	twice = append(twice, sec...)

	custom := func(payload string) []byte {
		body := append(wasmbin.AppendName(nil, SectionName), payload...)
		return wasmbin.AppendSection(append([]byte{}, emptyModule...), wasmbin.CustomID, body)
	}

	tests := []struct {
		name string
		wasm []byte
		want string
	}{
		{"text", []byte("hello, world"), "not a WebAssembly module"},
		{"empty", nil, "not a WebAssembly module"},
		{"component", []byte{0, 'a', 's', 'm', 0x0d, 0, 1, 0}, "binary version"},
		{"truncated section", append(append([]byte{}, emptyModule...), 0x01, 0x10, 0x01), "runs past the end"},
		{"no manifest", withType, "no pont.manifest"},
		{"two manifests", twice, "2 pont.manifest sections"},
		{"bad json", custom(`{"abi":`), "not valid manifest JSON"},
		{"unknown field", custom(`{"abi":1,"name":"a","version":"1","services":["s"],"scope":"*","allowed_host":["http://x"]}`), "allowed_host"},
		{"abi 2", custom(`{"abi":2,"name":"a","version":"1","services":["s"],"scope":"*"}`), "abi: is 2"},
		{"missing fields", custom(`{"abi":1}`), "name: is empty"},
		{"no services", custom(`{"abi":1,"name":"a","version":"1","scope":"*"}`), "services: is empty"},
		{"bad host", custom(`{"abi":1,"name":"a","version":"1","services":["s"],"scope":"*","allowed_hosts":["http://x/path"]}`), "allowed_hosts[0]"},
		{"ftp host", custom(`{"abi":1,"name":"a","version":"1","services":["s"],"scope":"*","allowed_hosts":["ftp://x"]}`), "http or https"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Read(tt.wasm)
			if err == nil {
				t.Fatalf("Read succeeded, want an error containing %q", tt.want)
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error = %q, want it to contain %q", err, tt.want)
			}
		})
	}
	if _, err := Read([]byte("nope")); !errors.Is(err, ErrNotWasm) {
		t.Errorf("Read(text) = %v, want ErrNotWasm", err)
	}
	if _, err := Read(withType); !errors.Is(err, ErrNoManifest) {
		t.Errorf("Read(no manifest) = %v, want ErrNoManifest", err)
	}
}

func TestValidate(t *testing.T) {
	tests := []struct {
		name   string
		change func(*Manifest)
		want   string // "" means valid
	}{
		{"good", func(*Manifest) {}, ""},
		{"all scopes", func(m *Manifest) { m.Scope = "*" }, ""},
		{"no limits", func(m *Manifest) { m.Limits = Limits{} }, ""},
		{"https with port", func(m *Manifest) { m.AllowedHosts = []string{"https://Source.Example:8443"} }, ""},
		{"empty scope", func(m *Manifest) { m.Scope = "" }, "scope"},
		{"empty version", func(m *Manifest) { m.Version = " " }, "version"},
		{"bad name", func(m *Manifest) { m.Name = "padró 1" }, "name"},
		{"empty service", func(m *Manifest) { m.Services = []string{""} }, "services[0]"},
		{"host with user", func(m *Manifest) { m.AllowedHosts = []string{"http://u:p@x"} }, "allowed_hosts[0]"},
		{"host without scheme", func(m *Manifest) { m.AllowedHosts = []string{"example.org"} }, "allowed_hosts[0]"},
		{"host bad port", func(m *Manifest) { m.AllowedHosts = []string{"http://x:70000"} }, "port"},
		{"duplicate config", func(m *Manifest) { m.Config = []string{"a", "a"} }, `config[1]: "a" is declared twice`},
		{"config default", func(m *Manifest) {
			m.Config = []string{"source_url"}
			m.ConfigDefaults = map[string]string{"source_url": "https://padro.tarragona.example/api"}
		}, ""},
		{"undeclared config default", func(m *Manifest) { m.ConfigDefaults = map[string]string{"api_key": "x"} }, "config_defaults.api_key: the key is not declared"},
		{"negative timeout", func(m *Manifest) { m.Limits.TimeoutMS = -1 }, "timeout_ms"},
		{"huge memory", func(m *Manifest) { m.Limits.MemoryPages = 70000 }, "memory_pages"},
		{"negative pool", func(m *Manifest) { m.Limits.PoolMax = -1 }, "pool_max"},
		{"pool min over max", func(m *Manifest) { m.Limits.PoolMin, m.Limits.PoolMax = 5, 2 }, "pool_min"},
		{"pool sizes", func(m *Manifest) { m.Limits.PoolMin, m.Limits.PoolMax = 2, 8 }, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := good()
			tt.change(&m)
			err := m.Validate()
			switch {
			case tt.want == "" && err != nil:
				t.Errorf("Validate = %v, want nil", err)
			case tt.want != "" && err == nil:
				t.Errorf("Validate = nil, want an error containing %q", tt.want)
			case tt.want != "" && !strings.Contains(err.Error(), tt.want):
				t.Errorf("Validate = %q, want it to contain %q", err, tt.want)
			}
		})
	}
}

func TestValidateNamesEveryProblem(t *testing.T) {
	err := Manifest{ABI: 3}.Validate()
	if err == nil {
		t.Fatal("Validate of an empty manifest succeeded")
	}
	for _, want := range []string{"abi", "name", "version", "services", "scope"} {
		if !strings.Contains(err.Error(), want+":") {
			t.Errorf("error %q does not name %s", err, want)
		}
	}
}

func TestOrigin(t *testing.T) {
	tests := []struct{ in, want string }{
		{"http://Example.ORG", "http://example.org:80"},
		{"https://example.org/a/b?c", "https://example.org:443"},
		{"http://127.0.0.1:8080/x", "http://127.0.0.1:8080"},
		{"http://[::1]:9/", "http://[::1]:9"},
		{"HTTP://x:080", "http://x:80"},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			u, err := url.Parse(tt.in)
			if err != nil {
				t.Fatal(err)
			}
			got, err := Origin(u)
			if err != nil || got != tt.want {
				t.Errorf("Origin(%q) = %q, %v; want %q", tt.in, got, err, tt.want)
			}
		})
	}
	for _, in := range []string{"file:///etc/passwd", "http://", "gopher://x"} {
		u, _ := url.Parse(in)
		if got, err := Origin(u); err == nil {
			t.Errorf("Origin(%q) = %q, want an error", in, got)
		}
	}
}

func TestDeclares(t *testing.T) {
	m := good()
	if !m.Declares("source_url") || m.Declares("password") {
		t.Errorf("Declares: source_url=%v password=%v, want true false", m.Declares("source_url"), m.Declares("password"))
	}
}

func FuzzRead(f *testing.F) {
	seed, err := Embed(withType, good())
	if err != nil {
		f.Fatal(err)
	}
	f.Add(seed)
	f.Add(emptyModule)
	f.Add([]byte("hello"))
	f.Add(append(append([]byte{}, emptyModule...), 0, 0x80, 0x80, 0x80, 0x80, 0x10))
	f.Fuzz(func(t *testing.T, wasm []byte) {
		m, err := Read(wasm)
		if err != nil {
			return
		}
		// Whatever Read accepts is valid and survives a round trip.
		if err := m.Validate(); err != nil {
			t.Fatalf("Read returned an invalid manifest: %v", err)
		}
		again, err := Embed(wasm, m)
		if err != nil {
			t.Fatalf("Embed of a readable module: %v", err)
		}
		m2, err := Read(again)
		if err != nil {
			t.Fatalf("Read after Embed: %v", err)
		}
		if m2.Name != m.Name || m2.Version != m.Version || m2.Scope != m.Scope {
			t.Fatalf("round trip changed the manifest: %+v -> %+v", m, m2)
		}
	})
}

func TestStrip(t *testing.T) {
	a, err := Embed(withType, good())
	if err != nil {
		t.Fatal(err)
	}
	m := good()
	m.Name, m.Scope = "padro-17079", "17079"
	b, err := Embed(withType, m)
	if err != nil {
		t.Fatal(err)
	}
	sa, err := Strip(a)
	if err != nil {
		t.Fatalf("Strip: %v", err)
	}
	sb, err := Strip(b)
	if err != nil {
		t.Fatalf("Strip: %v", err)
	}
	if !bytes.Equal(sa, withType) || !bytes.Equal(sb, withType) {
		t.Errorf("Strip = %x and %x, want the module without its manifest %x", sa, sb, withType)
	}
	if _, err := Read(sa); !errors.Is(err, ErrNoManifest) {
		t.Errorf("Read(Strip(m)) = %v, want ErrNoManifest", err)
	}
	if got, err := Strip(withType); err != nil || !bytes.Equal(got, withType) {
		t.Errorf("Strip of a module with no manifest = %x, %v; want it unchanged", got, err)
	}
	if _, err := Strip([]byte("not wasm")); !errors.Is(err, ErrNotWasm) {
		t.Errorf("Strip(not wasm) = %v, want ErrNotWasm", err)
	}
}
