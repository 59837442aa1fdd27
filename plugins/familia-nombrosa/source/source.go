// Package source simulates a region's register of large-family titles, in
// the shape a regional department would expose it: Catalan field names,
// dates as dd/mm/yyyy, the category spelt out. The regions share the model.
// Its data are synthetic; plugins/README.md lists the fixtures.
package source

import (
	"net/http"

	"github.com/pontexchange/pont/plugins/internal/simsource"
)

// Resposta is the register's answer: the title a document belongs to.
type Resposta struct {
	Comunitat Codi  `json:"comunitat"`
	Titol     Titol `json:"titol"`
}

// Codi is a code and its name.
type Codi struct {
	Codi string `json:"codi"`
	Nom  string `json:"nom"`
}

// Titol is a large-family title.
type Titol struct {
	Numero        string   `json:"numero"`
	Categoria     string   `json:"categoria"` // GENERAL or ESPECIAL
	Vigent        string   `json:"vigent"`    // S or N
	DataExpedicio string   `json:"data_expedicio"`
	DataCaducitat string   `json:"data_caducitat"`
	NombreFills   int      `json:"nombre_fills"`
	Membres       []Membre `json:"membres"`
}

// Membre is a beneficiary of the title.
type Membre struct {
	TipusDocument string `json:"tipus_document,omitempty"`
	Document      string `json:"document,omitempty"`
	Nom           string `json:"nom"`
	Cognom1       string `json:"cognom1"`
	Cognom2       string `json:"cognom2,omitempty"`
	DataNaixement string `json:"data_naixement"`
	Condicio      string `json:"condicio"` // TITULAR, CONJUGE or FILL
}

var regions = map[string]Codi{
	"09": {Codi: "09", Nom: "Catalunya"},
	"10": {Codi: "10", Nom: "Comunitat Valenciana"},
}

func titles(scope string) []Titol {
	switch scope {
	case "09":
		return []Titol{
			{Numero: "09/0012345/2021", Categoria: "GENERAL", Vigent: "S",
				DataExpedicio: "01/03/2021", DataCaducitat: "01/03/2027", NombreFills: 3,
				Membres: []Membre{
					{TipusDocument: "DNI", Document: "12345678Z", Nom: "Anna", Cognom1: "Puig", Cognom2: "Soler", DataNaixement: "14/02/1980", Condicio: "TITULAR"},
					{TipusDocument: "DNI", Document: "56789012B", Nom: "Marc", Cognom1: "Casals", Cognom2: "Riera", DataNaixement: "02/10/1978", Condicio: "CONJUGE"},
					{Nom: "Júlia", Cognom1: "Casals", Cognom2: "Puig", DataNaixement: "19/07/2010", Condicio: "FILL"},
					{Nom: "Pau", Cognom1: "Casals", Cognom2: "Puig", DataNaixement: "05/01/2013", Condicio: "FILL"},
					{Nom: "Clara", Cognom1: "Casals", Cognom2: "Puig", DataNaixement: "28/04/2017", Condicio: "FILL"},
				}},
			{Numero: "09/0054321/2022", Categoria: "ESPECIAL", Vigent: "S",
				DataExpedicio: "15/06/2022", DataCaducitat: "15/06/2028", NombreFills: 5,
				Membres: []Membre{
					{TipusDocument: "NIE", Document: "X1234567L", Nom: "Mariana", Cognom1: "Rossi", DataNaixement: "30/08/1985", Condicio: "TITULAR"},
					{Nom: "Luca", Cognom1: "Bianchi", Cognom2: "Rossi", DataNaixement: "11/03/2008", Condicio: "FILL"},
					{Nom: "Sofia", Cognom1: "Bianchi", Cognom2: "Rossi", DataNaixement: "11/03/2008", Condicio: "FILL"},
					{Nom: "Marco", Cognom1: "Bianchi", Cognom2: "Rossi", DataNaixement: "20/12/2011", Condicio: "FILL"},
					{Nom: "Giulia", Cognom1: "Bianchi", Cognom2: "Rossi", DataNaixement: "07/07/2015", Condicio: "FILL"},
					{Nom: "Elena", Cognom1: "Bianchi", Cognom2: "Rossi", DataNaixement: "03/02/2019", Condicio: "FILL"},
				}},
			broken("09"),
		}
	case "10":
		return []Titol{
			{Numero: "10/0098765/2017", Categoria: "GENERAL", Vigent: "N",
				DataExpedicio: "10/10/2017", DataCaducitat: "10/10/2023", NombreFills: 3,
				Membres: []Membre{
					{TipusDocument: "DNI", Document: "34567890V", Nom: "Pere", Cognom1: "Serra", Cognom2: "Bosch", DataNaixement: "21/09/1972", Condicio: "TITULAR"},
					{Nom: "Laia", Cognom1: "Serra", Cognom2: "Gil", DataNaixement: "13/05/2001", Condicio: "FILL"},
					{Nom: "Nil", Cognom1: "Serra", Cognom2: "Gil", DataNaixement: "13/05/2001", Condicio: "FILL"},
					{Nom: "Ona", Cognom1: "Serra", Cognom2: "Gil", DataNaixement: "01/12/2004", Condicio: "FILL"},
				}},
			broken("10"),
		}
	}
	return nil
}

// broken is a title whose child count went negative in the register: the
// adapter passes it through and the broker catches it.
func broken(region string) Titol {
	return Titol{Numero: region + "/0000001/2020", Categoria: "GENERAL", Vigent: "S",
		DataExpedicio: "01/01/2020", DataCaducitat: "01/01/2026", NombreFills: -1,
		Membres: []Membre{{TipusDocument: "DNI", Document: simsource.BrokenSubject, Nom: "Prova", Cognom1: "Errònia", DataNaixement: "01/01/1990", Condicio: "TITULAR"}}}
}

// New returns the large-family register of the region with INE code scope
// (09 or 10; any other region knows nobody). It serves
// GET /familia-nombrosa/v1/titols?document=...: 200 with the title that
// lists the document as a holder or spouse, 404 when none does.
func New(scope string) http.Handler {
	region := regions[scope]
	byDoc := map[string]Titol{}
	for _, t := range titles(scope) {
		for _, m := range t.Membres {
			if m.Document != "" && m.Condicio != "FILL" {
				byDoc[m.Document] = t
			}
		}
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /familia-nombrosa/v1/titols", func(w http.ResponseWriter, r *http.Request) {
		doc := r.URL.Query().Get("document")
		if doc == "" {
			simsource.Error(w, http.StatusBadRequest, "falta el paràmetre document")
			return
		}
		if simsource.Faults(w, r, doc) {
			return
		}
		t, ok := byDoc[doc]
		if !ok {
			simsource.Error(w, http.StatusNotFound, "no consta cap títol de família nombrosa per a aquest document")
			return
		}
		simsource.JSON(w, Resposta{Comunitat: region, Titol: t})
	})
	return mux
}
