// Package source simulates a region's register of recognised disability
// (ICASS for Catalunya, the Conselleria for the Comunitat Valenciana). The
// regions share one data model, as in the PID's SVDSCDDWS01: Spanish field
// names, S/N flags, ISO dates. Its data are synthetic; plugins/README.md
// lists the fixtures.
package source

import (
	"net/http"

	"github.com/pontexchange/pont/plugins/internal/simsource"
)

// Reconocimiento is a recognised degree of disability.
type Reconocimiento struct {
	Documento         string           `json:"documento"`
	Comunidad         Codigo           `json:"comunidadAutonoma"`
	GradoDiscapacidad int              `json:"gradoDiscapacidad"`
	Tipos             Tipos            `json:"tiposDiscapacidad"`
	BaremoMovilidad   *BaremoMovilidad `json:"baremoMovilidad,omitempty"`
	Dependencia       string           `json:"dependencia"`
	Acompanante       string           `json:"necesidadAcompanante"`
	FechaEfectos      string           `json:"fechaEfectos"`
	FechaRevision     string           `json:"fechaRevision,omitempty"`
	ValidezPermanente string           `json:"validezPermanente"`
}

// Codigo is a code and its name.
type Codigo struct {
	Codigo string `json:"codigo"`
	Nombre string `json:"nombre"`
}

// Tipos flags each type of disability with S or N.
type Tipos struct {
	Fisica    string `json:"fisica"`
	Psiquica  string `json:"psiquica"`
	Sensorial string `json:"sensorial"`
}

// BaremoMovilidad is the mobility score (0-15) and its factor.
type BaremoMovilidad struct {
	Puntuacion int    `json:"puntuacion"`
	Factor     string `json:"factor"`
}

var regions = map[string]Codigo{
	"09": {Codigo: "09", Nombre: "Catalunya"},
	"10": {Codigo: "10", Nombre: "Comunitat Valenciana"},
}

func records(scope string) map[string]Reconocimiento {
	region := regions[scope]
	switch scope {
	case "09":
		return map[string]Reconocimiento{
			"12345678Z": {Documento: "12345678Z", Comunidad: region, GradoDiscapacidad: 45,
				Tipos:           Tipos{Fisica: "S", Psiquica: "N", Sensorial: "N"},
				BaremoMovilidad: &BaremoMovilidad{Puntuacion: 7, Factor: "A"},
				Dependencia:     "N", Acompanante: "N",
				FechaEfectos: "2019-05-10", FechaRevision: "2027-05-10", ValidezPermanente: "N"},
			"45678901G": {Documento: "45678901G", Comunidad: region, GradoDiscapacidad: 33,
				Tipos:       Tipos{Fisica: "N", Psiquica: "N", Sensorial: "S"},
				Dependencia: "N", Acompanante: "N",
				FechaEfectos: "2021-02-01", ValidezPermanente: "S"},
			// A degree beyond 100 %, as a faulty migration might leave it:
			// the adapter passes it through and the broker catches it.
			simsource.BrokenSubject: {Documento: simsource.BrokenSubject, Comunidad: region, GradoDiscapacidad: 250,
				Tipos:       Tipos{Fisica: "S", Psiquica: "N", Sensorial: "N"},
				Dependencia: "N", Acompanante: "N",
				FechaEfectos: "2020-01-01", ValidezPermanente: "S"},
		}
	case "10":
		return map[string]Reconocimiento{
			"34567890V": {Documento: "34567890V", Comunidad: region, GradoDiscapacidad: 65,
				Tipos:           Tipos{Fisica: "N", Psiquica: "S", Sensorial: "S"},
				BaremoMovilidad: &BaremoMovilidad{Puntuacion: 10, Factor: "B"},
				Dependencia:     "S", Acompanante: "S",
				FechaEfectos: "2016-11-22", ValidezPermanente: "S"},
			simsource.BrokenSubject: {Documento: simsource.BrokenSubject, Comunidad: region, GradoDiscapacidad: 250,
				Tipos:       Tipos{Fisica: "S", Psiquica: "N", Sensorial: "N"},
				Dependencia: "N", Acompanante: "N",
				FechaEfectos: "2020-01-01", ValidezPermanente: "S"},
		}
	}
	return map[string]Reconocimiento{}
}

// New returns the disability register of the region with INE code scope
// (09 or 10; any other region knows nobody). It serves
// GET /discapacidad/v1/reconocimientos/{documento}: 200 with the record,
// 404 when the region has recognised no disability for the document.
func New(scope string) http.Handler {
	recs := records(scope)
	mux := http.NewServeMux()
	mux.HandleFunc("GET /discapacidad/v1/reconocimientos/{documento}", func(w http.ResponseWriter, r *http.Request) {
		doc := r.PathValue("documento")
		if simsource.Faults(w, r, doc) {
			return
		}
		rec, ok := recs[doc]
		if !ok {
			simsource.Error(w, http.StatusNotFound, "no consta reconocimiento de discapacidad")
			return
		}
		simsource.JSON(w, rec)
	})
	return mux
}
