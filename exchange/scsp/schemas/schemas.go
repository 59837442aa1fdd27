// Package schemas holds the published SCSP v3 XML schemas of the certificates
// Pont maps to, copied unchanged from a public repository (SOURCE.md names
// the origin of each file and its licence).
//
// The schemas are kept per revision of the generic SCSP v3 schemas, then per
// certificate code: FS holds "<revision>/<code>/peticion.xsd" and its
// siblings. A schema imports its siblings by relative path, so a validator
// must see a certificate's folder whole (see the schematest package).
package schemas

import (
	"embed"
	"fmt"
	"io/fs"
	"path"
)

// FS is the schemas folder: SOURCE.md and one folder per revision.
//
//go:embed SOURCE.md older later
var FS embed.FS

// The two revisions of the generic SCSP v3 schemas.
const (
	// Older: Consentimiento Si or Ley, IdExpediente up to 25 characters,
	// no CodigoUnidadTramitadora, no Procedimiento/Automatizado. The public
	// schemas of every certificate of Pont's catalog are of this revision.
	Older = "older"
	// Later: adds Consentimiento NoOpo, CodigoUnidadTramitadora,
	// Automatizado and ClaseTramite, and IdExpediente up to 65 characters.
	// Shipped for SVDINESECOPACONVIVENCIAACTUALWS01 only (see SOURCE.md).
	Later = "later"
)

// Files returns the folder of FS holding the schemas of certificate code
// (e.g. "SVDSECOPA01WS01") in revision (Older or Later), or an error when
// Pont ships none.
func Files(code, revision string) (dir string, err error) {
	if revision != Older && revision != Later {
		return "", fmt.Errorf("schemas: unknown SCSP revision %q (want %q or %q)", revision, Older, Later)
	}
	dir = path.Join(revision, code)
	if !fs.ValidPath(dir) || path.Dir(dir) != revision {
		return "", fmt.Errorf("schemas: invalid certificate code %q", code)
	}
	if _, err := fs.Stat(FS, path.Join(dir, "peticion.xsd")); err != nil {
		return "", fmt.Errorf("schemas: no %s schemas for certificate %q", revision, code)
	}
	return dir, nil
}
