package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"net/url"
	"os"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/pontexchange/pont/catalog"
	"github.com/pontexchange/pont/exchange/conformance"
	"github.com/pontexchange/pont/exchange/manifest"
	"github.com/pontexchange/pont/exchange/registry"
	"github.com/pontexchange/pont/exchange/wasmhost"
)

const adapterTestUsage = `usage: pont adapter test MODULE.wasm --cases DIR [--catalog DIR] [--run REGEXP] [--timeout DURATION] [--cache DIR] [-v]

Runs the module in the broker's Wasm host against a source's recorded answers
(one JSON file per case in DIR, and DIR/config.json for the adapter's
configuration) and checks each outcome, data against the service's answer
schema. No broker, database or source is needed. See docs/adapter-cases.md.
`

// runAdapterTest is pont adapter test: args are the arguments after "test".
// It prints what the module is, then one line per case and why a case
// failed; it returns an error when any case fails.
func runAdapterTest(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("pont adapter test", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprint(stderr, adapterTestUsage)
		fs.PrintDefaults()
	}
	casesDir := fs.String("cases", "", "the cases directory (required)")
	catalogDir := fs.String("catalog", "", "a catalog directory (services/*.json, purposes.json, authorisations.json); default: the catalog built into pont")
	run := fs.String("run", "", "run only the cases whose name matches this regular expression")
	timeout := fs.Duration("timeout", 0, "the deadline of each call whose case sets no timeout_ms (default: the adapter's own limit)")
	cacheDir := fs.String("cache", "", "keep the compiled module in this directory across runs")
	verbose := fs.Bool("v", false, "print each request the adapter made and what it logged")
	// The module comes first in the usage, and flag stops at the first
	// argument that is not a flag: parse around it.
	var positional []string
	for {
		if err := fs.Parse(args); err != nil {
			return errUsage // flag has said why, or printed the usage
		}
		if fs.NArg() == 0 {
			break
		}
		positional = append(positional, fs.Arg(0))
		args = fs.Args()[1:]
	}
	switch {
	case len(positional) != 1:
		fmt.Fprintf(stderr, "pont adapter test: want one module, got %d arguments\n\n", len(positional))
		fs.Usage()
		return errUsage
	case *casesDir == "":
		fmt.Fprint(stderr, "pont adapter test: --cases DIR is required\n\n")
		fs.Usage()
		return errUsage
	case *timeout < 0:
		fmt.Fprintf(stderr, "pont adapter test: --timeout %s is negative\n", *timeout)
		return errUsage
	}
	var sel *regexp.Regexp
	if *run != "" {
		var err error
		if sel, err = regexp.Compile(*run); err != nil {
			fmt.Fprintf(stderr, "pont adapter test: --run: %v\n", err)
			return errUsage
		}
	}

	modulePath := positional[0]
	wasm, err := os.ReadFile(modulePath)
	if err != nil {
		return err
	}
	suite, err := conformance.LoadDir(*casesDir)
	if err != nil {
		return err
	}
	cat, catName, err := loadCatalog(*catalogDir)
	if err != nil {
		return err
	}
	cases := suite.Cases
	if sel != nil {
		cases = slices.DeleteFunc(slices.Clone(cases), func(c conformance.Case) bool { return !sel.MatchString(c.Name) })
		if len(cases) == 0 {
			return fmt.Errorf("no case of %s matches --run %q", suite.Dir, *run)
		}
	}
	// The configuration a node would give it (its manifest's defaults, the
	// catalog's for its scope), overridden by the cases' config.json.
	values := map[string]string{}
	if m, err := manifest.Read(wasm); err == nil {
		if values, err = registry.SourceConfig(m, cat); err != nil {
			return fmt.Errorf("%s: %w", modulePath, err)
		}
	}
	for k, v := range suite.Config {
		values[k] = v
	}
	r, err := conformance.New(ctx, wasm, conformance.Config{
		Catalog: cat, Values: values, Timeout: *timeout, CacheDir: *cacheDir,
	})
	if err != nil {
		return fmt.Errorf("%s: %w", modulePath, err)
	}
	defer r.Close(context.WithoutCancel(ctx))

	describeModule(stdout, modulePath, r, values)
	fmt.Fprintf(stdout, "catalog   %s\n", catName)
	fmt.Fprintf(stdout, "cases     %s: %d", suite.Dir, len(suite.Cases))
	if sel != nil {
		fmt.Fprintf(stdout, ", %d selected by --run", len(cases))
	}
	fmt.Fprint(stdout, "\n\n")

	var failed []string
	for _, c := range cases {
		if err := ctx.Err(); err != nil {
			return err
		}
		res := r.Run(ctx, c)
		printResult(stdout, c, res, *verbose)
		if !res.Pass {
			failed = append(failed, c.Name)
		}
	}
	fmt.Fprintln(stdout)
	if len(failed) > 0 {
		fmt.Fprintf(stdout, "FAIL: %d of %s failed\n", len(failed), casesText(len(cases)))
		return fmt.Errorf("%d of %s failed: %s", len(failed), casesText(len(cases)), strings.Join(failed, ", "))
	}
	fmt.Fprintf(stdout, "ok: %s passed\n", casesText(len(cases)))
	return nil
}

func casesText(n int) string {
	if n == 1 {
		return "1 case"
	}
	return fmt.Sprintf("%d cases", n)
}

func loadCatalog(dir string) (*catalog.Catalog, string, error) {
	if dir == "" {
		cat, err := catalog.Default()
		return cat, "built into pont", err
	}
	cat, err := catalog.Load(os.DirFS(dir))
	if err != nil {
		return nil, "", fmt.Errorf("catalog %s: %w", dir, err)
	}
	return cat, dir, nil
}

// describeModule prints what the module is and the limits the host gives
// it: what an owner must check before publishing.
func describeModule(w io.Writer, path string, r *conformance.Runner, config map[string]string) {
	m := r.Manifest()
	fmt.Fprintf(w, "module    %s\n", path)
	fmt.Fprintf(w, "sha256    %s\n", r.SHA256())
	fmt.Fprintf(w, "adapter   %s %s, owner %s, ABI %d\n", m.Name, m.Version, m.Owner, m.ABI)
	fmt.Fprintf(w, "serves    %s, scope %s\n", strings.Join(m.Services, ", "), m.Scope)
	hosts := "none"
	if len(m.AllowedHosts) > 0 {
		hosts = strings.Join(m.AllowedHosts, ", ")
	}
	fmt.Fprintf(w, "reaches   %s\n", hosts)
	for i, k := range m.Config {
		label := "config"
		if i > 0 {
			label = ""
		}
		v, ok := config[k]
		switch {
		case !ok || v == "":
			fmt.Fprintf(w, "%-9s %s not set\n", label, k)
		case isHTTPURL(v):
			fmt.Fprintf(w, "%-9s %s = %s%s\n", label, k, v, originNote(v, m.AllowedHosts))
		default:
			// Any other value may be a credential: it stays off the
			// terminal.
			fmt.Fprintf(w, "%-9s %s set (%d bytes)\n", label, k, len(v))
		}
	}
	l := r.Limits()
	fmt.Fprintf(w, "limits    timeout %s, memory %d pages (%s), answer %s, source response %s\n",
		l.Timeout, l.MemoryPages, bytesText(int64(l.MemoryPages)*64<<10), bytesText(int64(l.MaxAnswerBytes)), bytesText(int64(l.MaxHTTPResponseBytes)))
	fmt.Fprintf(w, "          pool %d to %d instances (wait %s, %s more while they wait on the source), log %g lines/s (burst %d)\n",
		l.PoolMin, l.PoolMax, l.PoolWait, bytesText(l.NetworkWaitMemory), l.LogRate, l.LogBurst)
	if asked := askedLimits(m.Limits, l); asked != "" {
		fmt.Fprintf(w, "          the manifest asks %s; the rest are the host's defaults\n", asked)
	} else {
		fmt.Fprintln(w, "          the host's defaults: the manifest asks for none")
	}
}

// isHTTPURL reports whether v is an http or https URL without user
// information.
func isHTTPURL(v string) bool {
	u, err := url.Parse(v)
	return err == nil && (u.Scheme == "http" || u.Scheme == "https") && u.Host != "" && u.User == nil
}

// originNote warns when a configured URL's origin is not one the adapter
// may reach: its calls would be refused with host_not_allowed.
func originNote(v string, allowed []string) string {
	u, err := url.Parse(v)
	if err != nil {
		return ""
	}
	o, err := manifest.Origin(u)
	if err != nil {
		return ""
	}
	for _, a := range allowed {
		if ao, err := manifest.ParseOrigin(a); err == nil && ao == o {
			return ""
		}
	}
	return "  (warning: not in allowed_hosts; http_call will refuse it)"
}

// askedLimits names what the manifest asks for, and what the host's maxima
// lowered.
func askedLimits(asked manifest.Limits, got wasmhost.Limits) string {
	var parts []string
	note := func(name string, want, have int64) {
		if want <= 0 {
			return
		}
		s := fmt.Sprintf("%s %d", name, want)
		if have < want {
			s += fmt.Sprintf(" (capped to %d)", have)
		}
		parts = append(parts, s)
	}
	note("memory_pages", int64(asked.MemoryPages), int64(got.MemoryPages))
	note("timeout_ms", int64(asked.TimeoutMS), got.Timeout.Milliseconds())
	note("max_answer_bytes", int64(asked.MaxAnswerBytes), int64(got.MaxAnswerBytes))
	note("pool_min", int64(asked.PoolMin), int64(got.PoolMin))
	note("pool_max", int64(asked.PoolMax), int64(got.PoolMax))
	return strings.Join(parts, ", ")
}

func bytesText(n int64) string {
	switch {
	case n >= 1<<30 && n%(1<<30) == 0:
		return fmt.Sprintf("%d GiB", n>>30)
	case n >= 1<<20 && n%(1<<20) == 0:
		return fmt.Sprintf("%d MiB", n>>20)
	case n >= 1<<10 && n%(1<<10) == 0:
		return fmt.Sprintf("%d KiB", n>>10)
	}
	return fmt.Sprintf("%d bytes", n)
}

func printResult(w io.Writer, c conformance.Case, res conformance.Result, verbose bool) {
	status := "PASS"
	if !res.Pass {
		status = "FAIL"
	}
	timing := ""
	if res.Called {
		timing = fmt.Sprintf(" (%s, deadline %s)", durationText(res.Elapsed), res.Deadline)
	}
	fmt.Fprintf(w, "%s  %s%s\n", status, c.Name, timing)
	if !res.Pass {
		if c.Description != "" {
			fmt.Fprintf(w, "      %s\n", c.Description)
		}
		fmt.Fprintf(w, "      %s\n", c.File)
		for _, p := range res.Problems {
			fmt.Fprintf(w, "      %s\n", p)
		}
	}
	if !verbose {
		return
	}
	for _, q := range res.Requests {
		answer := "no recorded answer left"
		if q.Answer >= 0 {
			a := c.Source[q.Answer]
			switch {
			case a.Outage:
				answer = fmt.Sprintf("source[%d]: connection reset", q.Answer)
			default:
				answer = fmt.Sprintf("source[%d]: %d, %d bytes", q.Answer, a.Status, len(a.Body))
			}
			if a.DelayMS > 0 {
				answer += fmt.Sprintf(", after %s", time.Duration(a.DelayMS)*time.Millisecond)
			}
		}
		body := ""
		if len(q.Body) > 0 {
			body = fmt.Sprintf(" (%d-byte body)", len(q.Body))
		}
		fmt.Fprintf(w, "      > %s %s%s -> %s\n", q.Method, q.URL, body, answer)
	}
	for _, l := range res.Logs {
		fmt.Fprintf(w, "      log %s\n", l)
	}
	if res.Pass && res.Called {
		fmt.Fprintf(w, "      got %s\n", res.Got)
		for _, v := range res.Got.Violations {
			fmt.Fprintf(w, "        %s\n", v)
		}
	}
}

// durationText rounds d for reading: to the millisecond from 10 ms up,
// else to a tenth of one.
func durationText(d time.Duration) string {
	if d >= 10*time.Millisecond {
		return d.Round(time.Millisecond).String()
	}
	return fmt.Sprintf("%.1fms", float64(d)/float64(time.Millisecond))
}
