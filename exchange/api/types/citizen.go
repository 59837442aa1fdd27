package types

import "time"

// CitizenTransferV1 is a transfer of a citizen's data as her carpeta shows
// it (GET /v1/me/transfers): who asked, when, what for and on which basis,
// and what was decided. It leaves out what only an auditor needs (the
// node, the official's id, the adapter, the hashes).
type CitizenTransferV1 struct {
	// ID is the transfer record's id.
	ID string `json:"id"`
	// Time is when the request arrived, UTC.
	Time time.Time `json:"time"`
	// Kind is "query" (an organisation asked) or "self_access" (she did).
	Kind string `json:"kind"`
	// Requester is the asking organisation's NIF; absent for self_access.
	Requester string `json:"requester,omitempty"`
	// RequesterName is the organisation's name, from the catalog.
	RequesterName string `json:"requester_name,omitempty"`
	// OfficialName is the official who handles the case.
	OfficialName string `json:"official_name,omitempty"`
	// Procedure is the procedure's code.
	Procedure string `json:"procedure,omitempty"`
	// ProcedureName is the procedure's name.
	ProcedureName string `json:"procedure_name,omitempty"`
	// Purpose is the purpose code the organisation gave.
	Purpose string `json:"purpose,omitempty"`
	// LegalBasis is presumed, law, consent, or self for her own reads.
	LegalBasis string `json:"legal_basis,omitempty"`
	// LawReference is the law invoked, for legal basis law.
	LawReference string `json:"law_reference,omitempty"`
	// ConsentID is her consent invoked, for legal basis consent.
	ConsentID string `json:"consent_id,omitempty"`
	// Service is the catalog service asked.
	Service string `json:"service"`
	// Decision is allow or deny.
	Decision string `json:"decision"`
	// Outcome is "ok" or the problem code that ended the request.
	Outcome string `json:"outcome"`
	// Reasons say why it was denied or failed.
	Reasons []ReasonV1 `json:"reasons,omitempty"`
}

// CitizenTransferPageV1 is one page of a citizen's transfers, newest first.
type CitizenTransferPageV1 struct {
	// Items are the page's transfers.
	Items []CitizenTransferV1 `json:"items"`
	// NextCursor continues the list; null on the last page.
	NextCursor *string `json:"next_cursor"`
}

// ConsentV1 is a consent a citizen recorded: she allows Requester to
// consult Services for Procedure and Purpose until ExpiresAt.
type ConsentV1 struct {
	// ID is the consent's id, the consent_id a requester gives as legal basis.
	ID string `json:"id"`
	// Subject is the citizen's DNI or NIE.
	Subject string `json:"subject"`
	// Requester is the NIF of the organisation she allows.
	Requester string `json:"requester"`
	// Procedure is the procedure it is for.
	Procedure string `json:"procedure"`
	// Services are the catalog services it covers.
	Services []string `json:"services"`
	// Purpose is the purpose code it covers.
	Purpose string `json:"purpose"`
	// CreatedAt is when she recorded it.
	CreatedAt time.Time `json:"created_at"`
	// ExpiresAt is when it stops covering queries.
	ExpiresAt time.Time `json:"expires_at"`
	// RevokedAt is when she revoked it; null while it stands.
	RevokedAt *time.Time `json:"revoked_at"`
}

// ConsentListV1 is a citizen's consents, newest first, revoked ones included.
type ConsentListV1 struct {
	// Items are the consents.
	Items []ConsentV1 `json:"items"`
}

// ObjectionV1 is a citizen's objection (Llei 39/2015, art. 28.2) to
// presumed consultation of a service.
type ObjectionV1 struct {
	// ID is the objection's id.
	ID string `json:"id"`
	// Subject is the citizen's DNI or NIE.
	Subject string `json:"subject"`
	// Service is the catalog service she objects to being consulted.
	Service string `json:"service"`
	// Procedure limits the objection to one procedure; absent for every one.
	Procedure string `json:"procedure,omitempty"`
	// CreatedAt is when she recorded it.
	CreatedAt time.Time `json:"created_at"`
}

// ObjectionListV1 is a citizen's objections, newest first.
type ObjectionListV1 struct {
	// Items are the objections.
	Items []ObjectionV1 `json:"items"`
}
