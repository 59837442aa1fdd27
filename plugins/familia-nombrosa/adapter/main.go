// Command adapter is the large-family adapter of a region: it asks the
// region's register of large-family titles for the title the subject holds
// and answers the catalog's familia-nombrosa shape (SVDSCTFNWS01). One
// module serves every region; each deployment's manifest names its region
// and its source_url.
//
// Build: GOOS=wasip1 GOARCH=wasm go build -buildmode=c-shared -o familia-nombrosa.wasm .
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

type resposta struct {
	Comunitat codi `json:"comunitat"`
	Titol     struct {
		Numero        string   `json:"numero"`
		Categoria     string   `json:"categoria"`
		Vigent        string   `json:"vigent"`
		DataExpedicio string   `json:"data_expedicio"`
		DataCaducitat string   `json:"data_caducitat"`
		NombreFills   int      `json:"nombre_fills"`
		Membres       []membre `json:"membres"`
	} `json:"titol"`
}

type codi struct {
	Codi string `json:"codi"`
	Nom  string `json:"nom"`
}

type membre struct {
	TipusDocument string `json:"tipus_document"`
	Document      string `json:"document"`
	Nom           string `json:"nom"`
	Cognom1       string `json:"cognom1"`
	Cognom2       string `json:"cognom2"`
	DataNaixement string `json:"data_naixement"`
	Condicio      string `json:"condicio"`
}

// answer is the catalog's familia-nombrosa answer.
type answer struct {
	Region        coded         `json:"region"`
	TitleNumber   string        `json:"title_number"`
	Category      string        `json:"category"`
	Valid         bool          `json:"valid"`
	IssueDate     string        `json:"issue_date"`
	ExpiryDate    string        `json:"expiry_date"`
	Children      int           `json:"children"`
	Beneficiaries []beneficiary `json:"beneficiaries"`
}

type coded struct {
	Code string `json:"code"`
	Name string `json:"name"`
}

type beneficiary struct {
	IDType       string `json:"id_type,omitempty"`
	ID           string `json:"id,omitempty"`
	Name         string `json:"name"`
	Surname1     string `json:"surname1,omitempty"`
	Surname2     string `json:"surname2,omitempty"`
	BirthDate    string `json:"birth_date,omitempty"`
	Relationship string `json:"relationship"`
}

var categories = map[string]string{"GENERAL": "G", "ESPECIAL": "E"}

var relationships = map[string]string{"TITULAR": "holder", "CONJUGE": "spouse", "FILL": "child"}

func handle(req *sdk.Request) (any, error) {
	base, ok := sdk.Config("source_url")
	if !ok {
		return nil, sdk.SourceUnavailable("the adapter has no source_url configured")
	}
	resp, err := sdk.Get(strings.TrimRight(base, "/") + "/familia-nombrosa/v1/titols?document=" + url.QueryEscape(req.Subject.ID))
	if err != nil {
		return nil, sdk.SourceUnavailable("the large-family register could not be reached: %v", err)
	}
	switch {
	case resp.Status == 404:
		return nil, sdk.SubjectNotFound("the region holds no large-family title for the subject")
	case resp.Status >= 500:
		return nil, sdk.SourceUnavailable("the large-family register answered HTTP %d", resp.Status)
	case resp.Status != 200:
		return nil, sdk.SourceUnavailable("the large-family register refused the query with HTTP %d", resp.Status)
	}
	var r resposta
	if err := json.Unmarshal(resp.Body, &r); err != nil {
		return nil, sdk.SourceUnavailable("the large-family register answered something unreadable: %v", err)
	}
	t := r.Titol
	a := answer{
		Region:        coded{Code: r.Comunitat.Codi, Name: r.Comunitat.Nom},
		TitleNumber:   t.Numero,
		Category:      orRaw(categories, t.Categoria),
		Valid:         strings.EqualFold(t.Vigent, "S"),
		IssueDate:     isoDate(t.DataExpedicio),
		ExpiryDate:    isoDate(t.DataCaducitat),
		Children:      t.NombreFills,
		Beneficiaries: make([]beneficiary, 0, len(t.Membres)),
	}
	for _, m := range t.Membres {
		a.Beneficiaries = append(a.Beneficiaries, beneficiary{
			IDType: m.TipusDocument, ID: m.Document,
			Name: m.Nom, Surname1: m.Cognom1, Surname2: m.Cognom2,
			BirthDate:    isoDate(m.DataNaixement),
			Relationship: orRaw(relationships, m.Condicio),
		})
	}
	return a, nil
}

// orRaw translates a source code, passing an unknown one through for the
// broker's schema check to reject rather than guessing.
func orRaw(table map[string]string, code string) string {
	if v, ok := table[strings.ToUpper(code)]; ok {
		return v
	}
	return code
}

// isoDate turns the register's dd/mm/yyyy into yyyy-mm-dd; anything else is
// passed through for the broker's schema check to reject.
func isoDate(s string) string {
	if s == "" {
		return ""
	}
	t, err := time.Parse("02/01/2006", s)
	if err != nil {
		return s
	}
	return t.Format(time.DateOnly)
}
