// Package sdktest runs an adapter's registered handler natively, under plain
// go test, with a host that behaves like the broker's: real HTTP limited to
// the allowed hosts, the declared configuration, a log. It returns the exact
// answer JSON the Wasm module would return. It changes when the broker's
// host behaviour that adapters can observe changes.
//
// It builds only natively (not for GOOS=wasip1): it runs the adapter's code
// in the test process, not the module.
package sdktest
