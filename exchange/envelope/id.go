package envelope

import (
	"fmt"
	"strings"
)

// checkLetters maps a DNI number modulo 23 to its check letter (Real Decreto
// 1553/2005, the same table serves the NIE once its prefix is replaced).
const checkLetters = "TRWAGMYFPDXBNJZSQVHLCKE"

// NormalizeID returns id in upper case without spaces, dots or dashes: the
// form in which DNIs and NIEs are compared, checked and logged, so that
// "12345678-z" and "12345678Z" name the same person everywhere.
func NormalizeID(id string) string {
	clean := true
	for i := 0; i < len(id); i++ {
		c := id[i]
		if c == ' ' || c == '-' || c == '.' || c == '\t' || (c >= 'a' && c <= 'z') {
			clean = false
			break
		}
	}
	if clean {
		return id
	}
	var b strings.Builder
	b.Grow(len(id))
	for i := 0; i < len(id); i++ {
		c := id[i]
		switch {
		case c == ' ' || c == '-' || c == '.' || c == '\t':
		case c >= 'a' && c <= 'z':
			b.WriteByte(c - 'a' + 'A')
		default:
			b.WriteByte(c)
		}
	}
	return b.String()
}

// ValidDNI reports why id is not a valid DNI: eight digits and the check
// letter of their value modulo 23. It expects the normalised form (see
// NormalizeID) and returns nil for a valid DNI.
func ValidDNI(id string) error {
	if len(id) != 9 {
		return fmt.Errorf("a DNI has 8 digits and a check letter (9 characters), got %d characters", len(id))
	}
	n, err := digits(id[:8])
	if err != nil {
		return fmt.Errorf("a DNI starts with 8 digits: %w", err)
	}
	return checkLetter(id[8], n)
}

// ValidNIE reports why id is not a valid NIE: X, Y or Z, seven digits and
// the check letter of the number formed by the prefix (X=0, Y=1, Z=2) and
// the digits, modulo 23. It expects the normalised form (see NormalizeID)
// and returns nil for a valid NIE.
func ValidNIE(id string) error {
	if len(id) != 9 {
		return fmt.Errorf("a NIE has a letter X, Y or Z, 7 digits and a check letter (9 characters), got %d characters", len(id))
	}
	var prefix int
	switch id[0] {
	case 'X':
		prefix = 0
	case 'Y':
		prefix = 1
	case 'Z':
		prefix = 2
	default:
		return fmt.Errorf("a NIE starts with X, Y or Z, got %q", id[0])
	}
	n, err := digits(id[1:8])
	if err != nil {
		return fmt.Errorf("a NIE has 7 digits after its first letter: %w", err)
	}
	return checkLetter(id[8], prefix*10_000_000+n)
}

// ValidDNIOrNIE checks id as a NIE when it starts with X, Y or Z and as a
// DNI otherwise, for fields that accept either (an official's id, a
// citizen's token subject).
func ValidDNIOrNIE(id string) error {
	if id != "" && (id[0] == 'X' || id[0] == 'Y' || id[0] == 'Z') {
		return ValidNIE(id)
	}
	return ValidDNI(id)
}

func digits(s string) (int, error) {
	n := 0
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < '0' || c > '9' {
			return 0, fmt.Errorf("character %d is %q, not a digit", i+1, c)
		}
		n = n*10 + int(c-'0')
	}
	return n, nil
}

func checkLetter(got byte, n int) error {
	want := checkLetters[n%23]
	if got == want {
		return nil
	}
	if got < 'A' || got > 'Z' {
		return fmt.Errorf("the last character is %q, not a check letter; the check letter should be %c", got, want)
	}
	return fmt.Errorf("check letter should be %c, not %c", want, got)
}
