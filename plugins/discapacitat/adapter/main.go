// Command adapter is the disability adapter of a region: it asks the
// region's register of recognised disability for the subject's degree and
// answers the catalog's discapacitat shape (SVDSCDDWS01). The regions share
// one data model, so one module serves them all; each deployment's manifest
// names its region and its source_url.
//
// Build: GOOS=wasip1 GOARCH=wasm go build -buildmode=c-shared -o discapacitat.wasm .
package main

import (
	"encoding/json"
	"net/url"
	"strings"

	sdk "github.com/pontexchange/pont/sdk-wasm"
)

func main() {}

func init() { sdk.Handle(handle) }

type reconocimiento struct {
	Comunidad         codigo `json:"comunidadAutonoma"`
	GradoDiscapacidad int    `json:"gradoDiscapacidad"`
	Tipos             struct {
		Fisica    string `json:"fisica"`
		Psiquica  string `json:"psiquica"`
		Sensorial string `json:"sensorial"`
	} `json:"tiposDiscapacidad"`
	BaremoMovilidad *struct {
		Puntuacion int    `json:"puntuacion"`
		Factor     string `json:"factor"`
	} `json:"baremoMovilidad"`
	Dependencia       string `json:"dependencia"`
	Acompanante       string `json:"necesidadAcompanante"`
	FechaEfectos      string `json:"fechaEfectos"`
	FechaRevision     string `json:"fechaRevision"`
	ValidezPermanente string `json:"validezPermanente"`
}

type codigo struct {
	Codigo string `json:"codigo"`
	Nombre string `json:"nombre"`
}

// answer is the catalog's discapacitat answer.
type answer struct {
	Region            coded    `json:"region"`
	Degree            int      `json:"degree"`
	Types             []string `json:"types"`
	MobilityScore     *int     `json:"mobility_score,omitempty"`
	MobilityFactor    string   `json:"mobility_factor,omitempty"`
	Dependency        bool     `json:"dependency"`
	CompanionRequired bool     `json:"companion_required"`
	EffectiveDate     string   `json:"effective_date"`
	ReviewDate        string   `json:"review_date,omitempty"`
	PermanentValidity bool     `json:"permanent_validity"`
}

type coded struct {
	Code string `json:"code"`
	Name string `json:"name"`
}

func handle(req *sdk.Request) (any, error) {
	base, ok := sdk.Config("source_url")
	if !ok {
		return nil, sdk.SourceUnavailable("the adapter has no source_url configured")
	}
	resp, err := sdk.Get(strings.TrimRight(base, "/") + "/discapacidad/v1/reconocimientos/" + url.PathEscape(req.Subject.ID))
	if err != nil {
		return nil, sdk.SourceUnavailable("the disability register could not be reached: %v", err)
	}
	switch {
	case resp.Status == 404:
		return nil, sdk.SubjectNotFound("the region has recognised no disability for the subject")
	case resp.Status >= 500:
		return nil, sdk.SourceUnavailable("the disability register answered HTTP %d", resp.Status)
	case resp.Status != 200:
		return nil, sdk.SourceUnavailable("the disability register refused the query with HTTP %d", resp.Status)
	}
	var r reconocimiento
	if err := json.Unmarshal(resp.Body, &r); err != nil {
		return nil, sdk.SourceUnavailable("the disability register answered something unreadable: %v", err)
	}
	// The degree is passed through as recorded: a value out of range is the
	// register's error, which the broker's schema check reports.
	a := answer{
		Region:            coded{Code: r.Comunidad.Codigo, Name: r.Comunidad.Nombre},
		Degree:            r.GradoDiscapacidad,
		Types:             []string{},
		Dependency:        yes(r.Dependencia),
		CompanionRequired: yes(r.Acompanante),
		EffectiveDate:     r.FechaEfectos,
		ReviewDate:        r.FechaRevision,
		PermanentValidity: yes(r.ValidezPermanente),
	}
	for _, t := range []struct{ flag, name string }{
		{r.Tipos.Fisica, "physical"}, {r.Tipos.Psiquica, "psychic"}, {r.Tipos.Sensorial, "sensory"},
	} {
		if yes(t.flag) {
			a.Types = append(a.Types, t.name)
		}
	}
	if m := r.BaremoMovilidad; m != nil {
		score := m.Puntuacion
		a.MobilityScore, a.MobilityFactor = &score, m.Factor
	}
	return a, nil
}

// yes reads the register's S/N flags.
func yes(flag string) bool { return strings.EqualFold(flag, "S") }
