// Command mutants is `make mutants`: it checks that the tests guard what
// they claim. Each mutation of the table in mutations.go is a deliberate
// bug that removes or weakens one of the defences SECURITY.md lists; the
// runner applies them one at a time to a scratch copy of the repository
// and runs the tests, which must fail.
//
// The copy holds the files `git ls-files` lists (the tracked ones, and new
// ones git does not ignore). For each mutation the runner replaces its old
// snippet, which must occur exactly once in its file (a mutation whose
// snippet is gone or ambiguous stops the run before anything is tested: a
// stale mutation must not pass silently), runs the packages most likely to
// catch it, one after the other, stopping at the first that fails, and
// restores the file. A mutation that these packages do not catch is run
// against the whole suite (go test ./...), so that "survived" always means
// the full suite passed. The tests run with -count=1 -failfast -vet=off:
// "caught" means a test failed, never that vet complained, and a mutation
// that does not compile stops the run as broken.
//
// A failure counts as a catch only when the failing test, run alone, fails
// again with the mutation and passes without it: a test that fails on its
// own (a timing test on a loaded machine) catches nothing, and the package
// then runs with the mutation once more. The tests run against the PostgreSQL server that $PONT_TEST_DATABASE_URL
// names (by default the machine's, postgres@127.0.0.1:5432), with
// PONT_REQUIRE_POSTGRES=1: a PostgreSQL test that skipped would prove
// nothing.
//
// It prints one line per mutation (caught, and by which test, or survived)
// and exits 1 when any survived, 2 when the run itself failed.
package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// The PostgreSQL server of the tests: $PONT_TEST_DATABASE_URL, by default
// the machine's, as for make bench.
const (
	envDatabase     = "PONT_TEST_DATABASE_URL"
	defaultDatabase = "postgres://postgres@127.0.0.1:5432/test?sslmode=disable"
)

// mutation is one deliberate bug.
type mutation struct {
	id      string   // short and unique: what -run matches
	defence string   // the numbered defence of SECURITY.md it attacks, and how
	file    string   // relative to the repository's root
	old     string   // must occur exactly once in file
	new     string   // what replaces it
	pkgs    []string // the packages most likely to catch it, in the order to run them
	// timeout, when set, bounds each run of pkgs instead of -timeout: a
	// mutation that makes a guest hold up its test process is killed
	// this long after it starts, not -timeout.
	timeout time.Duration
}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	code, err := run(ctx, os.Stdout)
	if err != nil {
		fmt.Fprintln(os.Stderr, "mutants:", err)
	}
	os.Exit(code)
}

type options struct {
	pkgs     []string      // overrides each mutation's packages; nil: theirs
	timeout  time.Duration // go test -timeout of one package run
	parallel int           // go test -p; 0: go's default
	full     bool          // run survivors against ./...
	verbose  bool
	keep     bool
}

func run(ctx context.Context, out io.Writer) (int, error) {
	runRE := flag.String("run", "", "run only the mutations whose id matches this `regexp`")
	pkgs := flag.String("pkgs", "", "comma-separated `packages` to run for every mutation instead of each one's own (e.g. ./...)")
	var o options
	flag.DurationVar(&o.timeout, "timeout", 8*time.Minute, "go test -timeout of each run (a mutation may set a shorter one); the run is killed 30 s after it")
	flag.IntVar(&o.parallel, "p", 0, "go test -p: packages built and tested at once (0: go's default; 1 to be a good neighbour)")
	flag.BoolVar(&o.full, "full", true, "run a mutation its packages did not catch against the whole suite (./...)")
	flag.BoolVar(&o.verbose, "v", false, "print the first lines of each failure, and every go test command")
	flag.BoolVar(&o.keep, "keep", false, "keep the scratch copy")
	list := flag.Bool("list", false, "list the mutations, once each is checked against the files, and exit")
	compile := flag.Bool("compile", false, "only check that each mutation compiles (go vet of its file's package), without running tests")
	flag.Parse()
	if flag.NArg() > 0 {
		return 2, fmt.Errorf("unexpected arguments %q", flag.Args())
	}
	if *pkgs != "" {
		for p := range strings.SplitSeq(*pkgs, ",") {
			if p = strings.TrimSpace(p); p != "" {
				o.pkgs = append(o.pkgs, p)
			}
		}
	}

	if err := checkTable(mutations); err != nil {
		return 2, err
	}
	re, err := regexp.Compile(*runRE)
	if err != nil {
		return 2, fmt.Errorf("-run: %w", err)
	}
	var chosen []mutation
	for _, m := range mutations {
		if re.MatchString(m.id) {
			chosen = append(chosen, m)
		}
	}
	if len(chosen) == 0 {
		return 2, fmt.Errorf("no mutation matches -run %q", *runRE)
	}
	root, err := gitOutput(ctx, ".", "rev-parse", "--show-toplevel")
	if err != nil {
		return 2, err
	}
	root = strings.TrimSpace(root)
	// Every mutation is checked against the files before anything runs.
	for _, m := range chosen {
		if err := check(root, m); err != nil {
			return 2, err
		}
	}
	if *list {
		for _, m := range chosen {
			fmt.Fprintf(out, "%-28s %-52s %s\n", m.id, m.defence, m.file)
		}
		return 0, nil
	}
	scratch, err := os.MkdirTemp("", "pont-mutants-")
	if err != nil {
		return 2, err
	}
	if o.keep {
		fmt.Fprintf(out, "scratch copy: %s\n", scratch)
	} else {
		defer os.RemoveAll(scratch)
	}
	n, err := copyTree(ctx, root, scratch)
	if err != nil {
		return 2, err
	}
	if *compile {
		for _, m := range chosen {
			if err := compiles(ctx, scratch, m); err != nil {
				return 2, err
			}
			fmt.Fprintf(out, "%-28s compiles\n", m.id)
		}
		return 0, nil
	}
	// The PostgreSQL tests must run, not skip: a skip would let every
	// mutation of what only they test survive, or be caught, for nothing.
	if os.Getenv(envDatabase) == "" {
		os.Setenv(envDatabase, defaultDatabase)
	}
	os.Setenv("PONT_REQUIRE_POSTGRES", "1")
	start := time.Now()
	fmt.Fprintf(out, "%d mutations on a copy of %d files; go test %s\n", len(chosen), n, strings.Join(testFlags(o), " "))

	fmt.Fprintf(out, "%-28s %-50s %-8s %6s  %s\n", "MUTATION", "DEFENCE", "RESULT", "TIME", "CAUGHT BY")
	var survived []string
	for _, m := range chosen {
		if ctx.Err() != nil {
			return 2, ctx.Err()
		}
		t0 := time.Now()
		res, err := o.try(ctx, scratch, m)
		if err != nil {
			return 2, fmt.Errorf("%s: %w", m.id, err)
		}
		result, by := "caught", res.pkg+" "+res.test
		if !res.failed {
			result, by = "SURVIVED", "(passed: "+strings.Join(res.ran, " ")+")"
			survived = append(survived, m.id)
		}
		fmt.Fprintf(out, "%-28s %-50s %-8s %6s  %s\n", m.id, clip(m.defence, 50), result, since(t0), by)
		if o.verbose && res.failed && res.excerpt != "" {
			fmt.Fprintln(out, indent(res.excerpt))
		}
	}
	fmt.Fprintf(out, "%d mutations, %d caught, %d survived, in %s\n", len(chosen), len(chosen)-len(survived), len(survived), since(start))
	if len(survived) > 0 {
		fmt.Fprintf(out, "survivors: %s\n", strings.Join(survived, ", "))
		return 1, nil
	}
	return 0, nil
}

// checkTable refuses a table with a repeated id or a mutation that changes
// nothing.
func checkTable(ms []mutation) error {
	seen := map[string]bool{}
	for _, m := range ms {
		switch {
		case m.id == "" || m.file == "" || m.defence == "" || len(m.pkgs) == 0:
			return fmt.Errorf("mutation %q: id, defence, file and packages are required", m.id)
		case seen[m.id]:
			return fmt.Errorf("mutation %s is in the table twice", m.id)
		case m.old == m.new:
			return fmt.Errorf("mutation %s changes nothing", m.id)
		}
		seen[m.id] = true
	}
	return nil
}

func (o options) packagesOf(m mutation) []string {
	if o.pkgs != nil {
		return o.pkgs
	}
	return m.pkgs
}

// outcome is what the tests made of a mutation.
type outcome struct {
	failed  bool
	pkg     string   // the package that failed
	test    string   // its first failing test, or what failed without one
	excerpt string   // the first lines the failure printed
	ran     []string // what ran
}

// compiles applies m to the copy in dir and vets its file's package, tests
// included; and restores the file.
func compiles(ctx context.Context, dir string, m mutation) error {
	restore, err := write(dir, m)
	if err != nil {
		return err
	}
	defer restore()
	cmd := exec.CommandContext(ctx, goBin(), "vet", "./"+filepath.Dir(m.file))
	cmd.Dir = dir
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("the mutation %s is broken: %v\n%s", m.id, err, out)
	}
	return nil
}

// write applies m to its file under dir, and returns what puts it back.
func write(dir string, m mutation) (restore func(), err error) {
	path := filepath.Join(dir, m.file)
	fi, err := os.Stat(path)
	if err != nil {
		return nil, err
	}
	orig, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	mutated, err := mutate(orig, m)
	if err != nil {
		return nil, err
	}
	if err := os.WriteFile(path, mutated, fi.Mode().Perm()); err != nil {
		return nil, err
	}
	return func() {
		if err := os.WriteFile(path, orig, fi.Mode().Perm()); err != nil {
			panic(fmt.Sprintf("mutants: restoring %s: %v", path, err)) // the copy is no longer the repository
		}
	}, nil
}

// try runs m's packages one after the other, each with m applied to the
// copy in dir, until one fails, then, unless one did, the whole suite. A
// failure counts as a catch only once confirmed (see confirm); when it is
// not, the test failed on its own (a timing test on a loaded machine), and
// the package runs with the mutation once more: a pass then means the
// package did not catch it.
func (o options) try(ctx context.Context, dir string, m mutation) (outcome, error) {
	pkgs := o.packagesOf(m)
	if o.full && !slices.Contains(pkgs, "./...") {
		pkgs = append(slices.Clip(pkgs), "./...")
	}
	var ran []string
	for _, p := range pkgs {
		ran = append(ran, p)
		for attempt := 1; ; attempt++ {
			res, err := o.runMutated(ctx, dir, m, p, "")
			if err != nil {
				return outcome{}, err
			}
			if !res.failed {
				break
			}
			confirmed, err := o.confirm(ctx, dir, m, res)
			if err != nil {
				return outcome{}, err
			}
			if confirmed {
				if p == "./..." {
					res.test += " (full suite)"
				}
				res.ran = ran
				return res, nil
			}
			if attempt == 2 {
				return outcome{}, fmt.Errorf("%s %s failed, but not as the mutation's doing (it also fails without it, or passes with it when run alone): fix that test first", res.pkg, res.test)
			}
		}
	}
	return outcome{ran: ran}, nil
}

// runMutated runs pkg (the tests that match run, when set) with m applied
// to the copy in dir, and restores it. The mutation's own timeout bounds
// the runs of its packages, not the full suite's.
func (o options) runMutated(ctx context.Context, dir string, m mutation, pkg, run string) (outcome, error) {
	restore, err := write(dir, m)
	if err != nil {
		return outcome{}, err
	}
	defer restore()
	if m.timeout > 0 && pkg != "./..." && o.pkgs == nil {
		o.timeout = m.timeout
	}
	return goTest(ctx, dir, o, []string{pkg}, run)
}

// confirm reports whether res's failure is m's doing: its failing test
// (the top-level one, or its whole package when no test failed), run
// alone, fails again with m and passes without it.
func (o options) confirm(ctx context.Context, dir string, m mutation, res outcome) (bool, error) {
	pkg, run := "./"+res.pkg, ""
	if strings.HasPrefix(res.test, "Test") || strings.HasPrefix(res.test, "Fuzz") {
		top, _, _ := strings.Cut(res.test, "/")
		run = "^" + regexp.QuoteMeta(top) + "$"
	}
	again, err := o.runMutated(ctx, dir, m, pkg, run)
	if err != nil || !again.failed {
		return false, err
	}
	clean, err := goTest(ctx, dir, o, []string{pkg}, run)
	if err != nil {
		return false, err
	}
	return !clean.failed, nil
}

// mutate returns src with m applied. The old snippet must occur exactly
// once.
func mutate(src []byte, m mutation) ([]byte, error) {
	switch n := bytes.Count(src, []byte(m.old)); n {
	case 1:
		return bytes.Replace(src, []byte(m.old), []byte(m.new), 1), nil
	case 0:
		return nil, fmt.Errorf("mutation %s is stale: its old snippet is not in %s any more; update it to the code as it is", m.id, m.file)
	default:
		return nil, fmt.Errorf("mutation %s is ambiguous: its old snippet occurs %d times in %s; make it longer", m.id, n, m.file)
	}
}

// check reports a mutation that does not apply to the files under dir.
func check(dir string, m mutation) error {
	src, err := os.ReadFile(filepath.Join(dir, m.file))
	if err != nil {
		return fmt.Errorf("mutation %s: %w", m.id, err)
	}
	_, err = mutate(src, m)
	return err
}

func testFlags(o options) []string {
	f := []string{"-count=1", "-failfast", "-vet=off", "-timeout=" + o.timeout.String()}
	if o.parallel > 0 {
		f = append(f, "-p="+strconv.Itoa(o.parallel))
	}
	return f
}

// event is one line of go test -json.
type event struct {
	Action      string
	Package     string
	ImportPath  string // of build-output
	Test        string
	Output      string
	FailedBuild string
}

// killAfter is how long after its -timeout a go test is killed: go test
// ends a test binary that outlives it, unless the binary cannot run at all.
const killAfter = 30 * time.Second

// goTest runs go test -json on pkgs in dir (only the tests that match run,
// when it is set) and reports the first test that failed. A package that does not build is an error, not a failure: a
// mutation must compile to say anything of the tests.
func goTest(ctx context.Context, dir string, o options, pkgs []string, run string) (outcome, error) {
	args := append([]string{"test", "-json"}, testFlags(o)...)
	if run != "" {
		args = append(args, "-run", run)
	}
	args = append(args, pkgs...)
	tctx, cancel := context.WithTimeout(ctx, o.timeout+killAfter)
	defer cancel()
	cmd := exec.CommandContext(tctx, goBin(), args...)
	cmd.Dir = dir
	// The tests start servers and compilers of their own: a kill takes
	// the whole process group.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	cmd.WaitDelay = 10 * time.Second
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return outcome{}, err
	}
	if o.verbose {
		fmt.Fprintf(os.Stderr, "mutants: go %s\n", strings.Join(args, " "))
	}
	if err := cmd.Start(); err != nil {
		return outcome{}, err
	}
	res := outcome{ran: pkgs}
	outputs := map[string][]string{} // by package and test
	var buildOut []string
	var broken []string
	sc := bufio.NewScanner(stdout)
	sc.Buffer(make([]byte, 1<<20), 16<<20)
	for sc.Scan() {
		var e event
		if json.Unmarshal(sc.Bytes(), &e) != nil {
			continue
		}
		key := e.Package + " " + e.Test
		switch e.Action {
		case "build-output":
			buildOut = append(buildOut, strings.TrimRight(e.Output, "\n"))
		case "output":
			if len(outputs[key]) < 100 {
				outputs[key] = append(outputs[key], strings.TrimRight(e.Output, "\n"))
			}
		case "fail":
			switch {
			case e.FailedBuild != "":
				broken = append(broken, short(e.Package))
			case res.test != "":
				// The first failing test is kept: the deepest subtest,
				// which fails before its parents.
			case e.Test != "" || !res.failed:
				res.failed, res.pkg, res.test = true, short(e.Package), e.Test
				res.excerpt = excerpt(outputs[key])
			}
		}
	}
	werr := cmd.Wait()
	if err := ctx.Err(); err != nil {
		return outcome{}, err // interrupted
	}
	if len(broken) > 0 || strings.Contains(stderr.String(), "[setup failed]") {
		return outcome{}, fmt.Errorf("%s does not build:\n%s", strings.Join(broken, ", "),
			excerpt(append(buildOut, strings.Split(stderr.String(), "\n")...)))
	}
	switch {
	case errors.Is(tctx.Err(), context.DeadlineExceeded):
		// Hung past go test's own timeout: a guest that holds up the
		// whole test process, say.
		res.failed, res.pkg, res.test = true, strings.TrimPrefix(strings.Join(pkgs, " "), "./"), "(killed: still running after "+(o.timeout+killAfter).String()+")"
	case res.failed && res.test == "":
		// The package failed outside any test: a panic in TestMain, or
		// go test's timeout.
		res.test = "(" + firstLine(res.excerpt) + ")"
	case !res.failed && werr != nil:
		return outcome{}, fmt.Errorf("go %s: %v\n%s", strings.Join(args, " "), werr, excerpt(strings.Split(stderr.String(), "\n")))
	}
	return res, nil
}

// firstLine is the first telling line of a failure without a test.
func firstLine(excerpt string) string {
	for l := range strings.SplitSeq(excerpt, "\n") {
		l = strings.TrimSpace(l)
		if l != "" && l != "FAIL" && !strings.HasPrefix(l, "FAIL\t") && !strings.HasPrefix(l, "ok ") {
			return clip(l, 60)
		}
	}
	return "see -v"
}

func excerpt(lines []string) string {
	var keep []string
	for _, l := range lines {
		for s := range strings.SplitSeq(l, "\n") {
			if strings.TrimSpace(s) == "" || strings.HasPrefix(strings.TrimSpace(s), "=== ") {
				continue
			}
			keep = append(keep, s)
		}
	}
	if len(keep) > 12 {
		keep = append(keep[:12], "…")
	}
	return strings.Join(keep, "\n")
}

const modulePath = "github.com/pontexchange/pont/"

func short(pkg string) string { return strings.TrimPrefix(pkg, modulePath) }

func goBin() string {
	if g := os.Getenv("GO"); g != "" {
		return g
	}
	return "go"
}

// copyTree copies the files git lists in root (tracked, and untracked but
// not ignored) to dst, and answers how many.
func copyTree(ctx context.Context, root, dst string) (int, error) {
	list, err := gitOutput(ctx, root, "ls-files", "-z", "--cached", "--others", "--exclude-standard")
	if err != nil {
		return 0, err
	}
	n := 0
	for rel := range strings.SplitSeq(list, "\x00") {
		if rel == "" {
			continue
		}
		src := filepath.Join(root, rel)
		fi, err := os.Lstat(src)
		if errors.Is(err, os.ErrNotExist) {
			continue // deleted in the work tree: the copy is the work tree
		} else if err != nil {
			return n, err
		}
		to := filepath.Join(dst, rel)
		if err := os.MkdirAll(filepath.Dir(to), 0o755); err != nil {
			return n, err
		}
		switch {
		case fi.Mode()&os.ModeSymlink != 0:
			target, err := os.Readlink(src)
			if err != nil {
				return n, err
			}
			if err := os.Symlink(target, to); err != nil {
				return n, err
			}
		case fi.Mode().IsRegular():
			b, err := os.ReadFile(src)
			if err != nil {
				return n, err
			}
			if err := os.WriteFile(to, b, fi.Mode().Perm()); err != nil {
				return n, err
			}
		default:
			continue // a submodule's directory
		}
		n++
	}
	return n, nil
}

func gitOutput(ctx context.Context, dir string, args ...string) (string, error) {
	cmd := exec.CommandContext(ctx, "git", args...)
	cmd.Dir = dir
	out, err := cmd.Output()
	if err != nil {
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			return "", fmt.Errorf("git %s: %v: %s", strings.Join(args, " "), err, bytes.TrimSpace(ee.Stderr))
		}
		return "", fmt.Errorf("git %s: %w", strings.Join(args, " "), err)
	}
	return string(out), nil
}

func since(t time.Time) string { return time.Since(t).Round(time.Second).String() }

func clip(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n-1] + "…"
}

func indent(s string) string {
	return "    " + strings.ReplaceAll(s, "\n", "\n    ")
}
