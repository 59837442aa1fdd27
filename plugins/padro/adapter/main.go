// Command adapter is the padró adapter of a municipality: it asks the
// municipality's padró system where the subject is registered and answers
// the catalog's padro shape (INE SVDSECOPA01WS01). One module serves every
// municipality; each deployment's manifest names its scope and its
// source_url.
//
// Build: GOOS=wasip1 GOARCH=wasm go build -buildmode=c-shared -o padro.wasm .
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

// habitant is the part of the source's record the adapter reads.
type habitant struct {
	Provincia       codi
	Municipi        municipi
	EntitatCollect  *codi // absent or null: none
	EntitatSingular codi
	Nucli           codi
	Domicili        domicili
	DataAlta        string
	DarreraVariacio *variacio // absent or null: none
}

type codi struct{ Codi, Nom string }

type municipi struct{ CodiINE, Nom string }

type domicili struct {
	CodiVia, TipusVia, NomVia, Numero, Bloc, Portal, Escala, Pis, Porta, CodiPostal string
}

type variacio struct{ Codi, Descripcio, Data string }

// src is the system the adapter asks; its messages are the adapter's
// error answers.
var src = sdk.Source{
	Name:     "the padró system",
	NotFound: "the subject is not registered in this municipality's padró",
}

func handle(req *sdk.Request) (any, error) {
	base, err := sdk.BaseURL("source_url")
	if err != nil {
		return nil, err
	}
	u := base + "/padro/v1/habitants/" + url.PathEscape(req.Subject.ID)
	if m := req.Param("municipality"); m != "" {
		u += "?municipi=" + url.QueryEscape(m)
	}
	body, err := src.Get(u)
	if err != nil {
		return nil, err
	}
	h, err := readHabitant(body)
	if err != nil {
		return nil, src.Unreadable(err)
	}
	return mapHabitant(h), nil
}

// readHabitant reads the source's record: the keys the adapter needs, every
// other one skipped (the record also carries the resident's document, which
// the answer does not repeat).
func readHabitant(body []byte) (habitant, error) {
	var h habitant
	rd := jsonread.New(body)
	rd.Object(func(key []byte) {
		switch string(key) {
		case "provincia":
			h.Provincia = readCodi(rd)
		case "municipi":
			rd.Object(func(key []byte) {
				switch string(key) {
				case "codi_ine":
					h.Municipi.CodiINE = rd.String()
				case "nom":
					h.Municipi.Nom = rd.String()
				default:
					rd.Skip()
				}
			})
		case "entitat_collectiva":
			h.EntitatCollect = nil
			if c, ok := readCodiOrNull(rd); ok {
				h.EntitatCollect = &c
			}
		case "entitat_singular":
			h.EntitatSingular = readCodi(rd)
		case "nucli":
			h.Nucli = readCodi(rd)
		case "domicili":
			d := &h.Domicili
			rd.Object(func(key []byte) {
				switch string(key) {
				case "codi_via":
					d.CodiVia = rd.String()
				case "tipus_via":
					d.TipusVia = rd.String()
				case "nom_via":
					d.NomVia = rd.String()
				case "numero":
					d.Numero = rd.String()
				case "bloc":
					d.Bloc = rd.String()
				case "portal":
					d.Portal = rd.String()
				case "escala":
					d.Escala = rd.String()
				case "pis":
					d.Pis = rd.String()
				case "porta":
					d.Porta = rd.String()
				case "codi_postal":
					d.CodiPostal = rd.String()
				default:
					rd.Skip()
				}
			})
		case "data_alta":
			h.DataAlta = rd.String()
		case "darrera_variacio":
			var v variacio
			h.DarreraVariacio = nil
			if rd.Object(func(key []byte) {
				switch string(key) {
				case "codi":
					v.Codi = rd.String()
				case "descripcio":
					v.Descripcio = rd.String()
				case "data":
					v.Data = rd.String()
				default:
					rd.Skip()
				}
			}) {
				h.DarreraVariacio = &v
			}
		default:
			rd.Skip()
		}
	})
	return h, rd.End()
}

// readCodi reads a {"codi", "nom"} object; null reads as an empty one.
func readCodi(rd *jsonread.Reader) codi {
	c, _ := readCodiOrNull(rd)
	return c
}

// readCodiOrNull reads a {"codi", "nom"} object and reports whether there
// was one (not null).
func readCodiOrNull(rd *jsonread.Reader) (codi, bool) {
	var c codi
	ok := rd.Object(func(key []byte) {
		switch string(key) {
		case "codi":
			c.Codi = rd.String()
		case "nom":
			c.Nom = rd.String()
		default:
			rd.Skip()
		}
	})
	return c, ok
}

// mapHabitant translates the source's record into the catalog's shape, its
// fields in the catalog's order. It passes codes through as the source
// gives them: checking them is the broker's job (the answer schema), and
// the adapter must not invent data. Optional fields are left out when the
// source has nothing for them.
func mapHabitant(h habitant) *sdk.Object {
	a := &sdk.Object{}
	a.Object("province", coded(h.Provincia.Codi, h.Provincia.Nom))
	a.Object("municipality", coded(h.Municipi.CodiINE, h.Municipi.Nom))
	if h.EntitatSingular.Codi != "" {
		e := &sdk.Object{}
		if c := h.EntitatCollect; c != nil && c.Codi != "" {
			e.Object("collective", coded(c.Codi, c.Nom))
		}
		e.Object("singular", coded(h.EntitatSingular.Codi, h.EntitatSingular.Nom))
		e.Object("nucleus", coded(h.Nucli.Codi, h.Nucli.Nom))
		a.Object("entity", e)
	}
	d := h.Domicili
	addr := &sdk.Object{}
	optional(addr, "street_code", d.CodiVia)
	addr.String("street_type", d.TipusVia).String("street_name", d.NomVia)
	optional(addr, "number", d.Numero)
	optional(addr, "block", d.Bloc)
	optional(addr, "portal", d.Portal)
	optional(addr, "stair", d.Escala)
	optional(addr, "floor", d.Pis)
	optional(addr, "door", d.Porta)
	addr.String("postcode", d.CodiPostal)
	a.Object("address", addr)
	a.String("registration_date", isoDate(h.DataAlta))
	if v := h.DarreraVariacio; v != nil {
		lv := (&sdk.Object{}).String("code", v.Codi)
		optional(lv, "description", v.Descripcio)
		a.Object("last_variation", lv.String("date", isoDate(v.Data)))
	}
	return a
}

// coded is the catalog's {"code", "name"} pair.
func coded(code, name string) *sdk.Object {
	return (&sdk.Object{}).String("code", code).String("name", name)
}

// optional adds a string field only when it is not empty.
func optional(o *sdk.Object, key, v string) {
	if v != "" {
		o.String(key, v)
	}
}

// isoDate turns the source's dd/mm/yyyy into yyyy-mm-dd; anything else is
// passed through for the broker's schema check to reject.
func isoDate(s string) string {
	t, err := time.Parse("02/01/2006", s)
	if err != nil {
		return s
	}
	return t.Format(time.DateOnly)
}
