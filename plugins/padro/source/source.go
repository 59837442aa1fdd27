// Package source simulates a municipality's padró (register of residents)
// system, as a municipal IT department would expose it: Catalan field names,
// dates as dd/mm/yyyy, one record per registered resident. Its data are
// synthetic; plugins/README.md lists the fixtures.
package source

import (
	"net/http"

	"github.com/pontexchange/pont/plugins/internal/simsource"
)

// Habitant is a resident's padró record in the source's own shape.
type Habitant struct {
	Document        Document  `json:"document"`
	Provincia       Codi      `json:"provincia"`
	Municipi        Municipi  `json:"municipi"`
	EntitatCollect  *Codi     `json:"entitat_collectiva,omitempty"`
	EntitatSingular Codi      `json:"entitat_singular"`
	Nucli           Codi      `json:"nucli"`
	Domicili        Domicili  `json:"domicili"`
	DataAlta        string    `json:"data_alta"`
	DarreraVariacio *Variacio `json:"darrera_variacio,omitempty"`
}

// Document identifies the resident.
type Document struct {
	Tipus  string `json:"tipus"`
	Numero string `json:"numero"`
}

// Codi is a code and its name.
type Codi struct {
	Codi string `json:"codi"`
	Nom  string `json:"nom"`
}

// Municipi is a municipality by its INE code.
type Municipi struct {
	CodiINE string `json:"codi_ine"`
	Nom     string `json:"nom"`
}

// Domicili is the address of registration.
type Domicili struct {
	CodiVia    string `json:"codi_via"`
	TipusVia   string `json:"tipus_via"`
	NomVia     string `json:"nom_via"`
	Numero     string `json:"numero"`
	Bloc       string `json:"bloc"`
	Portal     string `json:"portal"`
	Escala     string `json:"escala"`
	Pis        string `json:"pis"`
	Porta      string `json:"porta"`
	CodiPostal string `json:"codi_postal"`
}

// Variacio is the last change of the record.
type Variacio struct {
	Codi       string `json:"codi"`
	Descripcio string `json:"descripcio"`
	Data       string `json:"data"`
}

// Latin1Subject is the resident of 08019 whose record the padró answers in
// ISO-8859-1 (declared in its Content-Type), as the older registers of
// some municipalities still do, with a street name outside ASCII.
const Latin1Subject = "78901234X"

// Latin1Street is Latin1Subject's street name, which must reach the
// requester intact.
const Latin1Street = "de Sant Pere Més Alt"

// New returns the padró system of the municipality with INE code scope
// (08019 Barcelona, 17079 Girona or 43148 Tarragona; any other
// municipality knows nobody).
// It serves GET /padro/v1/habitants/{document}: 200 with the record, 404
// when the document is not registered here. Records are UTF-8 JSON, but
// Latin1Subject's, which is ISO-8859-1.
func New(scope string) http.Handler {
	records := residents(scope)
	mux := http.NewServeMux()
	mux.HandleFunc("GET /padro/v1/habitants/{document}", func(w http.ResponseWriter, r *http.Request) {
		doc := r.PathValue("document")
		if simsource.Faults(w, r, doc) {
			return
		}
		if m := r.URL.Query().Get("municipi"); m != "" && m != scope {
			simsource.Error(w, http.StatusNotFound, "this register holds the residents of municipality "+scope+" only")
			return
		}
		h, ok := records[doc]
		if !ok {
			simsource.Error(w, http.StatusNotFound, "no consta cap habitant amb aquest document")
			return
		}
		if doc == Latin1Subject {
			simsource.JSONLatin1(w, h)
			return
		}
		simsource.JSON(w, h)
	})
	return mux
}

func residents(scope string) map[string]Habitant {
	switch scope {
	case "08019":
		bcn := func(doc, tipus string, d Domicili, alta string, v *Variacio) Habitant {
			return Habitant{
				Document:        Document{Tipus: tipus, Numero: doc},
				Provincia:       Codi{Codi: "08", Nom: "Barcelona"},
				Municipi:        Municipi{CodiINE: "08019", Nom: "Barcelona"},
				EntitatSingular: Codi{Codi: "000101", Nom: "Barcelona"},
				Nucli:           Codi{Codi: "01", Nom: "Barcelona"},
				Domicili:        d,
				DataAlta:        alta,
				DarreraVariacio: v,
			}
		}
		broken := bcn(simsource.BrokenSubject, "DNI",
			Domicili{CodiVia: "045210", TipusVia: "C", NomVia: "de Sants", Numero: "12", Pis: "1", Porta: "1", CodiPostal: "08014"},
			"01/02/2020", nil)
		// A register that lost the leading zero of the INE code: the
		// adapter passes it through and the broker must catch it.
		broken.Municipi.CodiINE = "8019"
		return map[string]Habitant{
			"12345678Z": bcn("12345678Z", "DNI",
				Domicili{CodiVia: "048503", TipusVia: "C", NomVia: "de Mallorca", Numero: "401", Pis: "3", Porta: "2", CodiPostal: "08013"},
				"12/03/2015", &Variacio{Codi: "CD", Descripcio: "Canvi de domicili", Data: "04/09/2019"}),
			"X1234567L": bcn("X1234567L", "NIE",
				Domicili{CodiVia: "072408", TipusVia: "PG", NomVia: "de Sant Joan", Numero: "88", Escala: "B", Pis: "PR", Porta: "1", CodiPostal: "08009"},
				"23/11/2021", &Variacio{Codi: "AO", Descripcio: "Alta per omissió", Data: "23/11/2021"}),
			"45678901G": bcn("45678901G", "DNI",
				Domicili{CodiVia: "019506", TipusVia: "AV", NomVia: "Diagonal", Numero: "640", Bloc: "A", Pis: "6", Porta: "4", CodiPostal: "08017"},
				"07/06/2008", &Variacio{Codi: "AN", Descripcio: "Alta per naixement", Data: "07/06/2008"}),
			// Answered in ISO-8859-1 (see New).
			Latin1Subject: bcn(Latin1Subject, "DNI",
				Domicili{CodiVia: "068407", TipusVia: "C", NomVia: Latin1Street, Numero: "31", Pis: "2", Porta: "1", CodiPostal: "08003"},
				"19/10/2017", &Variacio{Codi: "CD", Descripcio: "Canvi de domicili: reinscripció", Data: "19/10/2017"}),
			simsource.BrokenSubject: broken,
		}
	case "17079":
		gi := func(doc string, d Domicili, alta string, v *Variacio) Habitant {
			return Habitant{
				Document:        Document{Tipus: "DNI", Numero: doc},
				Provincia:       Codi{Codi: "17", Nom: "Girona"},
				Municipi:        Municipi{CodiINE: "17079", Nom: "Girona"},
				EntitatSingular: Codi{Codi: "000100", Nom: "Girona"},
				Nucli:           Codi{Codi: "01", Nom: "Girona"},
				Domicili:        d,
				DataAlta:        alta,
				DarreraVariacio: v,
			}
		}
		broken := gi(simsource.BrokenSubject,
			Domicili{CodiVia: "002210", TipusVia: "C", NomVia: "Nou", Numero: "5", CodiPostal: "1700"},
			"01/02/2020", nil)
		return map[string]Habitant{
			// A postcode truncated by the register: the adapter passes it
			// through and the broker must catch it.
			simsource.BrokenSubject: broken,
			"23456789D": gi("23456789D",
				Domicili{CodiVia: "001120", TipusVia: "C", NomVia: "de la Força", Numero: "7", Pis: "2", Porta: "1", CodiPostal: "17004"},
				"15/01/2012", &Variacio{Codi: "CR", Descripcio: "Alta per canvi de residència", Data: "15/01/2012"}),
			// A street name with every character JSON or HTML treats
			// specially, so that tests see the data leave unchanged.
			"67890123B": gi("67890123B",
				Domicili{CodiVia: "004410", TipusVia: "C", NomVia: "de l'Àngel «Nou» & \"Vell\" <Baix>\\1", Numero: "9", CodiPostal: "17002"},
				"02/02/2022", nil),
			"34567890V": gi("34567890V",
				Domicili{CodiVia: "003340", TipusVia: "PL", NomVia: "de la Independència", Numero: "3", Pis: "4", Porta: "B", CodiPostal: "17001"},
				"30/05/1998", nil),
		}
	case "43148":
		// Tarragona: a municipality the catalog configures no source for,
		// whose owner publishes its own adapter (docs/publishing.md).
		return map[string]Habitant{
			"12345678Z": {
				Document:        Document{Tipus: "DNI", Numero: "12345678Z"},
				Provincia:       Codi{Codi: "43", Nom: "Tarragona"},
				Municipi:        Municipi{CodiINE: "43148", Nom: "Tarragona"},
				EntitatSingular: Codi{Codi: "000100", Nom: "Tarragona"},
				Nucli:           Codi{Codi: "01", Nom: "Tarragona"},
				Domicili:        Domicili{CodiVia: "000820", TipusVia: "RB", NomVia: "Nova", Numero: "42", Pis: "3", Porta: "1", CodiPostal: "43001"},
				DataAlta:        "01/07/2023",
				DarreraVariacio: &Variacio{Codi: "CR", Descripcio: "Alta per canvi de residència", Data: "01/07/2023"},
			},
		}
	}
	return map[string]Habitant{}
}
