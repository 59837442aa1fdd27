package source

import (
	"bytes"
	"net/http"
	"net/http/httptest"
	"testing"
	"unicode/utf8"

	"golang.org/x/text/encoding/charmap"
)

// Latin1Subject's record is what an old register sends: ISO-8859-1 bytes,
// declared, the street name among them; the other records stay UTF-8.
func TestLatin1Record(t *testing.T) {
	h := New("08019")
	get := func(id string) *httptest.ResponseRecorder {
		w := httptest.NewRecorder()
		h.ServeHTTP(w, httptest.NewRequest(http.MethodGet, "/padro/v1/habitants/"+id, nil))
		if w.Code != http.StatusOK {
			t.Fatalf("GET %s: %d %s", id, w.Code, w.Body)
		}
		return w
	}
	w := get(Latin1Subject)
	if ct := w.Header().Get("Content-Type"); ct != "application/json; charset=ISO-8859-1" {
		t.Errorf("Content-Type %q, want ISO-8859-1 declared", ct)
	}
	body := w.Body.Bytes()
	if utf8.Valid(body) {
		t.Fatalf("the record is valid UTF-8, not the ISO-8859-1 the fixture stands for: %s", body)
	}
	want, err := charmap.ISO8859_1.NewEncoder().String(Latin1Street)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(body, []byte(want)) {
		t.Errorf("the record does not hold %q in ISO-8859-1: %q", Latin1Street, body)
	}
	if w := get("12345678Z"); !utf8.Valid(w.Body.Bytes()) || w.Header().Get("Content-Type") != "application/json" {
		t.Errorf("another record is not plain UTF-8 JSON: %s %q", w.Header().Get("Content-Type"), w.Body)
	}
}
