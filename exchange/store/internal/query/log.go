package query

import (
	"crypto/rand"

	"github.com/pontexchange/pont/exchange/store"
)

// Salts hands out fresh salts for records given without one, reading
// crypto/rand once for many of them. The zero value is ready to use; it is
// not safe for concurrent use.
type Salts struct{ buf []byte }

// saltsPerRead is how many salts one read of crypto/rand fills.
const saltsPerRead = 64

// Next answers store.SaltSize random bytes that no other call answers.
func (s *Salts) Next() []byte {
	if len(s.buf) < store.SaltSize {
		s.buf = make([]byte, saltsPerRead*store.SaltSize)
		_, _ = rand.Read(s.buf) // never fails: crypto/rand crashes the program rather than answer less
	}
	b := s.buf[:store.SaltSize:store.SaltSize]
	s.buf = s.buf[store.SaltSize:]
	return b
}
