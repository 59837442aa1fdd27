// Command adapter is the social benefits adapter of the INSS Registro de
// Prestaciones Sociales Públicas: it asks the register for the benefits the
// subject receives and answers the catalog's prestacions shape
// (Q2827002CINSS001).
//
// Build: GOOS=wasip1 GOARCH=wasm go build -buildmode=c-shared -o prestacions.wasm .
package main

import (
	"net/url"
	"strconv"
	"time"

	sdk "github.com/pontexchange/pont/sdk-wasm"
	"github.com/pontexchange/pont/sdk-wasm/jsonread"
)

func main() {}

func init() { sdk.Handle(handle) }

// The adapter reads the source's record with a small hand-written reader
// (jsonread) and writes its answer with sdk.Object, not with encoding/json:
// inside the Wasm guest, reflection was most of the cost of a call.

// prestacion is the part of one of the register's benefits the adapter
// reads.
type prestacion struct {
	Codigo, Denominacion, Tipo        string
	Organismo                         codigo // organismoGestor
	ImporteBrutoCent, ImporteNetoCent int64
	NumeroPagas                       int64
	FechaEfectos, FechaBaja           string
}

type codigo struct{ Codigo, Nombre string }

var types = map[string]string{"C": "contributory", "NC": "non_contributory", "A": "assistance"}

// maxBenefits is the cap the catalog (and Via Oberta) puts on the list.
const maxBenefits = 35

// src is the system the adapter asks; its messages are the adapter's
// error answers.
var src = sdk.Source{
	Name:     "the register of social benefits",
	NotFound: "the register holds no benefit for the subject",
}

func handle(req *sdk.Request) (any, error) {
	base, err := sdk.BaseURL("source_url")
	if err != nil {
		return nil, err
	}
	body, err := src.Get(base + "/rpsp/v1/prestaciones?ipf=" + url.QueryEscape(req.Subject.ID))
	if err != nil {
		return nil, err
	}
	list, err := readPrestaciones(body)
	if err != nil {
		return nil, src.Unreadable(err)
	}
	if len(list) == 0 {
		return nil, src.SubjectNotFound()
	}
	if len(list) > maxBenefits {
		sdk.Logf(sdk.LevelWarn, "the register listed %d benefits; answering the first %d", len(list), maxBenefits)
		list = list[:maxBenefits]
	}
	// The catalog's prestacions answer, each benefit's fields in the
	// catalog's order.
	benefits := make([]*sdk.Object, 0, len(list))
	for _, p := range list {
		typ, ok := types[p.Tipo]
		if !ok {
			typ = "other"
		}
		b := &sdk.Object{}
		b.String("code", p.Codigo).String("name", p.Denominacion).String("type", typ)
		b.Object("managing_body", (&sdk.Object{}).String("code", p.Organismo.Codigo).String("name", p.Organismo.Nombre))
		// Amounts pass through as booked, sign included: a negative amount
		// is the register's error, which the broker's schema check reports.
		b.Raw("gross_amount", euros(p.ImporteBrutoCent))
		b.Raw("net_amount", euros(p.ImporteNetoCent))
		b.Int("payments", p.NumeroPagas)
		b.String("effective_date", isoDate(p.FechaEfectos))
		if end := isoDate(p.FechaBaja); end != "" {
			b.String("end_date", end)
		}
		benefits = append(benefits, b)
	}
	return (&sdk.Object{}).Objects("benefits", benefits), nil
}

// euros writes an amount in cents as a JSON number of euros, the way
// encoding/json writes the float64 cents/100 (1234.5, never 1.2345e+03):
// sdk.Object.Float would switch to an exponent from a million euros on.
// Cents fit an int64, so the value never reaches the exponent form that
// encoding/json itself uses (below 1e-6 or from 1e21 on).
func euros(cents int64) []byte {
	return strconv.AppendFloat(nil, float64(cents)/100, 'f', -1, 64)
}

// readPrestaciones reads the register's answer, {"prestaciones": [...]}:
// the keys the adapter needs, every other one skipped.
func readPrestaciones(body []byte) ([]prestacion, error) {
	var list []prestacion
	rd := jsonread.New(body)
	rd.Object(func(key []byte) {
		if string(key) != "prestaciones" {
			rd.Skip()
			return
		}
		list = nil
		rd.Array(func() {
			var p prestacion
			rd.Object(func(key []byte) {
				switch string(key) {
				case "codigoPrestacion":
					p.Codigo = rd.String()
				case "denominacion":
					p.Denominacion = rd.String()
				case "tipo":
					p.Tipo = rd.String()
				case "organismoGestor":
					rd.Object(func(key []byte) {
						switch string(key) {
						case "codigo":
							p.Organismo.Codigo = rd.String()
						case "nombre":
							p.Organismo.Nombre = rd.String()
						default:
							rd.Skip()
						}
					})
				case "importeBrutoCent":
					p.ImporteBrutoCent = rd.Int()
				case "importeNetoCent":
					p.ImporteNetoCent = rd.Int()
				case "numeroPagas":
					p.NumeroPagas = rd.Int()
				case "fechaEfectos":
					p.FechaEfectos = rd.String()
				case "fechaBaja":
					p.FechaBaja = rd.String()
				default:
					rd.Skip()
				}
			})
			list = append(list, p)
		})
	})
	return list, rd.End()
}

// isoDate turns the register's yyyymmdd into yyyy-mm-dd; anything else is
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
