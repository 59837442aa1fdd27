package web

import (
	"crypto/rand"
	"crypto/sha256"
	"reflect"
	"strings"
	"testing"

	"golang.org/x/mod/sumdb/note"
	"golang.org/x/mod/sumdb/tlog"

	"github.com/pontexchange/pont/catalog"
	"github.com/pontexchange/pont/exchange/api/types"
	"github.com/pontexchange/pont/exchange/auth"
	"github.com/pontexchange/pont/exchange/translog"
)

// TestAuditAndConsoleMessages: the ids the auditor's and the owner's pages
// make at run time exist in every language, and the record's page has a
// labelled row for every field of the API's record.
func TestAuditAndConsoleMessages(t *testing.T) {
	m, err := loadMessages()
	if err != nil {
		t.Fatal(err)
	}
	cat, err := catalog.Default()
	if err != nil {
		t.Fatal(err)
	}
	v := &view{loc: m.localizer("en"), Lang: "en"}
	p := &Pages{cfg: Config{Catalog: cat}}
	rows := v.transferRows(p, types.TransferV1{})
	names := map[string]bool{}
	var ids []string
	for _, r := range rows {
		names[r.Name] = true
		ids = append(ids, "audit.field."+r.Name)
	}
	tt := reflect.TypeFor[types.TransferV1]()
	for i := range tt.NumField() {
		name, _, _ := strings.Cut(tt.Field(i).Tag.Get("json"), ",")
		if !names[name] {
			t.Errorf("the record's page has no row for field %s", name)
		}
	}
	if len(rows) != tt.NumField() {
		t.Errorf("%d rows for %d fields", len(rows), tt.NumField())
	}
	// Every parameter of the search, as the API names them in a problem.
	for _, f := range []string{"subject", "requester", "official", "procedure", "service", "purpose", "decision",
		"scsp_request_id", "from", "to", "limit", "cursor"} {
		ids = append(ids, "audit.filter."+f)
	}
	ids = append(ids, "audit.kind.query", "audit.kind.self_access", "audit.decision.allow", "audit.decision.deny",
		"audit.basis.presumed", "audit.basis.law", "audit.basis.consent", "audit.basis.self", "audit.refused.other",
		"console.state.inactive", "console.state.serving", "console.state.pending", "console.state.not_loaded",
		"console.kind.activate", "console.kind.rollback", "console.refused.other",
		"console.refused.no_earlier_version", "console.refused.scope_taken", "console.refused.forbidden", "console.refused.not_found")
	for _, id := range ids {
		for _, tag := range languages {
			if !m.ids[tag.String()][id] {
				t.Errorf("message %q is used but %s has none", id, tag)
			}
		}
	}
	for _, lang := range []string{"ca", "es", "en"} {
		for _, area := range []string{"audit.", "console."} {
			n := 0
			for id := range m.ids[lang] {
				if strings.HasPrefix(id, area) {
					n++
				}
			}
			if n < 40 {
				t.Errorf("%s has %d %s messages", lang, n, area)
			}
		}
	}
}

func TestOpenCheckpoint(t *testing.T) {
	skey, vkey, err := note.GenerateKey(rand.Reader, "pont.test/log")
	if err != nil {
		t.Fatal(err)
	}
	signer, _ := note.NewSigner(skey)
	verifier, _ := note.NewVerifier(vkey)
	root := tlog.Hash(sha256.Sum256([]byte("root")))
	signed, err := translog.SignCheckpoint(signer, 42, root)
	if err != nil {
		t.Fatal(err)
	}
	box := openCheckpoint(signed, verifier)
	if !box.Checked || !box.Verified || box.Size != 42 || box.Root != root.String() || box.Origin != "pont.test/log" ||
		len(box.Sigs) != 1 || !box.Sigs[0].Verified || box.Sigs[0].KeyHash != strings.ToLower(box.Sigs[0].KeyHash) {
		t.Errorf("with the log's key: %+v", box)
	}
	// Another key with the same name: checked, not verified, and what it
	// claims is still shown.
	_, otherV, _ := note.GenerateKey(rand.Reader, "pont.test/log")
	other, _ := note.NewVerifier(otherV)
	box = openCheckpoint(signed, other)
	if !box.Checked || box.Verified || box.VerifyError == "" || box.Size != 42 || box.Malformed || len(box.Sigs) != 1 || box.Sigs[0].Verified {
		t.Errorf("with another key: %+v", box)
	}
	// No key: nothing is checked, and nothing claims to be.
	box = openCheckpoint(signed, nil)
	if box.Checked || box.Verified || box.Size != 42 || box.Malformed || box.Sigs[0].Verified {
		t.Errorf("without a key: %+v", box)
	}
	for _, bad := range []string{"", "garbage", "pont.test/log\nnot a number\nAAAA\n\n— pont.test/log AAAAAAAA\n"} {
		if box := openCheckpoint([]byte(bad), nil); !box.Malformed || box.Verified {
			t.Errorf("%q: %+v", bad, box)
		}
	}
}

func TestAuditAPIQuery(t *testing.T) {
	q, bad := auditAPIQuery(auditFilter{Subject: "12345678Z", From: "2026-03-01", To: "2026-07-31", Limit: 25, Cursor: "c"}, true)
	if len(bad) > 0 || q.Get("subject") != "12345678Z" || q.Get("from") != "2026-02-28T23:00:00Z" ||
		q.Get("to") != "2026-07-31T22:00:00Z" || q.Get("limit") != "25" || q.Get("cursor") != "c" {
		t.Errorf("%v %v", q, bad)
	}
	// The export: the filters only.
	q, _ = auditAPIQuery(auditFilter{Decision: "deny", Limit: 25, Cursor: "c"}, false)
	if q.Encode() != "decision=deny" {
		t.Errorf("export query %q", q.Encode())
	}
	if _, bad := auditAPIQuery(auditFilter{From: "yesterday", Limit: 0}, true); strings.Join(bad, ",") != "from,limit" {
		t.Errorf("bad fields %v", bad)
	}
	f := readAuditFilter(map[string][]string{"subject": {" 12345678Z "}, "limit": {"x"}, "colour": {"blue"}})
	if f.Subject != "12345678Z" || f.Limit != -1 {
		t.Errorf("%+v", f)
	}
	if f := readAuditFilter(nil); f.Limit != auditPageSizes[0] {
		t.Errorf("default page size %d", f.Limit)
	}
}

func TestOwnerPrincipal(t *testing.T) {
	for _, c := range []struct {
		p    auth.Principal
		ok   bool
		want string
	}{
		{auth.Principal{Role: auth.RolePublisher, Owner: "L01431482", Sub: "x"}, true, "L01431482"},
		// A publisher of no owner would list every owner's adapters; an
		// organisation is a requester's, not an owner.
		{auth.Principal{Role: auth.RolePublisher, Sub: "x"}, false, ""},
		{auth.Principal{Role: auth.RolePublisher, Org: "P0801900B", Sub: "x"}, false, ""},
		{auth.Principal{Role: auth.RoleAuditor, Sub: "x"}, false, ""},
	} {
		got, ok := ownerPrincipal(&session{Principal: c.p})
		if ok != c.ok || got.Owner != c.want {
			t.Errorf("%+v: %+v %v", c.p, got, ok)
		}
	}
}
