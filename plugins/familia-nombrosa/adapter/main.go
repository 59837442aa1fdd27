// Command adapter is the large-family adapter of a region: it asks the
// region's register of large-family titles for the title the subject holds
// and answers the catalog's familia-nombrosa shape (SVDSCTFNWS01). One
// module serves every region; each deployment's manifest names its region
// and its source_url.
//
// Build: GOOS=wasip1 GOARCH=wasm go build -buildmode=c-shared -o familia-nombrosa.wasm .
package main

import (
	"net/url"
	"strings"
	"time"

	sdk "github.com/pontexchange/pont/sdk-wasm"
	"github.com/pontexchange/pont/sdk-wasm/jsonread"
)

func main() {}

func init() { sdk.Handle(handle) }

// The adapter reads the source's record with a small hand-written reader
// (jsonread) and writes its answer with sdk.Object, not with encoding/json:
// inside the Wasm guest, reflection was most of the cost of a call.

// resposta is the part of the register's answer the adapter reads.
type resposta struct {
	Comunitat codi
	Titol     titol
}

type codi struct{ Codi, Nom string }

type titol struct {
	Numero, Categoria, Vigent    string
	DataExpedicio, DataCaducitat string
	NombreFills                  int64
	Membres                      []membre
}

type membre struct {
	TipusDocument, Document, Nom, Cognom1, Cognom2, DataNaixement, Condicio string
}

var categories = map[string]string{"GENERAL": "G", "ESPECIAL": "E"}

var relationships = map[string]string{"TITULAR": "holder", "CONJUGE": "spouse", "FILL": "child"}

// src is the system the adapter asks; its messages are the adapter's
// error answers.
var src = sdk.Source{
	Name:     "the large-family register",
	NotFound: "the region holds no large-family title for the subject",
}

func handle(req *sdk.Request) (any, error) {
	base, err := sdk.BaseURL("source_url")
	if err != nil {
		return nil, err
	}
	body, err := src.Get(base + "/familia-nombrosa/v1/titols?document=" + url.QueryEscape(req.Subject.ID))
	if err != nil {
		return nil, err
	}
	r, err := readResposta(body)
	if err != nil {
		return nil, src.Unreadable(err)
	}
	// The catalog's familia-nombrosa answer, its fields in the catalog's
	// order; a beneficiary's optional fields are left out when the register
	// has nothing for them.
	t := r.Titol
	a := &sdk.Object{}
	a.Object("region", (&sdk.Object{}).String("code", r.Comunitat.Codi).String("name", r.Comunitat.Nom))
	a.String("title_number", t.Numero)
	a.String("category", orRaw(categories, t.Categoria))
	a.Bool("valid", strings.EqualFold(t.Vigent, "S"))
	a.String("issue_date", isoDate(t.DataExpedicio))
	a.String("expiry_date", isoDate(t.DataCaducitat))
	a.Int("children", t.NombreFills)
	beneficiaries := make([]*sdk.Object, 0, len(t.Membres))
	for _, m := range t.Membres {
		b := &sdk.Object{}
		optional(b, "id_type", m.TipusDocument)
		optional(b, "id", m.Document)
		b.String("name", m.Nom)
		optional(b, "surname1", m.Cognom1)
		optional(b, "surname2", m.Cognom2)
		optional(b, "birth_date", isoDate(m.DataNaixement))
		b.String("relationship", orRaw(relationships, m.Condicio))
		beneficiaries = append(beneficiaries, b)
	}
	a.Objects("beneficiaries", beneficiaries)
	return a, nil
}

// readResposta reads the register's answer: the keys the adapter needs,
// every other one skipped.
func readResposta(body []byte) (resposta, error) {
	var r resposta
	rd := jsonread.New(body)
	rd.Object(func(key []byte) {
		switch string(key) {
		case "comunitat":
			rd.Object(func(key []byte) {
				switch string(key) {
				case "codi":
					r.Comunitat.Codi = rd.String()
				case "nom":
					r.Comunitat.Nom = rd.String()
				default:
					rd.Skip()
				}
			})
		case "titol":
			t := &r.Titol
			rd.Object(func(key []byte) {
				switch string(key) {
				case "numero":
					t.Numero = rd.String()
				case "categoria":
					t.Categoria = rd.String()
				case "vigent":
					t.Vigent = rd.String()
				case "data_expedicio":
					t.DataExpedicio = rd.String()
				case "data_caducitat":
					t.DataCaducitat = rd.String()
				case "nombre_fills":
					t.NombreFills = rd.Int()
				case "membres":
					t.Membres = nil
					rd.Array(func() { t.Membres = append(t.Membres, readMembre(rd)) })
				default:
					rd.Skip()
				}
			})
		default:
			rd.Skip()
		}
	})
	return r, rd.End()
}

// readMembre reads one member of the family; null reads as an empty one.
func readMembre(rd *jsonread.Reader) membre {
	var m membre
	rd.Object(func(key []byte) {
		switch string(key) {
		case "tipus_document":
			m.TipusDocument = rd.String()
		case "document":
			m.Document = rd.String()
		case "nom":
			m.Nom = rd.String()
		case "cognom1":
			m.Cognom1 = rd.String()
		case "cognom2":
			m.Cognom2 = rd.String()
		case "data_naixement":
			m.DataNaixement = rd.String()
		case "condicio":
			m.Condicio = rd.String()
		default:
			rd.Skip()
		}
	})
	return m
}

// optional adds a string field only when it is not empty.
func optional(o *sdk.Object, key, v string) {
	if v != "" {
		o.String(key, v)
	}
}

// orRaw translates a source code, passing an unknown one through for the
// broker's schema check to reject rather than guessing.
func orRaw(table map[string]string, code string) string {
	if v, ok := table[strings.ToUpper(code)]; ok {
		return v
	}
	return code
}

// isoDate turns the register's dd/mm/yyyy into yyyy-mm-dd; anything else is
// passed through for the broker's schema check to reject.
func isoDate(s string) string {
	if s == "" {
		return ""
	}
	t, err := time.Parse("02/01/2006", s)
	if err != nil {
		return s
	}
	return t.Format(time.DateOnly)
}
