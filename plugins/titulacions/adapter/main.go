// Command adapter is the degrees adapter of the national registry of
// official university titles: it asks the registry for the subject's titles
// and answers the catalog's titulacions shape (SVDTUWS03).
//
// Build: GOOS=wasip1 GOARCH=wasm go build -buildmode=c-shared -o titulacions.wasm .
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
	Titulos []titulo `json:"titulos"`
}

type titulo struct {
	Universidad       codigo `json:"universidad"`
	Centro            codigo `json:"centro"`
	Titulacion        codigo `json:"titulacion"`
	Tipo              codigo `json:"tipoTitulacion"`
	FechaFinalizacion string `json:"fechaFinalizacion"`
	FechaExpedicion   string `json:"fechaExpedicion"`
	Pais              string `json:"pais"`
	NumeroTitulo      string `json:"numeroTitulo"`
	NumeroRegistro    string `json:"numeroRegistroNacional"`
}

type codigo struct {
	Codigo      string `json:"codigo"`
	Descripcion string `json:"descripcion"`
}

// answer is the catalog's titulacions answer.
type answer struct {
	Titles []title `json:"titles"`
}

type title struct {
	University     coded  `json:"university"`
	Centre         *coded `json:"centre,omitempty"`
	Title          coded  `json:"title"`
	Type           coded  `json:"type"`
	CompletionDate string `json:"completion_date"`
	IssueDate      string `json:"issue_date,omitempty"`
	Country        string `json:"country,omitempty"`
	TitleNumber    string `json:"title_number,omitempty"`
	RegistryNumber string `json:"registry_number"`
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
	resp, err := sdk.Get(strings.TrimRight(base, "/") + "/rnt/v2/titulos?documento=" + url.QueryEscape(req.Subject.ID))
	if err != nil {
		return nil, sdk.SourceUnavailable("the registry of titles could not be reached: %v", err)
	}
	switch {
	case resp.Status == 404:
		return nil, sdk.SubjectNotFound("the registry holds no title for the subject")
	case resp.Status >= 500:
		return nil, sdk.SourceUnavailable("the registry of titles answered HTTP %d", resp.Status)
	case resp.Status != 200:
		return nil, sdk.SourceUnavailable("the registry of titles refused the query with HTTP %d", resp.Status)
	}
	var r respuesta
	if err := json.Unmarshal(resp.Body, &r); err != nil {
		return nil, sdk.SourceUnavailable("the registry of titles answered something unreadable: %v", err)
	}
	if len(r.Titulos) == 0 {
		return nil, sdk.SubjectNotFound("the registry holds no title for the subject")
	}
	a := answer{Titles: make([]title, 0, len(r.Titulos))}
	for _, t := range r.Titulos {
		out := title{
			University:     coded{Code: t.Universidad.Codigo, Name: t.Universidad.Descripcion},
			Title:          coded{Code: t.Titulacion.Codigo, Name: t.Titulacion.Descripcion},
			Type:           coded{Code: t.Tipo.Codigo, Name: t.Tipo.Descripcion},
			CompletionDate: isoDate(t.FechaFinalizacion),
			IssueDate:      isoDate(t.FechaExpedicion),
			Country:        t.Pais,
			TitleNumber:    t.NumeroTitulo,
			RegistryNumber: t.NumeroRegistro,
		}
		if t.Centro.Codigo != "" {
			out.Centre = &coded{Code: t.Centro.Codigo, Name: t.Centro.Descripcion}
		}
		a.Titles = append(a.Titles, out)
	}
	return a, nil
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
