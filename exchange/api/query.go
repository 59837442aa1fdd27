package api

import (
	"errors"
	"io"
	"net/http"

	"github.com/go-chi/chi/v5"

	"github.com/pontexchange/pont/exchange/fault"
)

// query answers POST /v1/services/{service}/queries.
func (s *server) query(w http.ResponseWriter, r *http.Request) {
	principal, _ := PrincipalFrom(r.Context())
	body, err := readBody(w, r, s.cfg.MaxBodyBytes)
	if err != nil {
		writeProblem(w, r, s.log, err)
		return
	}
	ans, err := s.cfg.Pipeline.Query(r.Context(), principal, chi.URLParam(r, "service"), body)
	if err != nil {
		writeProblem(w, r, s.log, err)
		return
	}
	writeJSON(w, http.StatusOK, ans)
}

// readBody reads a JSON request body of at most limit bytes.
func readBody(w http.ResponseWriter, r *http.Request, limit int64) ([]byte, error) {
	if ct := r.Header.Get("Content-Type"); ct != "" && !isJSON(ct) {
		return nil, fault.Invalid(fault.InvalidRequest, fault.FieldError{Field: "Content-Type", Message: "must be application/json, not " + ct})
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, limit))
	var tooBig *http.MaxBytesError
	switch {
	case errors.As(err, &tooBig):
		return nil, fault.Invalid(fault.InvalidRequest, fault.FieldError{Field: "body", Message: "is larger than the limit of " + itoa(limit) + " bytes"})
	case err != nil:
		return nil, fault.Wrap(fault.InvalidRequest, err, "the request body could not be read")
	}
	return body, nil
}

func isJSON(ct string) bool {
	for i := 0; i < len(ct); i++ {
		if ct[i] == ';' {
			ct = ct[:i]
			break
		}
	}
	switch ct {
	case "application/json", "application/problem+json":
		return true
	}
	return false
}
