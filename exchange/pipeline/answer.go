package pipeline

import (
	"bytes"
	"encoding/json"
	"fmt"
	"unicode/utf8"

	"github.com/pontexchange/pont/exchange/fault"
)

// Status is the SCSP state of an answer.
type Status struct {
	Code string `json:"code"`
	Text string `json:"text"`
}

// StatusProcessed is the SCSP state of an answered query ("Tramitada").
var StatusProcessed = Status{Code: fault.SCSPProcessed, Text: fault.SCSPProcessedText}

// Source names the adapter that answered, so the requester can cite it.
type Source struct {
	Adapter      string `json:"adapter"`
	Version      string `json:"version"`
	ModuleSHA256 string `json:"module_sha256"`
}

// AnswerV1 is the JSON shape of an answered query's body: the transfer id,
// the SCSP state, the service, the data the purpose may see, and the
// adapter that answered. The pipeline encodes it itself, so that the data
// in it is byte for byte what the transfer record's data_sha256 covers.
type AnswerV1 struct {
	TransferID string          `json:"transfer_id"`
	Status     Status          `json:"status"`
	Service    string          `json:"service"`
	Data       json.RawMessage `json:"data"`
	Source     Source          `json:"source"`
	Receipt    Receipt         `json:"receipt"`
}

// Receipt names the answer's leaf in the tamper-evident log: its inclusion
// proof can be asked for once the leaf is sealed, a second or so later, and
// must lead to this leaf hash (base64 of the RFC 6962 hash of the record's
// entry, docs/transfer-log.md).
type Receipt struct {
	TransferID string `json:"transfer_id"`
	LeafHash   []byte `json:"leaf_hash"`
}

// Answer is an allowed, answered query, ready to leave.
type Answer struct {
	TransferID string
	// Body is the whole JSON body (an AnswerV1), as the requester is to
	// receive it: write it unchanged.
	Body []byte
	// Data is the data member's value inside Body (the same bytes), whose
	// SHA-256 the transfer record holds.
	Data json.RawMessage

	open   bool // the body awaits its receipt and closing brace
	dataAt int  // where Data starts in Body
}

// encodeAnswer writes the body of an answer around data, which is compact
// JSON, without re-encoding data: the HTML escaping of encoding/json would
// change its bytes (& becomes \u0026) after they were hashed.
func encodeAnswer(transferID string, s served) Answer {
	var b bytes.Buffer
	b.Grow(len(s.data) + 256)
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	member := func(prefix string, v any) {
		b.WriteString(prefix)
		_ = enc.Encode(v) // strings and structs of strings always encode
		b.Truncate(b.Len() - 1)
	}
	member(`{"transfer_id":`, transferID)
	member(`,"status":`, StatusProcessed)
	member(`,"service":`, s.service)
	b.WriteString(`,"data":`)
	start := b.Len()
	b.Write(s.data)
	end := b.Len()
	member(`,"source":`, s.source)
	body := b.Bytes()
	return Answer{TransferID: transferID, Body: body, Data: body[start:end:end], open: true, dataAt: start}
}

// withReceipt closes the body with the receipt of the record that was
// committed: its leaf hash is known only once the record is final.
func (a Answer) withReceipt(leafHash []byte) Answer {
	if !a.open {
		return a
	}
	body := append(a.Body[:len(a.Body):len(a.Body)], `,"receipt":`...)
	r, _ := encodeUnescaped(Receipt{TransferID: a.TransferID, LeafHash: leafHash}) // a string and bytes always encode
	body = append(append(body, r...), '}')
	end := a.dataAt + len(a.Data)
	return Answer{TransferID: a.TransferID, Body: body, Data: body[a.dataAt:end:end]}
}

// compact removes insignificant space from data, changing nothing else (no
// escaping), so that the data hashed is the data sent. Data that is not
// UTF-8 is refused: JSON must be, and a decoder would otherwise replace the
// bad bytes on the requester's side, so that she received other data than
// was hashed.
func compact(data json.RawMessage) (json.RawMessage, error) {
	if !utf8.Valid(data) {
		return nil, fault.New(fault.AdapterFailed, "the adapter's data is not valid UTF-8")
	}
	var b bytes.Buffer
	if err := json.Compact(&b, data); err != nil {
		return nil, fault.Wrap(fault.AdapterFailed, err, "the adapter's data is not valid JSON")
	}
	return b.Bytes(), nil
}

// minimise keeps only the named top-level fields of data, a compact JSON
// object, sorted by name; each kept value keeps its bytes (encoding/json
// copies a RawMessage as it is when HTML escaping is off).
func minimise(data json.RawMessage, fields []string) (json.RawMessage, error) {
	var all map[string]json.RawMessage
	if err := json.Unmarshal(data, &all); err != nil {
		return nil, fault.Wrap(fault.AdapterFailed, err, "the adapter's data is not a JSON object")
	}
	kept := make(map[string]json.RawMessage, len(fields))
	for _, f := range fields {
		if v, ok := all[f]; ok {
			kept[f] = v
		}
	}
	out, err := encodeUnescaped(kept)
	if err != nil {
		return nil, fmt.Errorf("pipeline: minimise: %w", err)
	}
	return out, nil
}

// encodeUnescaped is json.Marshal without its HTML escaping, which would
// rewrite & < > in data after it was hashed.
func encodeUnescaped(v any) ([]byte, error) {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return bytes.TrimSuffix(b.Bytes(), []byte("\n")), nil
}
