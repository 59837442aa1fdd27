package envelope

import (
	"strings"
	"testing"
)

func TestValidDNI(t *testing.T) {
	tests := []struct {
		id      string
		wantErr string // a part of the error; "" means valid
	}{
		{"12345678Z", ""},
		{"00000000T", ""},
		{"99999999R", ""},
		{"45678901G", ""},
		{"12345678A", "check letter should be Z"},
		{"00000000R", "check letter should be T"},
		{"1234567Z", "got 8 characters"},
		{"123456789Z", "got 10"},
		{"", "got 0"},
		{"1234A678Z", `character 5 is 'A'`},
		{"123456789", "not a check letter; the check letter should be"},
		{"X1234567L", "character 1 is 'X'"},
	}
	for _, tt := range tests {
		t.Run(tt.id, func(t *testing.T) {
			checkIDError(t, ValidDNI(tt.id), tt.wantErr)
		})
	}
}

func TestValidNIE(t *testing.T) {
	tests := []struct {
		id      string
		wantErr string
	}{
		{"X1234567L", ""},
		{"Y1234567X", ""},
		{"Z1234567R", ""},
		{"X0000000T", ""},
		{"X1234567X", "check letter should be L"},
		{"Y1234567L", "check letter should be X"},
		{"Z1234567L", "check letter should be R"},
		{"A1234567L", "starts with X, Y or Z"},
		{"12345678Z", "starts with X, Y or Z"},
		{"X123456L", "got 8"},
		{"X12345678L", "got 10"},
		{"X12E4567L", `character 3 is 'E'`},
	}
	for _, tt := range tests {
		t.Run(tt.id, func(t *testing.T) {
			checkIDError(t, ValidNIE(tt.id), tt.wantErr)
		})
	}
}

func TestValidDNIOrNIE(t *testing.T) {
	for id, want := range map[string]string{
		"12345678Z": "",
		"X1234567L": "",
		"38000001E": "",
		"38000001K": "check letter should be E",
		"Y1234567L": "check letter should be X",
		"":          "got 0",
	} {
		t.Run(id, func(t *testing.T) { checkIDError(t, ValidDNIOrNIE(id), want) })
	}
}

func TestNormalizeID(t *testing.T) {
	tests := map[string]string{
		"12345678Z":      "12345678Z",
		"12345678z":      "12345678Z",
		"12345678-z":     "12345678Z",
		" 12.345.678 Z ": "12345678Z",
		"x-1234567-l":    "X1234567L",
		"":               "",
	}
	for in, want := range tests {
		t.Run(in, func(t *testing.T) {
			if got := NormalizeID(in); got != want {
				t.Errorf("NormalizeID(%q) = %q, want %q", in, got, want)
			}
		})
	}
}

func checkIDError(t *testing.T, err error, want string) {
	t.Helper()
	switch {
	case want == "" && err != nil:
		t.Errorf("got error %q, want valid", err)
	case want != "" && err == nil:
		t.Errorf("got valid, want an error containing %q", want)
	case want != "" && !strings.Contains(err.Error(), want):
		t.Errorf("got error %q, want one containing %q", err, want)
	}
}

// FuzzValidDNI checks that the DNI and NIE checks never panic, that
// normalising is idempotent, and that an accepted id is exactly one of the
// two kinds, has nine characters and keeps being accepted with a different
// check letter refused.
func FuzzValidDNI(f *testing.F) {
	for _, s := range []string{"12345678Z", "00000000T", "X1234567L", "Y1234567X", "Z1234567R", "12345678A", "1234567", "", "x-1234567-l", "ñ2345678Z"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		id := NormalizeID(in)
		if again := NormalizeID(id); again != id {
			t.Fatalf("NormalizeID is not idempotent: %q -> %q -> %q", in, id, again)
		}
		dniErr, nieErr := ValidDNI(id), ValidNIE(id)
		if dniErr == nil && nieErr == nil {
			t.Fatalf("%q is accepted both as a DNI and as a NIE", id)
		}
		if (dniErr == nil || nieErr == nil) != (ValidDNIOrNIE(id) == nil) {
			t.Fatalf("ValidDNIOrNIE(%q) disagrees with ValidDNI and ValidNIE", id)
		}
		if dniErr != nil && nieErr != nil {
			return
		}
		if len(id) != 9 {
			t.Fatalf("accepted %q of length %d", id, len(id))
		}
		for _, c := range checkLetters {
			if byte(c) == id[8] {
				continue
			}
			other := id[:8] + string(c)
			if ValidDNI(other) == nil || ValidNIE(other) == nil {
				t.Fatalf("both %q and %q are accepted", id, other)
			}
		}
	})
}
