package translog

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/pontexchange/pont/exchange/store"
)

var at = time.Date(2026, 12, 7, 5, 30, 0, 123456000, time.UTC)

func transfer() *store.Transfer {
	return &store.Transfer{ID: "0199a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b", Time: at, Node: "node-1", Kind: "query",
		RequesterOrg: "P0801900B", OfficialID: "38000001E", OfficialName: "Joana <Puig> & \"Ferrer\"\u2028",
		ProcedureCode: "DEMO", ProcedureName: "Demostració", Purpose: "demo", LegalBasis: "presumed",
		CaseID: "EXP\n\x01", SubjectIDType: "DNI", SubjectID: "12345678Z", Service: "padro",
		Adapter: "padro-08019", AdapterVersion: "1.0.0", ModuleSHA256: "ab", Decision: store.Allow,
		Reasons: []store.Reason{{Code: "c", Message: "m\\"}}, PolicyRevision: "rev", Outcome: "ok",
		SCSPCode: "0003", HTTPStatus: 200, LatencyMicros: 1234, DataSHA256: "e3",
		Salt: bytes.Repeat([]byte{7}, store.SaltSize)}
}

// TestTransferEntry pins the entry's bytes: they are a contract with every
// verifier (docs/transfer-log.md), and must not change by accident.
func TestTransferEntry(t *testing.T) {
	tr := transfer()
	entry, err := Entry(tr, nil)
	if err != nil {
		t.Fatal(err)
	}
	personal := `{"subject_id_type":"DNI","subject_id":"12345678Z","official_id":"38000001E","official_name":"Joana <Puig> & \"Ferrer\"` + "\u2028" + `","case_id":"EXP\n\u0001","consent_id":"","reasons":[{"code":"c","message":"m\\"}],"data_sha256":"e3"}`
	if got := string(TransferPersonal(tr)); got != personal {
		t.Fatalf("personal =\n%s\nwant\n%s", got, personal)
	}
	sum := sha256.Sum256(append(bytes.Repeat([]byte{7}, store.SaltSize), personal...))
	want := `{"v":1,"kind":"query","id":"0199a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b","time":"2026-12-07T05:30:00.123456Z","node":"node-1",` +
		`"requester":"P0801900B","procedure":"DEMO","procedure_name":"Demostració","purpose":"demo","legal_basis":"presumed","law_reference":"",` +
		`"service":"padro","adapter":"padro-08019","adapter_version":"1.0.0","module_sha256":"ab","decision":"allow","policy_revision":"rev",` +
		`"outcome":"ok","scsp_code":"0003","http_status":200,"latency_us":1234,"personal":"` + hex.EncodeToString(sum[:]) + `"}`
	if string(entry) != want {
		t.Fatalf("entry =\n%s\nwant\n%s", entry, want)
	}
	if !json.Valid(entry) || !json.Valid(TransferPersonal(tr)) {
		t.Fatal("not JSON")
	}
}

// TestJobTransferEntry: a job's element carries its job as "job", after
// "latency_us"; the job is not personal (the commitment is the one of the
// same record without it), and pruning keeps it in the entry.
func TestJobTransferEntry(t *testing.T) {
	tr := transfer()
	tr.JobID = "0199a1b2-c3d4-7e5f-8a9b-00000000j0b1"
	entry, err := Entry(tr, nil)
	if err != nil {
		t.Fatal(err)
	}
	plain, _ := Entry(transfer(), nil)
	personal := `,"personal":"` + Commit(transfer(), nil) + `"}`
	head, ok := strings.CutSuffix(string(plain), personal)
	if !ok {
		t.Fatalf("entry without a job does not end with its commitment: %s", plain)
	}
	if want := head + `,"job":"0199a1b2-c3d4-7e5f-8a9b-00000000j0b1"` + personal; string(entry) != want {
		t.Fatalf("entry =\n%s\nwant\n%s", entry, want)
	}
	if !json.Valid(entry) {
		t.Fatal("not JSON")
	}
	if Commit(tr, nil) != Commit(transfer(), nil) {
		t.Error("the job changes the commitment to the personal fields")
	}
	pruned := *tr
	pruned.SubjectID, pruned.SubjectIDType, pruned.OfficialID, pruned.OfficialName, pruned.CaseID = "", "", "", "", ""
	pruned.Reasons, pruned.DataSHA256, pruned.Salt, pruned.PersonalSHA256 = nil, "", nil, Commit(tr, nil)
	if again, _ := Entry(&pruned, nil); !bytes.Equal(again, entry) {
		t.Errorf("the pruned element's entry differs:\n%s\n%s", again, entry)
	}
}

// TestSCSPTransferEntry: the answer to an SCSP request carries its
// IdPeticion as "scsp_request" and its IdSolicitud as "scsp_solicitud",
// after "job", each only when set; neither is personal (the commitment is
// the one of the same record without them), and pruning keeps them in the
// entry.
func TestSCSPTransferEntry(t *testing.T) {
	plain, _ := Entry(transfer(), nil)
	personal := `,"personal":"` + Commit(transfer(), nil) + `"}`
	head, ok := strings.CutSuffix(string(plain), personal)
	if !ok {
		t.Fatalf("entry without an SCSP request does not end with its commitment: %s", plain)
	}
	for _, c := range []struct {
		name                    string
		job, request, solicitud string
		members                 string
	}{
		{"both", "", "PONT-20261207-000000000042", "SOL-0001",
			`,"scsp_request":"PONT-20261207-000000000042","scsp_solicitud":"SOL-0001"`},
		{"a job's element", "0199a1b2-c3d4-7e5f-8a9b-00000000j0b1", "PONT-1", "SOL-\"2\"",
			`,"job":"0199a1b2-c3d4-7e5f-8a9b-00000000j0b1","scsp_request":"PONT-1","scsp_solicitud":"SOL-\"2\""`},
		{"request only", "", "PONT-1", "", `,"scsp_request":"PONT-1"`},
		{"solicitud only", "", "", "SOL-1", `,"scsp_solicitud":"SOL-1"`},
	} {
		t.Run(c.name, func(t *testing.T) {
			tr := transfer()
			tr.JobID, tr.SCSPRequestID, tr.SCSPSolicitudID = c.job, c.request, c.solicitud
			entry, err := Entry(tr, nil)
			if err != nil {
				t.Fatal(err)
			}
			if want := head + c.members + personal; string(entry) != want {
				t.Fatalf("entry =\n%s\nwant\n%s", entry, want)
			}
			if !json.Valid(entry) {
				t.Fatal("not JSON")
			}
			if Commit(tr, nil) != Commit(transfer(), nil) {
				t.Error("the SCSP request changes the commitment to the personal fields")
			}
			pruned := *tr
			pruned.SubjectID, pruned.SubjectIDType, pruned.OfficialID, pruned.OfficialName, pruned.CaseID = "", "", "", "", ""
			pruned.Reasons, pruned.DataSHA256, pruned.Salt, pruned.PersonalSHA256 = nil, "", nil, Commit(tr, nil)
			if again, _ := Entry(&pruned, nil); !bytes.Equal(again, entry) {
				t.Errorf("the pruned record's entry differs:\n%s\n%s", again, entry)
			}
		})
	}
}

// TestJobResultsDeletedEntry pins the entry of a job's results deleted:
// its members in the documented order, no personal field but the empty
// ones every event commits to.
func TestJobResultsDeletedEntry(t *testing.T) {
	salt := bytes.Repeat([]byte{5}, store.SaltSize)
	e := store.Event{ID: "0199a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b:job_results_deleted", Time: at, Node: "node-1",
		Kind: store.EventJobResultsDeleted, Ref: "0199a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b", Requester: "P0801900B",
		Service: "padro", Count: 10000, Salt: salt}
	entry, err := Entry(nil, &e)
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(append(slices.Clone(salt), `{"subject":"","actor":"","filter":""}`...))
	want := `{"v":1,"kind":"job_results_deleted","id":"0199a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b:job_results_deleted",` +
		`"time":"2026-12-07T05:30:00.123456Z","node":"node-1","ref":"0199a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b",` +
		`"requester":"P0801900B","service":"padro","count":10000,"personal":"` + hex.EncodeToString(sum[:]) + `"}`
	if string(entry) != want {
		t.Fatalf("entry =\n%s\nwant\n%s", entry, want)
	}
}

// TestEntryFollowsEveryField: changing any personal field, or the salt,
// changes the entry; once pruned, the kept commitment gives the same entry.
func TestEntryFollowsEveryField(t *testing.T) {
	base, _ := Entry(transfer(), nil)
	for name, change := range map[string]func(*store.Transfer){
		"subject":   func(t *store.Transfer) { t.SubjectID = "00000000T" },
		"official":  func(t *store.Transfer) { t.OfficialName = "x" },
		"case":      func(t *store.Transfer) { t.CaseID = "x" },
		"reason":    func(t *store.Transfer) { t.Reasons[0].Message = "x" },
		"data hash": func(t *store.Transfer) { t.DataSHA256 = "x" },
		"salt":      func(t *store.Transfer) { t.Salt = bytes.Repeat([]byte{8}, store.SaltSize) },
		"requester": func(t *store.Transfer) { t.RequesterOrg = "x" },
		"time":      func(t *store.Transfer) { t.Time = t.Time.Add(time.Microsecond) },
		"status":    func(t *store.Transfer) { t.HTTPStatus = 403 },
		"job":       func(t *store.Transfer) { t.JobID = "j" },
	} {
		tr := transfer()
		change(tr)
		if e, _ := Entry(tr, nil); bytes.Equal(e, base) {
			t.Errorf("changing the %s leaves the entry as it was", name)
		}
	}
	tr := transfer()
	kept := Commit(tr, nil)
	pruned := transfer()
	pruned.SubjectID, pruned.SubjectIDType, pruned.OfficialID, pruned.OfficialName, pruned.CaseID = "", "", "", "", ""
	pruned.Reasons, pruned.DataSHA256, pruned.Salt, pruned.PersonalSHA256 = nil, "", nil, kept
	if e, _ := Entry(pruned, nil); !bytes.Equal(e, base) {
		t.Errorf("a pruned record's entry differs:\n%s\n%s", e, base)
	}
}

func TestEventEntries(t *testing.T) {
	exp := at.Add(time.Hour)
	for _, e := range []store.Event{
		{ID: "c1:consent_created", Time: at, Kind: store.EventConsentCreated, Ref: "c1", Requester: "P0801900B", Procedure: "DEMO", Purpose: "demo", Services: []string{"padro", "prestacions"}, ExpiresAt: &exp, Subject: "12345678Z"},
		{ID: "c1:consent_revoked", Time: at, Kind: store.EventConsentRevoked, Ref: "c1", Requester: "P0801900B", Procedure: "DEMO", Purpose: "demo", Subject: "12345678Z"},
		{ID: "o1:objection_recorded", Time: at, Kind: store.EventObjectionRecorded, Ref: "o1", Service: "padro", Subject: "12345678Z"},
		{ID: "o1:objection_withdrawn", Time: at, Kind: store.EventObjectionWithdrawn, Ref: "o1", Service: "padro", Subject: "12345678Z"},
		{ID: "r1", Time: at, Node: "n", Kind: store.EventLogRead, Operation: "search", Count: 3, Actor: "dpo", Filter: "subject=12345678Z"},
		{ID: "p1", Time: at, Node: "n", Kind: store.EventLogPruned, Before: &exp, Count: 10},
		{ID: "j1:job_results_deleted", Time: at, Node: "n", Kind: store.EventJobResultsDeleted, Ref: "j1",
			Requester: "P0801900B", Service: "padro", Count: 200},
		{ID: "padro-08019@1.0.0:adapter_published", Time: at, Kind: store.EventAdapterPublished, Ref: "padro-08019@1.0.0",
			Owner: "L01080193", Adapter: "padro-08019", Version: "1.0.0", Services: []string{"padro"}, Scope: "08019",
			ModuleSHA256: "ab", KeyID: "k1", Signature: "h.p.s", Actor: "dpo"},
		{ID: "padro-08019:7:adapter_activated", Time: at, Kind: store.EventAdapterActivated, Ref: "padro-08019@1.0.0",
			Owner: "L01080193", Adapter: "padro-08019", Version: "1.0.0", ModuleSHA256: "ab", Actor: "dpo"},
		{ID: "padro-08019:8:adapter_rolled_back", Time: at, Kind: store.EventAdapterRolledBack, Ref: "padro-08019@0.9.0",
			Owner: "L01080193", Adapter: "padro-08019", Version: "0.9.0", ModuleSHA256: "cd", Actor: "dpo"},
	} {
		e.Salt = bytes.Repeat([]byte{1}, store.SaltSize)
		entry, err := Entry(nil, &e)
		if err != nil {
			t.Fatal(err)
		}
		var m map[string]any
		if err := json.Unmarshal(entry, &m); err != nil {
			t.Fatalf("%s: %v: %s", e.Kind, err, entry)
		}
		if m["kind"] != e.Kind || m["id"] != e.ID || len(m["personal"].(string)) != 64 {
			t.Errorf("%s: %s", e.Kind, entry)
		}
		if strings.Contains(string(entry), "12345678Z") || strings.Contains(string(entry), "dpo") {
			t.Errorf("%s: personal data in the entry: %s", e.Kind, entry)
		}
	}
	if _, err := Entry(nil, &store.Event{ID: "x", Kind: "nope"}); err == nil {
		t.Error("an unknown kind was encoded")
	}
}

// TestAdapterEntries pins the entries of the adapter registry's kinds, as
// TestTransferEntry pins a transfer's: members in the documented order,
// each present even when empty, the publisher's subject only in the
// commitment.
func TestAdapterEntries(t *testing.T) {
	salt := bytes.Repeat([]byte{3}, store.SaltSize)
	commitment := func(actor string) string {
		sum := sha256.Sum256(append(slices.Clone(salt), `{"subject":"","actor":"`+actor+`","filter":""}`...))
		return hex.EncodeToString(sum[:])
	}
	const head = `{"v":1,"kind":"%s","id":"%s","time":"2026-12-07T05:30:00.123456Z","node":"",`
	for _, c := range []struct {
		name  string
		event store.Event
		want  string
	}{
		{"published", store.Event{ID: "padro-08019@1.0.0:adapter_published", Time: at, Kind: store.EventAdapterPublished,
			Ref: "padro-08019@1.0.0", Owner: "L01080193", Adapter: "padro-08019", Version: "1.0.0",
			Services: []string{"padro", "padro-historic"}, Scope: "08019", ModuleSHA256: "9f86d081",
			KeyID: "ajuntament-2026", Signature: "eyJhbGciOiJFZERTQSJ9..c2ln", Actor: "publisher@ajuntament"},
			fmt.Sprintf(head, "adapter_published", "padro-08019@1.0.0:adapter_published") +
				`"ref":"padro-08019@1.0.0","owner":"L01080193","adapter":"padro-08019","version":"1.0.0",` +
				`"services":["padro","padro-historic"],"scope":"08019","module_sha256":"9f86d081",` +
				`"key_id":"ajuntament-2026","signature":"eyJhbGciOiJFZERTQSJ9..c2ln","personal":"` + commitment("publisher@ajuntament") + `"}`},
		{"published with nothing optional", store.Event{ID: "x@2:adapter_published", Time: at, Kind: store.EventAdapterPublished,
			Ref: "x@2", Adapter: "x", Version: "2"},
			fmt.Sprintf(head, "adapter_published", "x@2:adapter_published") +
				`"ref":"x@2","owner":"","adapter":"x","version":"2","services":[],"scope":"","module_sha256":"",` +
				`"key_id":"","signature":"","personal":"` + commitment("") + `"}`},
		{"activated", store.Event{ID: "padro-08019:12:adapter_activated", Time: at, Kind: store.EventAdapterActivated,
			Ref: "padro-08019@1.0.0", Owner: "L01080193", Adapter: "padro-08019", Version: "1.0.0", ModuleSHA256: "9f86d081",
			Services: []string{"ignored"}, KeyID: "ignored", Actor: "operator"},
			fmt.Sprintf(head, "adapter_activated", "padro-08019:12:adapter_activated") +
				`"ref":"padro-08019@1.0.0","owner":"L01080193","adapter":"padro-08019","version":"1.0.0",` +
				`"module_sha256":"9f86d081","personal":"` + commitment("operator") + `"}`},
		{"rolled back", store.Event{ID: "padro-08019:13:adapter_rolled_back", Time: at, Kind: store.EventAdapterRolledBack,
			Ref: "padro-08019@0.9.0", Owner: "L01080193", Adapter: "padro-08019", Version: "0.9.0", ModuleSHA256: "e3b0c442",
			Actor: "operator"},
			fmt.Sprintf(head, "adapter_rolled_back", "padro-08019:13:adapter_rolled_back") +
				`"ref":"padro-08019@0.9.0","owner":"L01080193","adapter":"padro-08019","version":"0.9.0",` +
				`"module_sha256":"e3b0c442","personal":"` + commitment("operator") + `"}`},
	} {
		t.Run(c.name, func(t *testing.T) {
			e := c.event
			e.Salt = salt
			entry, err := Entry(nil, &e)
			if err != nil {
				t.Fatal(err)
			}
			if string(entry) != c.want {
				t.Fatalf("entry =\n%s\nwant\n%s", entry, c.want)
			}
			// Pruned, it keeps its entry.
			e.PersonalSHA256, e.Actor, e.Salt = Commit(nil, &e), "", nil
			if again, _ := Entry(nil, &e); !bytes.Equal(again, entry) {
				t.Errorf("the pruned event's entry differs:\n%s", again)
			}
		})
	}
}

// FuzzQuote: every string encodes to a JSON string that decodes to the same
// text (invalid UTF-8 as U+FFFD, as Go decodes it).
func FuzzQuote(f *testing.F) {
	for _, s := range []string{"", "a\"b\\c", "\x00\x1f\u2028<>&", "\xff", "Demostració", "é\xc3x\ufffd\xff€😀\x7f", "\xe2\x82"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		q := quote(nil, s)
		if ref := quoteByByte(nil, s); !bytes.Equal(q, ref) {
			t.Fatalf("%q -> %s, the plain encoder's is %s", s, q, ref)
		}
		var back string
		if err := json.Unmarshal(q, &back); err != nil {
			t.Fatalf("%q -> %s: %v", s, q, err)
		}
		want := strings.ToValidUTF8(s, "\uFFFD")
		if back != want && !strings.ContainsRune(s, 0xFFFD) {
			// Go replaces each invalid byte, ToValidUTF8 each run: compare with Go's own view.
			var viaGo string
			raw, _ := json.Marshal(s)
			_ = json.Unmarshal(raw, &viaGo)
			if back != viaGo {
				t.Fatalf("%q -> %s -> %q, want %q", s, q, back, viaGo)
			}
		}
	})
}

// quoteByByte is quote as first written, a byte at a time: quote copies
// runs of bytes instead, and must write the same.
func quoteByByte(b []byte, s string) []byte {
	b = append(b, '"')
	for i := 0; i < len(s); {
		c := s[i]
		if c >= 0x20 && c != '"' && c != '\\' && c < utf8.RuneSelf {
			b = append(b, c)
			i++
			continue
		}
		if c >= utf8.RuneSelf {
			r, size := utf8.DecodeRuneInString(s[i:])
			if r == utf8.RuneError && size == 1 {
				b = append(b, "\uFFFD"...)
			} else {
				b = append(b, s[i:i+size]...)
			}
			i += size
			continue
		}
		switch c {
		case '"':
			b = append(b, `\"`...)
		case '\\':
			b = append(b, `\\`...)
		case '\b':
			b = append(b, `\b`...)
		case '\t':
			b = append(b, `\t`...)
		case '\n':
			b = append(b, `\n`...)
		case '\f':
			b = append(b, `\f`...)
		case '\r':
			b = append(b, `\r`...)
		default:
			b = append(b, `\u00`...)
			b = append(b, hexDigits[c>>4], hexDigits[c&0xf])
		}
		i++
	}
	return append(b, '"')
}

// TestLongEntryIsCut: values full of control characters, each at the
// store's length limit, still give an entry that an entry bundle can hold.
func TestLongEntryIsCut(t *testing.T) {
	tr := transfer()
	long := strings.Repeat("\x01", 1024)
	tr.ProcedureCode, tr.ProcedureName, tr.Purpose, tr.LegalBasis, tr.LawReference = long, long, long, long, long
	tr.Adapter, tr.AdapterVersion, tr.ModuleSHA256, tr.PolicyRevision, tr.Outcome, tr.RequesterOrg = long, long, long, long, long, long+"é"
	entry, err := Entry(tr, nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(entry) > MaxEntry || !json.Valid(entry) {
		t.Fatalf("%d bytes, valid JSON %v", len(entry), json.Valid(entry))
	}
	var m map[string]any
	_ = json.Unmarshal(entry, &m)
	if p := m["purpose"].(string); !strings.HasSuffix(p, "…") || len(p) > MaxMember {
		t.Errorf("purpose not cut: %d bytes", len(p))
	}
	if m["service"] != "padro" {
		t.Errorf("a short member was cut: %v", m["service"])
	}
	again, _ := Entry(tr, nil)
	if !bytes.Equal(entry, again) {
		t.Error("the cut entry is not deterministic")
	}
}

// BenchmarkEntry encodes a typical transfer's entry and hashes it into its
// leaf hash, as the sealer does for every record and a server for every
// entry it sends.
func BenchmarkEntry(b *testing.B) {
	tr := transfer()
	b.ReportAllocs()
	for b.Loop() {
		entry, err := Entry(tr, nil)
		if err != nil {
			b.Fatal(err)
		}
		_ = LeafHash(entry)
	}
}
