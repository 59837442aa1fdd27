package main

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strconv"
	"strings"
)

// Layer is one Go benchmark's figures.
type Layer struct {
	Package string             `json:"package"`
	Name    string             `json:"name"` // without the Benchmark prefix and the -GOMAXPROCS suffix
	N       int                `json:"n"`
	NsPerOp float64            `json:"ns_per_op"`
	Metrics map[string]float64 `json:"metrics,omitempty"` // B/op, allocs/op, records/commit...
}

// layerBenchmarks are the benchmarks of each layer, by package. Each
// package's own tests hold them; `make bench` only runs them.
var layerBenchmarks = []struct{ pkg, pattern string }{
	{"./exchange/envelope", "^BenchmarkParse$"},
	{"./exchange/auth", "^BenchmarkVerify"},
	{"./exchange/policy", "^BenchmarkDecide$"},
	{"./exchange/wasmhost", "^(BenchmarkCall|BenchmarkReferenceAdapter)$"},
	{"./exchange/audit", "^BenchmarkAppend$"},
	{"./exchange/broker", "^BenchmarkQuery$"},
	{"./exchange/translog", "^(BenchmarkEntry|BenchmarkSeal|BenchmarkVerifyLog)$"},
}

// runLayers runs the layer benchmarks one package at a time (-p 1, so that
// no two compete for the two cores), with PostgreSQL for those that need
// it, and parses their output. Output goes to log as it comes.
func runLayers(ctx context.Context, goBin, benchtime, databaseURL string, log io.Writer) ([]Layer, error) {
	var out []Layer
	for _, lb := range layerBenchmarks {
		cmd := exec.CommandContext(ctx, goBin, "test", "-p", "1", "-count", "1", "-run", "^$",
			"-bench", lb.pattern, "-benchtime", benchtime, lb.pkg)
		cmd.Env = append(os.Environ(), "PONT_TEST_DATABASE_URL="+databaseURL, "PONT_REQUIRE_POSTGRES=1")
		var buf bytes.Buffer
		cmd.Stdout = io.MultiWriter(&buf, log)
		cmd.Stderr = io.MultiWriter(&buf, log)
		if err := cmd.Run(); err != nil {
			return out, fmt.Errorf("go test -bench %s %s: %w", lb.pattern, lb.pkg, err)
		}
		layers := parseBench(lb.pkg, buf.String())
		if len(layers) == 0 {
			return out, fmt.Errorf("go test -bench %s %s ran no benchmark", lb.pattern, lb.pkg)
		}
		out = append(out, layers...)
	}
	return out, nil
}

// parseBench reads the result lines of `go test -bench` output:
// "BenchmarkX/sub-2  1000  1234 ns/op  56 B/op  3 allocs/op  9.5 records/commit".
func parseBench(pkg, output string) []Layer {
	var out []Layer
	sc := bufio.NewScanner(strings.NewReader(output))
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) < 4 || !strings.HasPrefix(f[0], "Benchmark") || len(f)%2 != 0 {
			continue
		}
		n, err := strconv.Atoi(f[1])
		if err != nil {
			continue
		}
		name := strings.TrimPrefix(f[0], "Benchmark")
		if i := strings.LastIndex(name, "-"); i > 0 {
			if _, err := strconv.Atoi(name[i+1:]); err == nil {
				name = name[:i]
			}
		}
		l := Layer{Package: strings.TrimPrefix(pkg, "./"), Name: name, N: n, Metrics: map[string]float64{}}
		for i := 2; i+1 < len(f); i += 2 {
			v, err := strconv.ParseFloat(f[i], 64)
			if err != nil {
				continue
			}
			if f[i+1] == "ns/op" {
				l.NsPerOp = v
			} else {
				l.Metrics[f[i+1]] = v
			}
		}
		out = append(out, l)
	}
	return out
}
