package broker_test

import (
	"go/scanner"
	"go/token"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/pontexchange/pont/exchange/broker"
	"github.com/pontexchange/pont/internal/testenv"
)

// TestReadmeExamplesWork runs the README's shell examples, exactly as
// printed but for the address, against a running dev node: a newcomer's
// first commands must work.
func TestReadmeExamplesWork(t *testing.T) {
	testenv.NeedTools(t, "Debian: apt-get install curl xmlsec1", "curl", "xmlsec1")
	raw, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	var script []string
	for _, m := range regexp.MustCompile("(?s)```sh\n(.*?)```").FindAllStringSubmatch(string(raw), -1) {
		if strings.Contains(m[1], "http://127.0.0.1:8080/") {
			script = append(script, m[1])
		}
	}
	// The SCSP example is the one pont dev prints.
	if !strings.Contains(string(raw), broker.DevSCSPCommands(".pont-dev", "http://127.0.0.1:8080")) {
		t.Errorf("README.md's SCSP example is not what pont dev prints:\n%s", broker.DevSCSPCommands(".pont-dev", "http://127.0.0.1:8080"))
	}
	if len(script) < 3 {
		t.Fatalf("found %d examples in README.md, want the token, query, refusal and audit examples", len(script))
	}
	// The examples run where make run does: beside its .pont-dev.
	dir := t.TempDir()
	n := startDevWith(t, broker.Config{DataDir: filepath.Join(dir, ".pont-dev")})
	body := strings.ReplaceAll(strings.Join(script, "\necho\n"), "http://127.0.0.1:8080", n.base)
	cmd := exec.Command("bash", "-euo", "pipefail", "-c", body)
	cmd.Dir = dir
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("the README's examples failed: %v\n%s", err, out)
	}
	for _, want := range []string{
		`"status":{"code":"0003","text":"Tramitada"}`, `"adapter":"padro-08019"`,
		`"code":"legal_basis_required"`,
		`"items":[`, `"decision":"deny"`, `"decision":"allow"`,
		`"service":"padro","state":"`, `"total":3`,
		`Respuesta`, `<Domicilio>`, `<Direccion>`, `de Mallorca`,
	} {
		if !strings.Contains(string(out), want) {
			t.Errorf("the examples' output lacks %s:\n%s", want, out)
		}
	}
}

// TestDocsCiteWhatExists fails when a Markdown file of the repository or a
// Go comment cites a repository path that does not exist, or mentions a
// document that is not in the repository: a reader must be able to follow
// every reference from the checkout alone.
func TestDocsCiteWhatExists(t *testing.T) {
	for _, c := range citations(t, "../..") {
		t.Errorf("%s:%d: %s", c.file, c.line, c.problem)
	}
}

// TestCited pins what counts as a citation of the repository, so that the
// check above neither misses one nor trips on an address or a placeholder.
func TestCited(t *testing.T) {
	tests := []struct {
		line  string
		paths []string
		bare  []string
	}{
		{"see `docs/scsp.md` and sdk-wasm/ABI.md.", []string{"docs/scsp.md", "sdk-wasm/ABI.md"}, nil},
		{"[the API](exchange/api/openapi.json)", []string{"exchange/api/openapi.json"}, nil},
		{"Design choices are in `RATIONALE.md`; see also ABI.md", nil, []string{"RATIONALE.md", "ABI.md"}},
		{"../../README.md and ./plugins/build.go", []string{"../../README.md", "./plugins/build.go"}, nil},
		// An absent document is reported by its own rule, not as a bare
		// citation; the name is put together so that this file, too,
		// names no document the repository lacks.
		{"DESIGN" + ".md, \"Performance budget\"", nil, nil},
		{"https://github.com/pontexchange/pont/blob/main/README.md", nil, nil},
		{"github.com/pontexchange/pont/exchange/api/types", nil, nil},
		{"manifests/<adapter-name>.json, plugins/*/adapter/main.go, /v1/audit/transfers/{id}.json", nil, nil},
		{"compiles dir/assembly/index.ts into DIR/manifest.json", nil, nil},
		{"bin/adapters/prestacions-as.wasm and .pont-dev/dev-issuer.jwk", nil, nil},
		{"the file transfers.csv; pont.example.json", nil, nil},
	}
	for _, tt := range tests {
		t.Run(tt.line, func(t *testing.T) {
			paths, bare := cited(tt.line)
			if !slices.Equal(paths, tt.paths) || !slices.Equal(bare, tt.bare) {
				t.Errorf("cited(%q) = %q, %q; want %q, %q", tt.line, paths, bare, tt.paths, tt.bare)
			}
		})
	}
}

// citation is one reference that does not resolve.
type citation struct {
	file    string // relative to the repository's root
	line    int
	problem string
}

// absentDocuments are documents that the repository does not hold, which
// nothing may send a reader to.
var absentDocuments = regexp.MustCompile(`\b(?:DESIGN|DOMAIN)\.md\b`)

// repoPath matches what looks like a path of the repository: segments
// joined by '/', the last with an extension the repository's files have.
// Placeholders (<name>, *, {id}, …) stop the match, and are not checked.
var repoPath = regexp.MustCompile(`(?:^|[^A-Za-z0-9_.\-/:<*{…])((?:(?:\.\.?|[A-Za-z0-9_\-][A-Za-z0-9_.\-]*)/)+[A-Za-z0-9_\-][A-Za-z0-9_.\-]*\.(?:md|go|json|rego|sql|yaml|yml|ts|mod|sum))(?:$|[^A-Za-z0-9_\-/<*{…])`)

// rootDoc matches a bare Markdown file name, which names a document at the
// root, beside the citing file, or the one document of that name elsewhere.
var rootDoc = regexp.MustCompile(`(?:^|[^A-Za-z0-9_.\-/:<*{…])([A-Za-z0-9_\-]+\.md)\b`)

// placeholder matches a path segment that stands for a variable, as in
// "dir/assembly/index.ts" or "DIR/manifest.json": such a path is not checked.
var placeholder = regexp.MustCompile(`^(?i:dir)$|^[A-Z]+$`)

// citations reads every Markdown file and every Go comment under root and
// answers the references that do not resolve. A path resolves when it
// exists from the root or from the citing file's directory.
func citations(t *testing.T, root string) []citation {
	t.Helper()
	docs := map[string]bool{} // the base names of the repository's Markdown files
	_ = filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() && filepath.Ext(path) == ".md" {
			docs[d.Name()] = true
		}
		return nil
	})
	var bad []citation
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		name := d.Name()
		if d.IsDir() {
			if path != root && (strings.HasPrefix(name, ".") || name == "node_modules" || name == "bin") {
				return filepath.SkipDir
			}
			return nil
		}
		var texts []text
		switch filepath.Ext(name) {
		case ".md":
			b, err := os.ReadFile(path)
			if err != nil {
				return err
			}
			texts = []text{{line: 1, s: string(b)}}
		case ".go":
			if texts, err = goComments(path); err != nil {
				return err
			}
		default:
			return nil
		}
		rel, _ := filepath.Rel(root, path)
		dir := filepath.Dir(path)
		for _, tx := range texts {
			for i, line := range strings.Split(tx.s, "\n") {
				at := citation{file: filepath.ToSlash(rel), line: tx.line + i}
				if m := absentDocuments.FindString(line); m != "" {
					at.problem = "mentions " + m + ", which is not in the repository"
					bad = append(bad, at)
				}
				paths, bare := cited(line)
				for _, p := range paths {
					if !exists(root, dir, p) {
						at.problem = "cites " + p + ", which is not in the repository"
						bad = append(bad, at)
					}
				}
				for _, p := range bare {
					if !docs[p] {
						at.problem = "cites " + p + ", which is not in the repository"
						bad = append(bad, at)
					}
				}
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return bad
}

// cited answers the repository paths a line cites, and the bare Markdown
// names it cites but for the absent documents, which are reported apart.
func cited(line string) (paths, bare []string) {
	for _, m := range repoPath.FindAllStringSubmatch(line, -1) {
		if p := m[1]; !isURLish(p) && !hasPlaceholder(p) {
			paths = append(paths, p)
		}
	}
	for _, m := range rootDoc.FindAllStringSubmatch(line, -1) {
		if p := m[1]; !absentDocuments.MatchString(p) {
			bare = append(bare, p)
		}
	}
	return paths, bare
}

// text is a piece of a file and the line it starts on.
type text struct {
	line int
	s    string
}

// goComments answers the comments of a Go file.
func goComments(path string) ([]text, error) {
	src, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	fset := token.NewFileSet()
	file := fset.AddFile(path, -1, len(src))
	var s scanner.Scanner
	s.Init(file, src, nil, scanner.ScanComments)
	var out []text
	for {
		pos, tok, lit := s.Scan()
		if tok == token.EOF {
			return out, nil
		}
		if tok == token.COMMENT {
			out = append(out, text{line: fset.Position(pos).Line, s: lit})
		}
	}
}

// isURLish reports whether p is part of an address rather than a path of
// the repository: its first segment is a host name (github.com/...).
func isURLish(p string) bool {
	first, _, _ := strings.Cut(p, "/")
	return strings.Contains(strings.TrimLeft(first, "."), ".")
}

// hasPlaceholder reports whether a segment of p stands for a variable.
func hasPlaceholder(p string) bool {
	for seg := range strings.SplitSeq(p, "/") {
		if placeholder.MatchString(seg) {
			return true
		}
	}
	return false
}

func exists(root, dir, p string) bool {
	for _, base := range []string{root, dir} {
		if _, err := os.Stat(filepath.Join(base, filepath.FromSlash(p))); err == nil {
			return true
		}
	}
	return false
}
