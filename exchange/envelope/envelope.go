// Package envelope defines Pont's v1 query envelope — who asks, for which
// procedure, purpose and legal basis, about which citizen — and decides
// whether a request body is a well-formed one. It changes only when the
// envelope's shape or its field rules change; whether a well-formed query is
// allowed is the policy's business, not this package's.
package envelope

import (
	"bytes"
	"encoding/json"
	"fmt"

	"github.com/pontexchange/pont/sdk-wasm/abi"
)

// The legal bases a query may invoke, after SCSP's Consentimiento: presumed
// is Via Oberta's NoOpo (Llei 39/2015 art. 28.2), law is Ley, consent is Si.
const (
	BasisPresumed = "presumed"
	BasisLaw      = "law"
	BasisConsent  = "consent"
)

// The kinds of identity document a subject may be named by.
const (
	IDTypeDNI = "DNI"
	IDTypeNIE = "NIE"
)

// Query is one v1 query envelope, as the requester sent it after
// normalisation: document ids are upper case without spaces or dashes.
type Query struct {
	Procedure  Procedure  `json:"procedure"`
	Purpose    string     `json:"purpose"`
	LegalBasis LegalBasis `json:"legal_basis"`
	CaseID     string     `json:"case_id"`
	Official   Official   `json:"official"`
	Subject    Subject    `json:"subject"`
	// Params are read once by Parse; every later step reads them from here.
	Params Params `json:"params"`
}

// Procedure is the administrative procedure the query serves (SCSP
// Procedimiento).
type Procedure struct {
	Code string `json:"code"`
	Name string `json:"name,omitempty"`
}

// LegalBasis is what makes the transfer lawful: presumed (no objection),
// a law's reference, or a consent the citizen recorded.
type LegalBasis struct {
	Type      string `json:"type"`
	Reference string `json:"reference,omitempty"`
	ConsentID string `json:"consent_id,omitempty"`
}

// Official is the civil servant who handles the case (SCSP Funcionario).
type Official struct {
	ID   string `json:"id"`
	Name string `json:"name"`
}

// Subject is the citizen whose data is asked for (SCSP Titular); it is
// the ABI's own type, so that the adapter sees it as the requester sent it.
type Subject = abi.Subject

// PolicyView returns the envelope as plain maps, keyed by the JSON names, in
// the form OPA takes as input.request. Optional fields that are empty are
// left out, as in the JSON form. The params map is shared with the Query:
// treat the result as read-only.
func (q Query) PolicyView() map[string]any {
	basis := map[string]any{"type": q.LegalBasis.Type}
	if q.LegalBasis.Reference != "" {
		basis["reference"] = q.LegalBasis.Reference
	}
	if q.LegalBasis.ConsentID != "" {
		basis["consent_id"] = q.LegalBasis.ConsentID
	}
	procedure := map[string]any{"code": q.Procedure.Code}
	if q.Procedure.Name != "" {
		procedure["name"] = q.Procedure.Name
	}
	subject := map[string]any{"id_type": q.Subject.IDType, "id": q.Subject.ID}
	if q.Subject.Name != "" {
		subject["name"] = q.Subject.Name
	}
	if q.Subject.Surname1 != "" {
		subject["surname1"] = q.Subject.Surname1
	}
	if q.Subject.Surname2 != "" {
		subject["surname2"] = q.Subject.Surname2
	}
	view := map[string]any{
		"procedure":   procedure,
		"purpose":     q.Purpose,
		"legal_basis": basis,
		"case_id":     q.CaseID,
		"official":    map[string]any{"id": q.Official.ID, "name": q.Official.Name},
		"subject":     subject,
	}
	if p := q.Params.Object(); p != nil {
		view["params"] = p
	}
	return view
}

// MarshalJSON writes q as a single envelope that Parse reads back to q,
// so that a batch's element can be kept and run later as the query it
// is. Only the envelope's members are written (Subject is the ABI's type,
// which may grow), optional ones only when set, params only when there
// are some, and without HTML escaping. json.Marshal escapes <, > and &
// in what it returns, params included: Parse reads that as the same
// query, but with params of another text than the adapter would have
// received; call MarshalJSON, or an Encoder without HTML escaping, to
// keep it.
func (q Query) MarshalJSON() ([]byte, error) {
	w := wireQuery{
		Procedure:  q.Procedure,
		Purpose:    q.Purpose,
		LegalBasis: q.LegalBasis,
		CaseID:     q.CaseID,
		Official:   q.Official,
		Subject: wireSubject{
			IDType:   q.Subject.IDType,
			ID:       q.Subject.ID,
			Name:     q.Subject.Name,
			Surname1: q.Subject.Surname1,
			Surname2: q.Subject.Surname2,
		},
		Params: q.Params.raw,
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(w); err != nil {
		return nil, fmt.Errorf("encode query: %w", err)
	}
	return bytes.TrimSuffix(buf.Bytes(), []byte("\n")), nil
}

// wireQuery is the envelope as MarshalJSON writes it.
type wireQuery struct {
	Procedure  Procedure       `json:"procedure"`
	Purpose    string          `json:"purpose"`
	LegalBasis LegalBasis      `json:"legal_basis"`
	CaseID     string          `json:"case_id"`
	Official   Official        `json:"official"`
	Subject    wireSubject     `json:"subject"`
	Params     json.RawMessage `json:"params,omitempty"`
}

type wireSubject struct {
	IDType   string `json:"id_type"`
	ID       string `json:"id"`
	Name     string `json:"name,omitempty"`
	Surname1 string `json:"surname1,omitempty"`
	Surname2 string `json:"surname2,omitempty"`
}

func decodeObject(raw []byte) (map[string]any, error) {
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	var m map[string]any
	if err := dec.Decode(&m); err != nil {
		return nil, fmt.Errorf("decode params: %w", err)
	}
	if m == nil {
		return nil, fmt.Errorf("decode params: not an object")
	}
	return m, nil
}
