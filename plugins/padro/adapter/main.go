// Command adapter is the padró adapter of a municipality: it asks the
// municipality's padró system where the subject is registered and answers
// the catalog's padro shape (INE SVDSECOPA01WS01). One module serves every
// municipality; each deployment's manifest names its scope and its
// source_url.
//
// Build: GOOS=wasip1 GOARCH=wasm go build -buildmode=c-shared -o padro.wasm .
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

// habitant is the part of the source's record the adapter reads.
type habitant struct {
	Provincia       codi      `json:"provincia"`
	Municipi        municipi  `json:"municipi"`
	EntitatCollect  *codi     `json:"entitat_collectiva"`
	EntitatSingular codi      `json:"entitat_singular"`
	Nucli           codi      `json:"nucli"`
	Domicili        domicili  `json:"domicili"`
	DataAlta        string    `json:"data_alta"`
	DarreraVariacio *variacio `json:"darrera_variacio"`
}

type codi struct {
	Codi string `json:"codi"`
	Nom  string `json:"nom"`
}

type municipi struct {
	CodiINE string `json:"codi_ine"`
	Nom     string `json:"nom"`
}

type domicili struct {
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

type variacio struct {
	Codi       string `json:"codi"`
	Descripcio string `json:"descripcio"`
	Data       string `json:"data"`
}

// answer is the catalog's padro answer.
type answer struct {
	Province         coded      `json:"province"`
	Municipality     coded      `json:"municipality"`
	Entity           *entity    `json:"entity,omitempty"`
	Address          address    `json:"address"`
	RegistrationDate string     `json:"registration_date"`
	LastVariation    *variation `json:"last_variation,omitempty"`
}

type coded struct {
	Code string `json:"code"`
	Name string `json:"name"`
}

type entity struct {
	Collective *coded `json:"collective,omitempty"`
	Singular   coded  `json:"singular"`
	Nucleus    coded  `json:"nucleus"`
}

type address struct {
	StreetCode string `json:"street_code,omitempty"`
	StreetType string `json:"street_type"`
	StreetName string `json:"street_name"`
	Number     string `json:"number,omitempty"`
	Block      string `json:"block,omitempty"`
	Portal     string `json:"portal,omitempty"`
	Stair      string `json:"stair,omitempty"`
	Floor      string `json:"floor,omitempty"`
	Door       string `json:"door,omitempty"`
	Postcode   string `json:"postcode"`
}

type variation struct {
	Code        string `json:"code"`
	Description string `json:"description,omitempty"`
	Date        string `json:"date"`
}

func handle(req *sdk.Request) (any, error) {
	base, ok := sdk.Config("source_url")
	if !ok {
		return nil, sdk.SourceUnavailable("the adapter has no source_url configured")
	}
	u := strings.TrimRight(base, "/") + "/padro/v1/habitants/" + url.PathEscape(req.Subject.ID)
	if m := req.Param("municipality"); m != "" {
		u += "?municipi=" + url.QueryEscape(m)
	}
	resp, err := sdk.Get(u)
	if err != nil {
		return nil, sdk.SourceUnavailable("the padró system could not be reached: %v", err)
	}
	switch {
	case resp.Status == 404:
		return nil, sdk.SubjectNotFound("the subject is not registered in this municipality's padró")
	case resp.Status >= 500:
		return nil, sdk.SourceUnavailable("the padró system answered HTTP %d", resp.Status)
	case resp.Status != 200:
		return nil, sdk.SourceUnavailable("the padró system refused the query with HTTP %d", resp.Status)
	}
	var h habitant
	if err := json.Unmarshal(resp.Body, &h); err != nil {
		return nil, sdk.SourceUnavailable("the padró system answered something unreadable: %v", err)
	}
	return mapHabitant(h), nil
}

// mapHabitant translates the source's record into the catalog's shape. It
// passes codes through as the source gives them: checking them is the
// broker's job (the answer schema), and the adapter must not invent data.
func mapHabitant(h habitant) answer {
	a := answer{
		Province:     coded{Code: h.Provincia.Codi, Name: h.Provincia.Nom},
		Municipality: coded{Code: h.Municipi.CodiINE, Name: h.Municipi.Nom},
		Address: address{
			StreetCode: h.Domicili.CodiVia, StreetType: h.Domicili.TipusVia, StreetName: h.Domicili.NomVia,
			Number: h.Domicili.Numero, Block: h.Domicili.Bloc, Portal: h.Domicili.Portal, Stair: h.Domicili.Escala,
			Floor: h.Domicili.Pis, Door: h.Domicili.Porta, Postcode: h.Domicili.CodiPostal,
		},
		RegistrationDate: isoDate(h.DataAlta),
	}
	if h.EntitatSingular.Codi != "" {
		a.Entity = &entity{
			Singular: coded{Code: h.EntitatSingular.Codi, Name: h.EntitatSingular.Nom},
			Nucleus:  coded{Code: h.Nucli.Codi, Name: h.Nucli.Nom},
		}
		if c := h.EntitatCollect; c != nil && c.Codi != "" {
			a.Entity.Collective = &coded{Code: c.Codi, Name: c.Nom}
		}
	}
	if v := h.DarreraVariacio; v != nil {
		a.LastVariation = &variation{Code: v.Codi, Description: v.Descripcio, Date: isoDate(v.Data)}
	}
	return a
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
