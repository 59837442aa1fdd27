package main

import (
	"strings"
	"testing"
)

func TestListenDebugTakesOnlyLoopback(t *testing.T) {
	for _, c := range []struct {
		addr string
		want string // "" when it listens
	}{
		{"127.0.0.1:0", ""},
		{"localhost:0", ""},
		{"[::1]:0", ""},
		{":6060", `debug_listen: ":6060" is not a loopback address`},
		{"0.0.0.0:6060", `debug_listen: "0.0.0.0:6060" is not a loopback address`},
		{"192.0.2.7:6060", `debug_listen: "192.0.2.7:6060" is not a loopback address`},
		{"pont.example:6060", `debug_listen: "pont.example:6060" is not a loopback address`},
		{"127.0.0.1", "debug_listen: address 127.0.0.1: missing port in address"},
	} {
		ln, err := listenDebug(c.addr)
		if c.want == "" {
			if err != nil {
				if strings.Contains(err.Error(), "cannot assign requested address") {
					continue // a machine without that loopback address (IPv6)
				}
				t.Errorf("listenDebug(%q): %v", c.addr, err)
				continue
			}
			ln.Close()
			continue
		}
		if err == nil {
			ln.Close()
			t.Errorf("listenDebug(%q) listens; want %q", c.addr, c.want)
		} else if !strings.Contains(err.Error(), c.want) {
			t.Errorf("listenDebug(%q) = %v; want %q", c.addr, err, c.want)
		}
	}
}
