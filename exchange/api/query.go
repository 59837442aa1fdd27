package api

import (
	"bytes"
	"errors"
	"io"
	"mime"
	"net/http"
	"strconv"
	"strings"

	"github.com/go-chi/chi/v5"

	"github.com/pontexchange/pont/exchange/fault"
	"github.com/pontexchange/pont/exchange/pipeline"
)

// query answers POST /v1/services/{service}/queries.
func (s *server) query(w http.ResponseWriter, r *http.Request) {
	principal, _ := PrincipalFrom(r.Context())
	body, err := readBody(w, r, s.cfg.MaxBodyBytes)
	if err != nil {
		// Refused before it is a query, but an attempt all the same.
		writeProblem(w, r, s.log, s.cfg.Pipeline.Refuse(r.Context(), principal, pipeline.KindQuery, chi.URLParam(r, "service"), err))
		return
	}
	// Most bodies are one subject's: only a body that names "subjects"
	// at all is read as a batch.
	if bytes.Contains(body, subjectsMember) && s.batchQuery(w, r, principal, chi.URLParam(r, "service"), body) {
		return
	}
	ans, err := s.cfg.Pipeline.Query(r.Context(), principal, chi.URLParam(r, "service"), body)
	if err != nil {
		writeProblem(w, r, s.log, err)
		return
	}
	writeAnswer(w, ans)
}

// writeAnswer sends an answer's body as the pipeline encoded it, byte for
// byte: its data is what the transfer record's data_sha256 covers.
func writeAnswer(w http.ResponseWriter, ans pipeline.Answer) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Content-Length", strconv.Itoa(len(ans.Body)+1))
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(ans.Body)
	_, _ = w.Write(newline)
}

var (
	newline        = []byte("\n")
	subjectsMember = []byte(`"subjects"`)
)

// readBody reads a JSON request body of at most limit bytes. A body of
// another media type is refused with 415 before it is read; no
// Content-Type at all is taken as JSON, as curl sends none with --data-binary.
func readBody(w http.ResponseWriter, r *http.Request, limit int64) ([]byte, error) {
	if err := checkJSON(r.Header.Get("Content-Type")); err != nil {
		return nil, err
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

// checkJSON accepts a JSON media type (application/json, or a +json one
// such as application/problem+json), with a UTF-8 charset if any.
func checkJSON(ct string) error {
	if ct == "" {
		return nil
	}
	mt, params, err := mime.ParseMediaType(ct)
	if err != nil {
		return fault.Invalid(fault.InvalidRequest, fault.FieldError{Field: "Content-Type", Message: "is not a valid media type: " + err.Error()})
	}
	if mt != "application/json" && !(strings.HasPrefix(mt, "application/") && strings.HasSuffix(mt, "+json")) {
		return unsupported("must be application/json, not " + mt)
	}
	if cs, ok := params["charset"]; ok && !strings.EqualFold(cs, "utf-8") {
		return unsupported("must be UTF-8 JSON, not charset " + cs)
	}
	return nil
}

func unsupported(msg string) error {
	e := fault.Invalid(fault.UnsupportedMediaType, fault.FieldError{Field: "Content-Type", Message: msg})
	e.Message = "the body's Content-Type " + msg
	return e
}
