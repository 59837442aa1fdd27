package catalog

import (
	"net/url"
	"testing"
)

func TestCallbackAllowed(t *testing.T) {
	bases := []string{"https://tramits.example.cat/pont/", "http://127.0.0.1:9000/hooks/"}
	for _, c := range []struct {
		url  string
		want bool
	}{
		{"https://tramits.example.cat/pont/jobs", true},
		{"https://tramits.example.cat/pont/", true},
		{"https://TRAMITS.example.cat/pont/jobs?x=1", true},
		{"http://127.0.0.1:9000/hooks/a", true},
		{"https://tramits.example.cat/pontevil", false},           // not under the base's path
		{"https://tramits.example.cat/other/", false},             // another path
		{"http://tramits.example.cat/pont/jobs", false},           // another scheme
		{"https://tramits.example.cat:8443/pont/jobs", false},     // another port
		{"https://tramits.example.cat.evil.example/pont/", false}, // another host
		{"https://evil.example/pont/", false},                     // another host
		{"https://tramits.example.cat@evil.example/pont/", false}, // credentials naming the allowed host
		{"https://tramits.example.cat/pont/../admin", false},      // climbing out
		{"https://tramits.example.cat/pont/%2e%2e/admin", false},  // climbing out, encoded
		{"https://tramits.example.cat/pont%2f..%2fadmin", false},  // a slash encoded
		{"https://tramits.example.cat/pont/x#frag", false},        // a fragment
		{"http://127.0.0.1:9001/hooks/a", false},                  // another port on loopback
		{"http://169.254.169.254/latest/meta-data/", false},       // the metadata service
	} {
		u, err := url.Parse(c.url)
		if err != nil {
			t.Fatalf("%s: %v", c.url, err)
		}
		if got := CallbackAllowed(bases, u); got != c.want {
			t.Errorf("CallbackAllowed(%s) = %v, want %v", c.url, got, c.want)
		}
	}
}

func TestCheckCallbackBase(t *testing.T) {
	for _, c := range []struct {
		base string
		ok   bool
	}{
		{"https://tramits.example.cat/pont/", true},
		{"http://localhost:9000/", true},
		{"http://tramits.example.cat/pont/", false}, // http off loopback
		{"https://tramits.example.cat/pont", false}, // no trailing slash: /pont would allow /pontevil
		{"https://user:pw@tramits.example.cat/", false},
		{"https://tramits.example.cat/?a=b", false},
		{"/pont/", false},
		{"ftp://tramits.example.cat/", false},
	} {
		if err := checkCallbackBase(c.base); (err == nil) != c.ok {
			t.Errorf("checkCallbackBase(%s) = %v, want ok %v", c.base, err, c.ok)
		}
	}
}
