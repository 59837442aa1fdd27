// Package simsource holds what every simulated source system shares: the
// fault-injection subjects they all honour and the writing of their JSON
// answers. It changes when the fixtures' contract (plugins/README.md)
// changes.
package simsource

import (
	"encoding/json"
	"log/slog"
	"net/http"
	"time"

	"golang.org/x/text/encoding/charmap"
)

// Fault-injection subjects that every simulated source honours.
const (
	// SlowSubject makes a source wait SlowDelay before answering, so that
	// the broker's adapter deadline (adapter_timeout) can be tested.
	SlowSubject = "99999999R"
	// BrokenSubject makes a source answer a record that a faithful adapter
	// passes through in a shape that breaks the catalog's answer schema
	// (adapter_failed).
	BrokenSubject = "11111111H"
	// DownSubject makes a source answer 503, as a source system in
	// maintenance would (source_unavailable).
	DownSubject = "22222222J"
)

// SlowDelay is how long a source keeps a SlowSubject request waiting.
const SlowDelay = 30 * time.Second

// Stall holds a SlowSubject request for SlowDelay, returning early when the
// client goes away so that an abandoned request frees its goroutine. It
// reports whether the full delay passed.
func Stall(r *http.Request) bool {
	t := time.NewTimer(SlowDelay)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-r.Context().Done():
		return false
	}
}

// Faults answers the subjects that inject a source-level fault (slow, down)
// and reports whether it did; the broken subject is each source's own
// business, since only it knows what shape breaks its adapter's answer.
func Faults(w http.ResponseWriter, r *http.Request, id string) bool {
	switch id {
	case SlowSubject:
		if Stall(r) {
			Error(w, http.StatusGatewayTimeout, "the source took too long")
		}
		return true
	case DownSubject:
		Error(w, http.StatusServiceUnavailable, "the source system is in maintenance")
		return true
	}
	return false
}

// JSON writes v as the JSON body of a 200 answer.
func JSON(w http.ResponseWriter, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		slog.Error("simulated source: encoding the answer", "err", err)
		Error(w, http.StatusInternalServerError, "internal error")
		return
	}
	w.Header().Set("Content-Type", "application/json")
	_, _ = w.Write(b)
}

// JSONLatin1 writes v as the JSON body of a 200 answer in ISO-8859-1,
// declared in the Content-Type, as old municipal systems still answer: the
// broker must pass the bytes on for the adapter to decode.
func JSONLatin1(w http.ResponseWriter, v any) {
	b, err := json.Marshal(v)
	if err == nil {
		b, err = charmap.ISO8859_1.NewEncoder().Bytes(b)
	}
	if err != nil {
		slog.Error("simulated source: encoding the answer in ISO-8859-1", "err", err)
		Error(w, http.StatusInternalServerError, "internal error")
		return
	}
	w.Header().Set("Content-Type", "application/json; charset=ISO-8859-1")
	_, _ = w.Write(b)
}

// Error writes a JSON error body with status.
func Error(w http.ResponseWriter, status int, message string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	b, _ := json.Marshal(map[string]any{"error": map[string]any{"status": status, "message": message}})
	_, _ = w.Write(b)
}
