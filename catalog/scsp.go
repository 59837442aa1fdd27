package catalog

import (
	"errors"
	"fmt"
	"io/fs"
	"slices"
	"strings"
	"unicode/utf8"
)

// MaxFinalidad is the length of SCSP's Finalidad, in characters.
const MaxFinalidad = 250

// loadSCSPPurposes reads scsp_purposes.json, when the catalog has one: a
// map from an SCSP Finalidad, or the start of one, to a purpose code. The
// SOAP door reads a request's purpose from it (PurposeForFinalidad); a
// catalog without the file takes only Finalidades that are purpose codes.
func (c *Catalog) loadSCSPPurposes(fsys fs.FS) error {
	c.scspPurposes = nil
	if _, err := fs.Stat(fsys, "scsp_purposes.json"); errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	var raw map[string]string
	if err := decodeFile(fsys, "scsp_purposes.json", &raw); err != nil {
		return err
	}
	seen := map[string]string{}
	for _, text := range sortedKeys(raw) {
		code := raw[text]
		key := finalidadKey(text)
		switch {
		case key == "":
			return fmt.Errorf("scsp_purposes.json: an empty Finalidad")
		case utf8.RuneCountInString(text) > MaxFinalidad:
			return fmt.Errorf("scsp_purposes.json: Finalidad %q: longer than SCSP's %d characters", text, MaxFinalidad)
		case seen[key] != "":
			return fmt.Errorf("scsp_purposes.json: Finalidad %q: the same as %q once case and spaces are ignored", text, seen[key])
		}
		if _, ok := c.Purposes[code]; !ok {
			return fmt.Errorf("scsp_purposes.json: Finalidad %q: unknown purpose %q (not in purposes.json)", text, code)
		}
		seen[key] = text
		c.scspPurposes = append(c.scspPurposes, scspPurpose{key: key, code: code})
	}
	return nil
}

// scspPurpose is one row of scsp_purposes.json, its Finalidad normalised.
type scspPurpose struct {
	key, code string
}

// PurposeForFinalidad returns the purpose code an SCSP Finalidad stands
// for: the Finalidad itself when it is a purpose code of the catalog (Via
// Oberta's Finalidad is free text, so a case system may send the code);
// otherwise the code of the longest entry of scsp_purposes.json that the
// Finalidad equals or starts with, ignoring case and runs of white space.
// ok is false when nothing matches.
func (c *Catalog) PurposeForFinalidad(finalidad string) (code string, ok bool) {
	f := strings.TrimSpace(finalidad)
	if _, ok := c.Purposes[f]; ok {
		return f, true
	}
	key := finalidadKey(f)
	best := -1
	for i, p := range c.scspPurposes {
		if strings.HasPrefix(key, p.key) && (best < 0 || len(p.key) > len(c.scspPurposes[best].key)) {
			// A prefix must end at a word boundary: "Beca" is not the
			// start of "Becario".
			if len(key) == len(p.key) || !isWordByte(key[len(p.key)]) {
				best = i
			}
		}
	}
	if best < 0 {
		return "", false
	}
	return c.scspPurposes[best].code, true
}

func isWordByte(b byte) bool {
	return b >= 'a' && b <= 'z' || b >= '0' && b <= '9' || b >= 0x80
}

// finalidadKey normalises a Finalidad for matching: lower case, runs of
// white space made one space, trimmed.
func finalidadKey(s string) string {
	return strings.ToLower(strings.Join(strings.Fields(s), " "))
}

// ServiceOfCertificate returns the service that answers the SCSP
// certificate code: the one whose scsp_certificate it is, or that lists it
// in scsp_also_answers. ok is false when none does.
func (c *Catalog) ServiceOfCertificate(code string) (svc *Service, ok bool) {
	if code == "" {
		return nil, false
	}
	for _, name := range c.ServiceNames() {
		s, _ := c.Service(name)
		if s.SCSPCertificate == code || slices.Contains(s.SCSPAlsoAnswers, code) {
			return s, true
		}
	}
	return nil, false
}

// checkCertificates refuses a catalog in which two services answer the
// same SCSP certificate: the SOAP door would not know which to ask.
func (c *Catalog) checkCertificates() error {
	by := map[string]string{}
	for _, name := range c.ServiceNames() {
		s := c.Services[name]
		for _, code := range append([]string{s.SCSPCertificate}, s.SCSPAlsoAnswers...) {
			if other, ok := by[code]; ok {
				return fmt.Errorf("services/%s.json: SCSP certificate %s is already answered by service %s", name, code, other)
			}
			by[code] = name
		}
	}
	return nil
}
