package api

import (
	"bytes"
	"encoding/json"
	"net/http"
	"time"

	"github.com/pontexchange/pont/exchange/auth"
	"github.com/pontexchange/pont/exchange/fault"
)

// devTokenTTL is how long a development token lives.
const devTokenTTL = 12 * time.Hour

type devTokenRequest struct {
	Role  string `json:"role"`
	Org   string `json:"org"`
	Sub   string `json:"sub"`
	Owner string `json:"owner"`
}

// devToken answers POST /dev/token: a real signed JWT from the development
// issuer, verified later like any other issuer's. Only routed in dev mode.
func (s *server) devToken(w http.ResponseWriter, r *http.Request) {
	body, err := readBody(w, r, 4<<10)
	if err != nil {
		writeProblem(w, r, s.log, err)
		return
	}
	var req devTokenRequest
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&req); err != nil {
		writeProblem(w, r, s.log, fault.Invalid(fault.InvalidRequest, fault.FieldError{Field: "body", Message: "must be a JSON object {role, org, sub, owner}: " + err.Error()}))
		return
	}
	token, err := s.cfg.DevIssuer.Mint(auth.Principal{Role: auth.Role(req.Role), Org: req.Org, Sub: req.Sub, Owner: req.Owner}, devTokenTTL)
	if err != nil {
		writeProblem(w, r, s.log, err)
		return
	}
	// A shell can take the bare token with Accept: text/plain, no JSON tool needed.
	if r.Header.Get("Accept") == "text/plain" {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		_, _ = w.Write([]byte(token + "\n"))
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"token": token, "expires_in": int(devTokenTTL.Seconds())})
}
