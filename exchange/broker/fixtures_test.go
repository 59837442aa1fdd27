package broker_test

import (
	"errors"
	"fmt"
	"os/exec"
	"slices"
	"strings"
	"testing"
)

// TestBrokerCarriesNoFixtures: this package assembles production nodes, so
// nothing it builds with (its tests aside) may be a development fixture: a
// reference adapter's package, a simulated source, or the embedded store.
func TestBrokerCarriesNoFixtures(t *testing.T) {
	const module = "github.com/pontexchange/pont"
	out, err := exec.Command("go", "list", "-deps", ".").Output()
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		err = fmt.Errorf("%w: %s", err, ee.Stderr)
	}
	if err != nil {
		t.Fatalf("go list -deps: %v", err)
	}
	deps := strings.Fields(string(out))
	for _, want := range []string{module + "/exchange/broker", module + "/exchange/wasmhost", module + "/exchange/store"} {
		if !slices.Contains(deps, want) {
			t.Fatalf("go list -deps does not name %s: not the broker's list\n%s", want, out)
		}
	}
	for _, p := range deps {
		if p == module+"/plugins" || strings.HasPrefix(p, module+"/plugins/") || p == module+"/exchange/store/sqlite" {
			t.Errorf("exchange/broker depends on the development fixture %s", p)
		}
	}
}
