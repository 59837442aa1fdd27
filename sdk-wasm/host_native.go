//go:build !wasip1

package sdk

import (
	"errors"
	"fmt"
	"os"
	"sync"
	"sync/atomic"
)

// Host is the broker's side of the ABI for a native run: the test kit
// (sdktest) implements it with real HTTP, so that an adapter's tests exercise
// the same encoding and decoding as in the broker.
type Host interface {
	// Log receives a message of the log import.
	Log(level Level, msg string)
	// HTTPCall carries the http_call import: the request JSON in, the
	// result JSON out (a response or an error object).
	HTTPCall(request []byte) []byte
	// ConfigGet carries the config_get import.
	ConfigGet(key string) (value string, ok bool)
}

var (
	// invokeMu serialises calls, as a Wasm instance does.
	invokeMu sync.Mutex
	// current is the host of the call under way; a handler's own
	// goroutines may read it, hence the atomic.
	current atomic.Pointer[Host]
)

// Invoke runs the registered handler on an input JSON with h as the host and
// returns the answer JSON, exactly as the module's pont_handle would. Calls
// are serialised. A panic of the handler propagates to the caller; in the
// broker it is a trap (adapter_failed).
func Invoke(h Host, input []byte) []byte {
	invokeMu.Lock()
	defer invokeMu.Unlock()
	current.Store(&h)
	defer current.Store(nil)
	return run(input)
}

func host() Host {
	if p := current.Load(); p != nil {
		return *p
	}
	return nil
}

func hostLog(level Level, msg string) {
	if h := host(); h != nil {
		h.Log(level, msg)
		return
	}
	fmt.Fprintf(os.Stderr, "pont adapter log (level %d): %s\n", level, msg)
}

func hostHTTP(request []byte) []byte {
	if h := host(); h != nil {
		return h.HTTPCall(request)
	}
	return errorResult(HTTPBadRequest, errNoHost.Error())
}

func hostConfig(key string) (string, bool) {
	if h := host(); h != nil {
		return h.ConfigGet(key)
	}
	return "", false
}

// errNoHost is the failure of a capability used outside a call.
var errNoHost = errors.New("no host: the capability works only while the adapter answers a call")

func errorResult(code, msg string) []byte {
	b := []byte(`{"error":{"code":`)
	b = appendString(b, code)
	b = append(b, `,"message":`...)
	b = appendString(b, msg)
	return append(b, "}}"...)
}
