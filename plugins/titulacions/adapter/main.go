// Command adapter is the degrees adapter of the national registry of
// official titles: it asks the registry for the subject's titles,
// university and non-university, and answers the catalog's titulacions
// shape (SVDTUWS03 for university titles, SVDTNUWS03 for non-university
// ones).
//
// Build: GOOS=wasip1 GOARCH=wasm go build -buildmode=c-shared -o titulacions.wasm .
package main

import (
	"net/url"
	"time"

	sdk "github.com/pontexchange/pont/sdk-wasm"
	"github.com/pontexchange/pont/sdk-wasm/jsonread"
)

func main() {}

func init() { sdk.Handle(handle) }

// The adapter reads the source's record with a small hand-written reader
// (jsonread) and writes its answer with sdk.Object, not with encoding/json:
// inside the Wasm guest, reflection was most of the cost of a call.

// titulo is the part of one of the registry's titles the adapter reads. A
// non-university title has no universidad: its Universidad stays empty.
type titulo struct {
	Universidad, Centro, Titulacion, Tipo codigo // Tipo: tipoTitulacion
	FechaFinalizacion, FechaExpedicion    string
	Pais, NumeroTitulo, NumeroRegistro    string // NumeroRegistro: numeroRegistroNacional
}

type codigo struct{ Codigo, Descripcion string }

// src is the system the adapter asks; its messages are the adapter's
// error answers.
var src = sdk.Source{
	Name:     "the registry of titles",
	NotFound: "the registry holds no title for the subject",
}

func handle(req *sdk.Request) (any, error) {
	base, err := sdk.BaseURL("source_url")
	if err != nil {
		return nil, err
	}
	body, err := src.Get(base + "/rnt/v2/titulos?documento=" + url.QueryEscape(req.Subject.ID))
	if err != nil {
		return nil, err
	}
	list, err := readTitulos(body)
	if err != nil {
		return nil, src.Unreadable(err)
	}
	if len(list) == 0 {
		return nil, src.SubjectNotFound()
	}
	// The catalog's titulacions answer, each title's fields in the
	// catalog's order; optional fields are left out when the registry has
	// nothing for them. A title is a university one when the registry
	// names its university, and only then does it carry one.
	titles := make([]*sdk.Object, 0, len(list))
	for _, t := range list {
		o := &sdk.Object{}
		if t.Universidad.Codigo != "" {
			o.String("kind", "university")
			o.Object("university", coded(t.Universidad))
		} else {
			o.String("kind", "non_university")
		}
		if t.Centro.Codigo != "" {
			o.Object("centre", coded(t.Centro))
		}
		o.Object("title", coded(t.Titulacion))
		o.Object("type", coded(t.Tipo))
		o.String("completion_date", isoDate(t.FechaFinalizacion))
		optional(o, "issue_date", isoDate(t.FechaExpedicion))
		optional(o, "country", t.Pais)
		optional(o, "title_number", t.NumeroTitulo)
		o.String("registry_number", t.NumeroRegistro)
		titles = append(titles, o)
	}
	return (&sdk.Object{}).Objects("titles", titles), nil
}

// coded is the catalog's {"code", "name"} pair.
func coded(c codigo) *sdk.Object {
	return (&sdk.Object{}).String("code", c.Codigo).String("name", c.Descripcion)
}

// optional adds a string field only when it is not empty.
func optional(o *sdk.Object, key, v string) {
	if v != "" {
		o.String(key, v)
	}
}

// readTitulos reads the registry's answer, {"titulos": [...]}: the keys
// the adapter needs, every other one skipped.
func readTitulos(body []byte) ([]titulo, error) {
	var list []titulo
	rd := jsonread.New(body)
	readCodigo := func(c *codigo) {
		rd.Object(func(key []byte) {
			switch string(key) {
			case "codigo":
				c.Codigo = rd.String()
			case "descripcion":
				c.Descripcion = rd.String()
			default:
				rd.Skip()
			}
		})
	}
	rd.Object(func(key []byte) {
		if string(key) != "titulos" {
			rd.Skip()
			return
		}
		list = nil
		rd.Array(func() {
			var t titulo
			rd.Object(func(key []byte) {
				switch string(key) {
				case "universidad":
					readCodigo(&t.Universidad)
				case "centro":
					readCodigo(&t.Centro)
				case "titulacion":
					readCodigo(&t.Titulacion)
				case "tipoTitulacion":
					readCodigo(&t.Tipo)
				case "fechaFinalizacion":
					t.FechaFinalizacion = rd.String()
				case "fechaExpedicion":
					t.FechaExpedicion = rd.String()
				case "pais":
					t.Pais = rd.String()
				case "numeroTitulo":
					t.NumeroTitulo = rd.String()
				case "numeroRegistroNacional":
					t.NumeroRegistro = rd.String()
				default:
					rd.Skip()
				}
			})
			list = append(list, t)
		})
	})
	return list, rd.End()
}

// isoDate turns the registry's yyyymmdd into yyyy-mm-dd; anything else is
// passed through for the broker's schema check to reject.
func isoDate(s string) string {
	if s == "" {
		return ""
	}
	t, err := time.Parse("20060102", s)
	if err != nil {
		return s
	}
	return t.Format(time.DateOnly)
}
