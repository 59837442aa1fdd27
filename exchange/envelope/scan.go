package envelope

import (
	"bytes"
	"encoding/json"
	"iter"
)

// members yields the name and raw value of each member of obj, in order,
// duplicates included. obj must be a valid JSON object (json.Valid): the
// scanner relies on it and does not re-check the grammar, which is what
// makes it several times faster than json.Decoder's tokens.
func members(obj []byte) iter.Seq2[string, json.RawMessage] {
	return func(yield func(string, json.RawMessage) bool) {
		i := skipSpace(obj, 1) // past '{'
		for i < len(obj) && obj[i] != '}' {
			end := skipString(obj, i)
			key := unquote(obj[i:end])
			i = skipSpace(obj, end)
			i = skipSpace(obj, i+1) // past ':'
			vend := skipValue(obj, i)
			if !yield(key, obj[i:vend]) {
				return
			}
			i = skipSpace(obj, vend)
			if i < len(obj) && obj[i] == ',' {
				i = skipSpace(obj, i+1)
			}
		}
	}
}

func skipSpace(b []byte, i int) int {
	for i < len(b) && (b[i] == ' ' || b[i] == '\t' || b[i] == '\n' || b[i] == '\r') {
		i++
	}
	return i
}

// skipString returns the index after the string that starts at b[i] ('"').
func skipString(b []byte, i int) int {
	for i++; i < len(b); i++ {
		switch b[i] {
		case '\\':
			i++
		case '"':
			return i + 1
		}
	}
	return len(b)
}

// skipValue returns the index after the value that starts at b[i].
func skipValue(b []byte, i int) int {
	if i >= len(b) {
		return i
	}
	switch b[i] {
	case '"':
		return skipString(b, i)
	case '{', '[':
		depth := 0
		for i < len(b) {
			switch b[i] {
			case '"':
				i = skipString(b, i)
				continue
			case '{', '[':
				depth++
			case '}', ']':
				depth--
				if depth == 0 {
					return i + 1
				}
			}
			i++
		}
		return i
	default: // a number, true, false or null
		for i < len(b) && b[i] != ',' && b[i] != '}' && b[i] != ']' && b[i] != ' ' && b[i] != '\t' && b[i] != '\n' && b[i] != '\r' {
			i++
		}
		return i
	}
}

// unquote returns the text of a valid JSON string literal.
func unquote(lit []byte) string {
	if bytes.IndexByte(lit, '\\') < 0 {
		return string(lit[1 : len(lit)-1])
	}
	var s string
	_ = json.Unmarshal(lit, &s) // valid JSON, so it cannot fail
	return s
}

// elements yields each element of arr, in order. arr must be a valid JSON
// array (json.Valid), as for members: a batch of thousands of subjects is
// walked once, without decoding what ParseBatch reads again member by
// member.
func elements(arr []byte) iter.Seq[json.RawMessage] {
	return func(yield func(json.RawMessage) bool) {
		i := skipSpace(arr, 1) // past '['
		for i < len(arr) && arr[i] != ']' {
			end := skipValue(arr, i)
			if !yield(arr[i:end]) {
				return
			}
			i = skipSpace(arr, end)
			if i < len(arr) && arr[i] == ',' {
				i = skipSpace(arr, i+1)
			}
		}
	}
}

// rawMembers is members with each name as its string literal, quotes and
// escapes included, for writing it back unchanged.
func rawMembers(obj []byte) iter.Seq2[[]byte, json.RawMessage] {
	return func(yield func([]byte, json.RawMessage) bool) {
		i := skipSpace(obj, 1) // past '{'
		for i < len(obj) && obj[i] != '}' {
			end := skipString(obj, i)
			lit := obj[i:end]
			i = skipSpace(obj, end)
			i = skipSpace(obj, i+1) // past ':'
			vend := skipValue(obj, i)
			if !yield(lit, obj[i:vend]) {
				return
			}
			i = skipSpace(obj, vend)
			if i < len(obj) && obj[i] == ',' {
				i = skipSpace(obj, i+1)
			}
		}
	}
}

// shape reports whether obj, a valid JSON value, is an object with a
// subject member and one with a subjects member. It allocates nothing
// for names without escapes: it runs before every envelope ParseBatch
// reads.
func shape(obj []byte) (subject, subjects bool) {
	if len(obj) == 0 || obj[0] != '{' {
		return false, false
	}
	for lit := range rawMembers(obj) {
		name := lit[1 : len(lit)-1]
		if bytes.IndexByte(lit, '\\') >= 0 {
			name = []byte(unquote(lit))
		}
		switch string(name) {
		case "subject":
			subject = true
		case "subjects":
			subjects = true
		}
	}
	return subject, subjects
}
