// Command adapter is the social benefits adapter of the INSS Registro de
// Prestaciones Sociales Públicas: it asks the register for the benefits the
// subject receives and answers the catalog's prestacions shape
// (Q2827002CINSS001).
//
// Build: GOOS=wasip1 GOARCH=wasm go build -buildmode=c-shared -o prestacions.wasm .
package main

import (
	"encoding/json"
	"net/url"
	"strings"
	"time"

	sdk "github.com/pontexchange/pont/sdk-wasm"
)

func main() {}

func init() { sdk.Handle(handle) }

type respuesta struct {
	Prestaciones []prestacion `json:"prestaciones"`
}

type prestacion struct {
	Codigo       string `json:"codigoPrestacion"`
	Denominacion string `json:"denominacion"`
	Tipo         string `json:"tipo"`
	Organismo    struct {
		Codigo string `json:"codigo"`
		Nombre string `json:"nombre"`
	} `json:"organismoGestor"`
	ImporteBrutoCent int64  `json:"importeBrutoCent"`
	ImporteNetoCent  int64  `json:"importeNetoCent"`
	NumeroPagas      int    `json:"numeroPagas"`
	FechaEfectos     string `json:"fechaEfectos"`
	FechaBaja        string `json:"fechaBaja"`
}

// answer is the catalog's prestacions answer.
type answer struct {
	Benefits []benefit `json:"benefits"`
}

type benefit struct {
	Code          string  `json:"code"`
	Name          string  `json:"name"`
	Type          string  `json:"type"`
	ManagingBody  coded   `json:"managing_body"`
	GrossAmount   float64 `json:"gross_amount"`
	NetAmount     float64 `json:"net_amount"`
	Payments      int     `json:"payments"`
	EffectiveDate string  `json:"effective_date"`
	EndDate       string  `json:"end_date,omitempty"`
}

type coded struct {
	Code string `json:"code"`
	Name string `json:"name"`
}

var types = map[string]string{"C": "contributory", "NC": "non_contributory", "A": "assistance"}

// maxBenefits is the cap the catalog (and Via Oberta) puts on the list.
const maxBenefits = 35

func handle(req *sdk.Request) (any, error) {
	base, ok := sdk.Config("source_url")
	if !ok {
		return nil, sdk.SourceUnavailable("the adapter has no source_url configured")
	}
	resp, err := sdk.Get(strings.TrimRight(base, "/") + "/rpsp/v1/prestaciones?ipf=" + url.QueryEscape(req.Subject.ID))
	if err != nil {
		return nil, sdk.SourceUnavailable("the register of social benefits could not be reached: %v", err)
	}
	switch {
	case resp.Status == 404:
		return nil, sdk.SubjectNotFound("the register holds no benefit for the subject")
	case resp.Status >= 500:
		return nil, sdk.SourceUnavailable("the register of social benefits answered HTTP %d", resp.Status)
	case resp.Status != 200:
		return nil, sdk.SourceUnavailable("the register of social benefits refused the query with HTTP %d", resp.Status)
	}
	var r respuesta
	if err := json.Unmarshal(resp.Body, &r); err != nil {
		return nil, sdk.SourceUnavailable("the register of social benefits answered something unreadable: %v", err)
	}
	if len(r.Prestaciones) == 0 {
		return nil, sdk.SubjectNotFound("the register holds no benefit for the subject")
	}
	if len(r.Prestaciones) > maxBenefits {
		sdk.Logf(sdk.LevelWarn, "the register listed %d benefits; answering the first %d", len(r.Prestaciones), maxBenefits)
		r.Prestaciones = r.Prestaciones[:maxBenefits]
	}
	a := answer{Benefits: make([]benefit, 0, len(r.Prestaciones))}
	for _, p := range r.Prestaciones {
		typ, ok := types[p.Tipo]
		if !ok {
			typ = "other"
		}
		// Amounts pass through as booked, sign included: a negative amount
		// is the register's error, which the broker's schema check reports.
		a.Benefits = append(a.Benefits, benefit{
			Code: p.Codigo, Name: p.Denominacion, Type: typ,
			ManagingBody:  coded{Code: p.Organismo.Codigo, Name: p.Organismo.Nombre},
			GrossAmount:   float64(p.ImporteBrutoCent) / 100,
			NetAmount:     float64(p.ImporteNetoCent) / 100,
			Payments:      p.NumeroPagas,
			EffectiveDate: isoDate(p.FechaEfectos),
			EndDate:       isoDate(p.FechaBaja),
		})
	}
	return a, nil
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
