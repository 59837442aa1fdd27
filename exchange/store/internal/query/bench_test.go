package query

import (
	"testing"
	"time"

	"github.com/pontexchange/pont/exchange/store"
)

// BenchmarkArgs measures the row values of a typical record: the common
// path, on which making values storable must cost next to nothing.
func BenchmarkArgs(b *testing.B) {
	t := typical()
	for _, c := range []struct {
		name    string
		reasons []store.Reason
	}{
		{"allow", nil},
		{"deny", []store.Reason{{Code: "purpose_not_allowed", Message: "el propòsit no és permès per a aquest servei"}}},
	} {
		b.Run(c.name, func(b *testing.B) {
			t.Reasons = c.reasons
			b.ReportAllocs()
			for b.Loop() {
				if _, err := Args(t, Postgres); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// typical is a record as the pipeline writes it for a served query.
func typical() store.Transfer {
	return store.Transfer{ID: "0199a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b", Time: time.Now(), Node: "node-1", Kind: "query",
		RequesterOrg: "P0801900B", OfficialID: "38000001E", OfficialName: "Joana Puig i Ferrer",
		ProcedureCode: "DEMO", ProcedureName: "Demostració", Purpose: "demo", LegalBasis: "presumed",
		LawReference: "Llei 39/2015, art. 28.2", CaseID: "EXP-2026-00001", SubjectIDType: "DNI",
		SubjectID: "12345678Z", Service: "padro", Adapter: "padro-08019", AdapterVersion: "1.0.0",
		ModuleSHA256: "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08", Decision: store.Allow,
		PolicyRevision: "rev-42", Outcome: "ok", SCSPCode: "0003", HTTPStatus: 200, LatencyMicros: 1234,
		DataSHA256: "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"}
}
