// Command adapter is the disability adapter of a region: it asks the
// region's register of recognised disability for the subject's degree and
// answers the catalog's discapacitat shape (SVDSCDDWS01). The regions share
// one data model, so one module serves them all; each deployment's manifest
// names its region and its source_url.
//
// Build: GOOS=wasip1 GOARCH=wasm go build -buildmode=c-shared -o discapacitat.wasm .
package main

import (
	"net/url"
	"strings"

	sdk "github.com/pontexchange/pont/sdk-wasm"
	"github.com/pontexchange/pont/sdk-wasm/jsonread"
)

func main() {}

func init() { sdk.Handle(handle) }

// The adapter reads the source's record with a small hand-written reader
// (jsonread) and writes its answer with sdk.Object, not with encoding/json:
// inside the Wasm guest, reflection was most of the cost of a call.

// reconocimiento is the part of the register's record the adapter reads.
type reconocimiento struct {
	Comunidad                   codigo
	GradoDiscapacidad           int64
	Fisica, Psiquica, Sensorial string  // tiposDiscapacidad, S/N flags
	BaremoMovilidad             *baremo // absent or null: not assessed
	Dependencia, Acompanante    string
	FechaEfectos, FechaRevision string
	ValidezPermanente           string
}

type codigo struct{ Codigo, Nombre string }

type baremo struct {
	Puntuacion int64
	Factor     string
}

// src is the system the adapter asks; its messages are the adapter's
// error answers.
var src = sdk.Source{
	Name:     "the disability register",
	NotFound: "the region has recognised no disability for the subject",
}

func handle(req *sdk.Request) (any, error) {
	base, err := sdk.BaseURL("source_url")
	if err != nil {
		return nil, err
	}
	body, err := src.Get(base + "/discapacidad/v1/reconocimientos/" + url.PathEscape(req.Subject.ID))
	if err != nil {
		return nil, err
	}
	r, err := readReconocimiento(body)
	if err != nil {
		return nil, src.Unreadable(err)
	}
	// The catalog's discapacitat answer, its fields in the catalog's order.
	// The degree is passed through as recorded: a value out of range is the
	// register's error, which the broker's schema check reports.
	a := &sdk.Object{}
	a.Object("region", (&sdk.Object{}).String("code", r.Comunidad.Codigo).String("name", r.Comunidad.Nombre))
	a.Int("degree", r.GradoDiscapacidad)
	types := []string{}
	for _, t := range []struct{ flag, name string }{
		{r.Fisica, "physical"}, {r.Psiquica, "psychic"}, {r.Sensorial, "sensory"},
	} {
		if yes(t.flag) {
			types = append(types, t.name)
		}
	}
	a.Strings("types", types)
	if m := r.BaremoMovilidad; m != nil {
		a.Int("mobility_score", m.Puntuacion)
		if m.Factor != "" {
			a.String("mobility_factor", m.Factor)
		}
	}
	a.Bool("dependency", yes(r.Dependencia))
	a.Bool("companion_required", yes(r.Acompanante))
	a.String("effective_date", r.FechaEfectos)
	if r.FechaRevision != "" {
		a.String("review_date", r.FechaRevision)
	}
	a.Bool("permanent_validity", yes(r.ValidezPermanente))
	return a, nil
}

// readReconocimiento reads the register's record: the keys the adapter
// needs, every other one skipped.
func readReconocimiento(body []byte) (reconocimiento, error) {
	var r reconocimiento
	rd := jsonread.New(body)
	rd.Object(func(key []byte) {
		switch string(key) {
		case "comunidadAutonoma":
			rd.Object(func(key []byte) {
				switch string(key) {
				case "codigo":
					r.Comunidad.Codigo = rd.String()
				case "nombre":
					r.Comunidad.Nombre = rd.String()
				default:
					rd.Skip()
				}
			})
		case "gradoDiscapacidad":
			r.GradoDiscapacidad = rd.Int()
		case "tiposDiscapacidad":
			rd.Object(func(key []byte) {
				switch string(key) {
				case "fisica":
					r.Fisica = rd.String()
				case "psiquica":
					r.Psiquica = rd.String()
				case "sensorial":
					r.Sensorial = rd.String()
				default:
					rd.Skip()
				}
			})
		case "baremoMovilidad":
			var b baremo
			r.BaremoMovilidad = nil
			if rd.Object(func(key []byte) {
				switch string(key) {
				case "puntuacion":
					b.Puntuacion = rd.Int()
				case "factor":
					b.Factor = rd.String()
				default:
					rd.Skip()
				}
			}) {
				r.BaremoMovilidad = &b
			}
		case "dependencia":
			r.Dependencia = rd.String()
		case "necesidadAcompanante":
			r.Acompanante = rd.String()
		case "fechaEfectos":
			r.FechaEfectos = rd.String()
		case "fechaRevision":
			r.FechaRevision = rd.String()
		case "validezPermanente":
			r.ValidezPermanente = rd.String()
		default:
			rd.Skip()
		}
	})
	return r, rd.End()
}

// yes reads the register's S/N flags.
func yes(flag string) bool { return strings.EqualFold(flag, "S") }
