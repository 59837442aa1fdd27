package scsp

import (
	"encoding/json"
	"encoding/xml"
	"fmt"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/pontexchange/pont/exchange/fault"
)

// fitCode refuses a code longer than n characters: a code cut short
// would be another code, or none.
func fitCode(what, s string, n int) error {
	if utf8.RuneCountInString(s) > n {
		return fmt.Errorf("the %s %q does not fit SCSP's %d characters", what, s, n)
	}
	return nil
}

// codeLimit is a code of Pont's answer and the length of its element.
type codeLimit struct {
	what, v string
	n       int
}

// fecha writes an ISO 8601 date (Pont's answers) as DD/MM/AAAA, the
// format of the dates of SVDSCDDWS01, SVDSCTFNWS01 and SVDTUWS03, whose
// Fecha type takes a year from 1000 to 2999. An empty date is written
// empty (the element left out).
func fecha(what, s string) (string, error) {
	if s == "" {
		return "", nil
	}
	d, err := time.Parse(time.DateOnly, s)
	if err != nil || d.Year() < 1000 || d.Year() > 2999 {
		return "", fmt.Errorf("the %s %q is not a date SCSP can write as DD/MM/AAAA", what, s)
	}
	return d.Format("02/01/2006"), nil
}

// sN writes a boolean as SCSP's Resultado: S or N.
func sN(b *bool) string {
	switch {
	case b == nil:
		return ""
	case *b:
		return "S"
	default:
		return "N"
	}
}

// missing names the members of Pont's answer an element required by the
// certificate's schema needs and the purpose's answer lacks: SCSP has no
// value for "unknown" in any of them, so the answer cannot be written.
func missing(certificate string, names []string) error {
	if len(names) == 0 {
		return nil
	}
	return fmt.Errorf("the answer has no %s, which %s requires (the purpose may not see it)", strings.Join(names, ", "), certificate)
}

// seq is a sequence of elements written one after the other, each under
// its own XMLName, with no element around them.
type seq []any

func (s seq) MarshalXML(e *xml.Encoder, _ xml.StartElement) error {
	for _, v := range s {
		if err := e.Encode(v); err != nil {
			return err
		}
	}
	return nil
}

// region is the autonomous community of Pont's answers.
type region struct {
	Code string `json:"code"`
	Name string `json:"name"`
}

// communityCode checks a region's code against CodigoComunidadAutonoma,
// the INE's 2 digits from 01 to 19.
func communityCode(r *region) (string, error) {
	if r == nil {
		return "", nil
	}
	if !digits(r.Code, 2) || r.Code < "01" || r.Code > "19" {
		return "", fmt.Errorf("the region code %q is not one of CodigoComunidadAutonoma's (01 to 19)", r.Code)
	}
	return r.Code, nil
}

// discapacitatAnswer is discapacitat's answer schema; region's name has
// no element in SVDSCDDWS01's Retorno.
type discapacitatAnswer struct {
	Region            *region  `json:"region"`
	Degree            *int     `json:"degree"`
	Types             []string `json:"types"`
	MobilityScore     *int     `json:"mobility_score"`
	MobilityFactor    string   `json:"mobility_factor"`
	Dependency        *bool    `json:"dependency"`
	CompanionRequired *bool    `json:"companion_required"`
	EffectiveDate     string   `json:"effective_date"`
	ReviewDate        string   `json:"review_date"`
	PermanentValidity *bool    `json:"permanent_validity"`
}

// certificadoDatosDiscapacidad is SVDSCDDWS01's CertificadoDatosDiscapacidad,
// in its schema's sequence. CodigoProvincia and Expediente have no
// counterpart in Pont's answer.
type certificadoDatosDiscapacidad struct {
	XMLName                      xml.Name            `xml:"CertificadoDatosDiscapacidad"`
	CodigoComunidadAutonoma      string              `xml:"CodigoComunidadAutonoma"`
	RespuestaMovilidad           *respuestaMovilidad `xml:"RespuestaMovilidad,omitempty"`
	RespuestaDependencia         string              `xml:"RespuestaDependencia,omitempty"`
	RespuestaAcompananteTPublico string              `xml:"RespuestaAcompananteTPublico,omitempty"`
	GradoDiscapacidad            int                 `xml:"GradoDiscapacidad"`
	TiposDiscapacidad            *tiposDiscapacidad  `xml:"TiposDiscapacidad,omitempty"`
	FechaEfectos                 string              `xml:"FechaEfectos"`
	FechaRevision                string              `xml:"FechaRevision,omitempty"`
	ValidezPermanente            string              `xml:"ValidezPermanente"`
}

type respuestaMovilidad struct {
	Puntuacion *int   `xml:"Puntuacion,omitempty"`
	Factor     string `xml:"Factor,omitempty"`
}

type tiposDiscapacidad struct {
	TipoDiscapacidad []string `xml:"TipoDiscapacidad"`
}

// disabilityTypes are SVDSCDDWS01's TipoDiscapacidad by Pont's types.
var disabilityTypes = map[string]string{"physical": "FISICA", "psychic": "PSIQUICA", "sensory": "SENSORIAL"}

// discapacitatRetorno writes discapacitat's answer data as SVDSCDDWS01's
// CertificadoDatosDiscapacidad. Its disability types are written only
// when the request's Consulta/ConsentimientoTiposDiscapacidad is S: the
// certificate asks the citizen's consent for them. CodigoComunidadAutonoma,
// GradoDiscapacidad, FechaEfectos and ValidezPermanente are required and
// have no value for "unknown": an answer without them (a purpose that may
// not see them) is refused.
func discapacitatRetorno(data json.RawMessage, de []Node) (any, error) {
	var a discapacitatAnswer
	if err := json.Unmarshal(data, &a); err != nil {
		return nil, fmt.Errorf("the discapacitat answer cannot be read: %v", err)
	}
	var lacks []string
	if a.Region == nil {
		lacks = append(lacks, "region")
	}
	if a.Degree == nil {
		lacks = append(lacks, "degree")
	}
	if a.EffectiveDate == "" {
		lacks = append(lacks, "effective_date")
	}
	if a.PermanentValidity == nil {
		lacks = append(lacks, "permanent_validity")
	}
	if err := missing("SVDSCDDWS01", lacks); err != nil {
		return nil, err
	}
	ca, err := communityCode(a.Region)
	if err != nil {
		return nil, err
	}
	if *a.Degree < 0 || *a.Degree > 100 {
		return nil, fmt.Errorf("the degree %d is not one of GradoDiscapacidad's (0 to 100)", *a.Degree)
	}
	c := certificadoDatosDiscapacidad{
		CodigoComunidadAutonoma:      ca,
		RespuestaDependencia:         sN(a.Dependency),
		RespuestaAcompananteTPublico: sN(a.CompanionRequired),
		GradoDiscapacidad:            *a.Degree,
		ValidezPermanente:            sN(a.PermanentValidity),
	}
	if a.MobilityScore != nil || a.MobilityFactor != "" {
		if s := a.MobilityScore; s != nil && (*s < 0 || *s > 15) {
			return nil, fmt.Errorf("the mobility score %d is not one of Puntuacion's (0 to 15)", *s)
		}
		switch a.MobilityFactor {
		case "", "A", "B", "C":
		default:
			return nil, fmt.Errorf("the mobility factor %q is not one of Factor's (A, B, C)", a.MobilityFactor)
		}
		c.RespuestaMovilidad = &respuestaMovilidad{Puntuacion: a.MobilityScore, Factor: a.MobilityFactor}
	}
	consent, _ := text(de, "", false, "Consulta", "ConsentimientoTiposDiscapacidad")
	if consent == "S" && a.Types != nil {
		c.TiposDiscapacidad = &tiposDiscapacidad{}
		for _, t := range a.Types {
			tipo, ok := disabilityTypes[t]
			if !ok {
				return nil, fmt.Errorf("the disability type %q is not one of TipoDiscapacidad's", t)
			}
			c.TiposDiscapacidad.TipoDiscapacidad = append(c.TiposDiscapacidad.TipoDiscapacidad, tipo)
		}
	}
	if c.FechaEfectos, err = fecha("effective date", a.EffectiveDate); err != nil {
		return nil, err
	}
	if c.FechaRevision, err = fecha("review date", a.ReviewDate); err != nil {
		return nil, err
	}
	return c, nil
}

// familiaNombrosaAnswer is familia-nombrosa's answer schema; region's
// name has no element in SVDSCTFNWS01's Retorno.
type familiaNombrosaAnswer struct {
	Region        *region `json:"region"`
	TitleNumber   string  `json:"title_number"`
	Category      string  `json:"category"`
	Valid         *bool   `json:"valid"`
	IssueDate     string  `json:"issue_date"`
	ExpiryDate    string  `json:"expiry_date"`
	Children      *int    `json:"children"`
	Beneficiaries []struct {
		IDType       string `json:"id_type"`
		ID           string `json:"id"`
		Name         string `json:"name"`
		Surname1     string `json:"surname1"`
		Surname2     string `json:"surname2"`
		BirthDate    string `json:"birth_date"`
		Relationship string `json:"relationship"`
	} `json:"beneficiaries"`
}

// tituloFN is SVDSCTFNWS01's TituloFamiliaNumerosaRetorno.
type tituloFN struct {
	XMLName                 xml.Name `xml:"TituloFamiliaNumerosaRetorno"`
	CodigoComunidadAutonoma string   `xml:"CodigoComunidadAutonoma"`
	NumeroTitulo            string   `xml:"NumeroTitulo"`
	Categoria               string   `xml:"Categoria"`
	TituloVigente           string   `xml:"TituloVigente,omitempty"`
	FechaExpedicion         string   `xml:"FechaExpedicion,omitempty"`
	FechaCaducidad          string   `xml:"FechaCaducidad"`
	NumeroHijos             int      `xml:"NumeroHijos"`
}

// beneficiarios is SVDSCTFNWS01's ListaBeneficiariosRetorno.
type beneficiarios struct {
	XMLName      xml.Name              `xml:"ListaBeneficiariosRetorno"`
	Beneficiario []beneficiarioRetorno `xml:"BeneficiarioRetorno"`
}

type beneficiarioRetorno struct {
	TipoDocumentacion string `xml:"TipoDocumentacion,omitempty"`
	Documentacion     string `xml:"Documentacion,omitempty"`
	FechaNacimiento   string `xml:"FechaNacimiento,omitempty"`
	Nombre            string `xml:"Nombre,omitempty"`
	Apellido1         string `xml:"Apellido1,omitempty"`
	Apellido2         string `xml:"Apellido2,omitempty"`
	Titular           string `xml:"Titular,omitempty"`
}

// familiaNombrosaRetorno writes familia-nombrosa's answer data as
// SVDSCTFNWS01's TituloFamiliaNumerosaRetorno and its beneficiaries (the
// holder's Titular is S, the others' N). CodigoComunidadAutonoma,
// NumeroTitulo, Categoria, FechaCaducidad and NumeroHijos are required and
// have no value for "unknown": an answer without them is refused, and so
// is one whose children do not fit NumeroHijos (1 to 30).
func familiaNombrosaRetorno(data json.RawMessage, _ []Node) (any, error) {
	var a familiaNombrosaAnswer
	if err := json.Unmarshal(data, &a); err != nil {
		return nil, fmt.Errorf("the familia-nombrosa answer cannot be read: %v", err)
	}
	var lacks []string
	for _, m := range []struct {
		name string
		ok   bool
	}{{"region", a.Region != nil}, {"title_number", a.TitleNumber != ""}, {"category", a.Category != ""}, {"expiry_date", a.ExpiryDate != ""}, {"children", a.Children != nil}} {
		if !m.ok {
			lacks = append(lacks, m.name)
		}
	}
	if err := missing("SVDSCTFNWS01", lacks); err != nil {
		return nil, err
	}
	ca, err := communityCode(a.Region)
	if err != nil {
		return nil, err
	}
	if err := fitCode("title number", a.TitleNumber, 30); err != nil {
		return nil, err
	}
	switch a.Category {
	case "G", "E":
	default:
		return nil, fmt.Errorf("the category %q is not one of Categoria's", a.Category)
	}
	if *a.Children < 1 || *a.Children > 30 {
		return nil, fmt.Errorf("the number of children %d is not one of NumeroHijos' (1 to 30)", *a.Children)
	}
	t := tituloFN{
		CodigoComunidadAutonoma: ca,
		NumeroTitulo:            a.TitleNumber,
		Categoria:               a.Category,
		TituloVigente:           sN(a.Valid),
		NumeroHijos:             *a.Children,
	}
	if t.FechaExpedicion, err = fecha("issue date", a.IssueDate); err != nil {
		return nil, err
	}
	if t.FechaCaducidad, err = fecha("expiry date", a.ExpiryDate); err != nil {
		return nil, err
	}
	// After Estado, in the schema's sequence: the title, then its
	// beneficiaries when there are any.
	out := seq{t}
	var list beneficiarios
	for _, b := range a.Beneficiaries {
		switch b.IDType {
		case "", "NIF", "DNI", "NIE", "Pasaporte":
		default:
			return nil, fmt.Errorf("the beneficiary's id type %q is not one of TipoDocumentacion's", b.IDType)
		}
		if err := fitCode("beneficiary's id", b.ID, 14); err != nil {
			return nil, err
		}
		r := beneficiarioRetorno{
			TipoDocumentacion: b.IDType, Documentacion: b.ID,
			Nombre: fit(b.Name, 40), Apellido1: fit(b.Surname1, 40), Apellido2: fit(b.Surname2, 40),
		}
		if r.FechaNacimiento, err = fecha("beneficiary's birth date", b.BirthDate); err != nil {
			return nil, err
		}
		switch b.Relationship {
		case "holder":
			r.Titular = "S"
		case "":
		default:
			r.Titular = "N"
		}
		list.Beneficiario = append(list.Beneficiario, r)
	}
	if len(list.Beneficiario) > 0 {
		out = append(out, list)
	}
	return out, nil
}

// titulacionsAnswer is titulacions' answer schema.
type titulacionsAnswer struct {
	Titles []titleAnswer `json:"titles"`
}

type titleAnswer struct {
	// Kind is university or non_university; an answer without it (an
	// adapter older than non-university titles) has only university ones.
	Kind           string `json:"kind"`
	University     *coded `json:"university"`
	Centre         *coded `json:"centre"`
	Title          *coded `json:"title"`
	Type           *coded `json:"type"`
	CompletionDate string `json:"completion_date"`
	IssueDate      string `json:"issue_date"`
	Country        string `json:"country"`
	TitleNumber    string `json:"title_number"`
	RegistryNumber string `json:"registry_number"`
}

// university reports whether t is a university title.
func (t *titleAnswer) university() bool {
	if t.Kind == "" {
		return t.University != nil
	}
	return t.Kind == "university"
}

// listaTitulos is SVDTUWS03's and SVDTNUWS03's ListaTitulos. Its
// DatosTitulacion, DatosCentro and DatosTitulo are xs:all; they are
// written in the schema's order all the same.
type listaTitulos struct {
	XMLName         xml.Name          `xml:"ListaTitulos"`
	DatosTitulacion []datosTitulacion `xml:"DatosTitulacion"`
}

type datosTitulacion struct {
	DatosCentro *datosCentro `xml:"DatosCentro,omitempty"`
	DatosTitulo datosTitulo  `xml:"DatosTitulo"`
}

type datosCentro struct {
	CodigoUniversidad string `xml:"CodigoUniversidad,omitempty"`
	Universidad       string `xml:"Universidad,omitempty"`
	CodigoCentro      string `xml:"CodigoCentro,omitempty"`
	Centro            string `xml:"Centro,omitempty"`
}

// datosTitulo holds the elements of both certificates' DatosTitulo:
// RegistroUniversitario is SVDTUWS03's, NumeroRegistroMec SVDTNUWS03's.
type datosTitulo struct {
	CodigoTitulacion      string `xml:"CodigoTitulacion,omitempty"`
	Titulacion            string `xml:"Titulacion,omitempty"`
	CodigoTipoTitulo      string `xml:"CodigoTipoTitulo,omitempty"`
	TipoTitulo            string `xml:"TipoTitulo,omitempty"`
	FechaFinalizacion     string `xml:"FechaFinalizacion,omitempty"`
	FechaExpedicion       string `xml:"FechaExpedicion,omitempty"`
	CodigoPaisExpedicion  string `xml:"CodigoPaisExpedicion,omitempty"`
	NumeroTitulo          string `xml:"NumeroTitulo,omitempty"`
	RegistroUniversitario string `xml:"RegistroUniversitario,omitempty"`
	NumeroRegistroMec     string `xml:"NumeroRegistroMec,omitempty"`
}

// titleLimits are the lengths of a certificate's title elements: codes
// must fit (a code cut short would be another code), names are cut.
type titleLimits struct {
	certificate                    string
	university                     bool // which titles the certificate answers
	universityCode, universityName int
	centreCode, centreName         int
	titleCode, titleName           int
	typeCode, typeName             int
	titleNumber, registryNumber    int
}

var (
	universityTitles = titleLimits{
		certificate: "SVDTUWS03", university: true,
		universityCode: 4, universityName: 250, centreCode: 100, centreName: 250,
		titleCode: 11, titleName: 1000, typeCode: 4, typeName: 100, titleNumber: 15, registryNumber: 10,
	}
	nonUniversityTitles = titleLimits{
		certificate: "SVDTNUWS03",
		centreCode:  10, centreName: 40, titleCode: 15, titleName: 100, typeCode: 4, typeName: 15, registryNumber: 15,
	}
)

// titulosRetorno writes titulacions' answer data as the certificate's
// ListaTitulos, a DatosTitulacion per title of the kind the certificate
// answers (university titles for SVDTUWS03, the others for SVDTNUWS03):
// every element of it is optional, and a subject with no title of that
// kind gets an empty list. PaisExpedicion (the country's name) is not
// written: Pont's answer has only its ISO 3166-1 code. A university title's
// registry number is its RegistroUniversitario, a non-university one's
// its NumeroRegistroMec; the title number exists for university titles
// only.
func titulosRetorno(lim titleLimits) renderer {
	return func(data json.RawMessage, _ []Node) (any, error) {
		var a titulacionsAnswer
		if err := json.Unmarshal(data, &a); err != nil {
			return nil, fmt.Errorf("the titulacions answer cannot be read: %v", err)
		}
		l := listaTitulos{DatosTitulacion: []datosTitulacion{}}
		for i := range a.Titles {
			t := &a.Titles[i]
			if t.university() != lim.university {
				continue
			}
			d, err := titleOf(t, lim)
			if err != nil {
				return nil, err
			}
			l.DatosTitulacion = append(l.DatosTitulacion, d)
		}
		if len(l.DatosTitulacion) == 0 {
			return nil, nil
		}
		return l, nil
	}
}

func titleOf(t *titleAnswer, lim titleLimits) (datosTitulacion, error) {
	var d datosTitulacion
	codes := []codeLimit{{"registry number", t.RegistryNumber, lim.registryNumber}, {"country", t.Country, 3}}
	if lim.university {
		codes = append(codes, codeLimit{"title number", t.TitleNumber, lim.titleNumber})
		if u := t.University; u != nil {
			codes = append(codes, codeLimit{"university code", u.Code, lim.universityCode})
		}
	}
	if c := t.Centre; c != nil {
		codes = append(codes, codeLimit{"centre code", c.Code, lim.centreCode})
	}
	if c := t.Title; c != nil {
		codes = append(codes, codeLimit{"title code", c.Code, lim.titleCode})
	}
	if c := t.Type; c != nil {
		codes = append(codes, codeLimit{"title type code", c.Code, lim.typeCode})
	}
	for _, c := range codes {
		if err := fitCode(c.what, c.v, c.n); err != nil {
			return d, err
		}
	}
	u := t.University
	if !lim.university {
		u = nil
	}
	if u != nil || t.Centre != nil {
		c := &datosCentro{}
		if u != nil {
			c.CodigoUniversidad, c.Universidad = u.Code, fit(u.Name, lim.universityName)
		}
		if ce := t.Centre; ce != nil {
			c.CodigoCentro, c.Centro = ce.Code, fit(ce.Name, lim.centreName)
		}
		d.DatosCentro = c
	}
	dt := &d.DatosTitulo
	if c := t.Title; c != nil {
		dt.CodigoTitulacion, dt.Titulacion = c.Code, fit(c.Name, lim.titleName)
	}
	if c := t.Type; c != nil {
		dt.CodigoTipoTitulo, dt.TipoTitulo = c.Code, fit(c.Name, lim.typeName)
	}
	var err error
	if dt.FechaFinalizacion, err = fecha("completion date", t.CompletionDate); err != nil {
		return d, err
	}
	if dt.FechaExpedicion, err = fecha("issue date", t.IssueDate); err != nil {
		return d, err
	}
	dt.CodigoPaisExpedicion = t.Country
	if lim.university {
		dt.NumeroTitulo, dt.RegistroUniversitario = t.TitleNumber, t.RegistryNumber
	} else {
		dt.NumeroRegistroMec = t.RegistryNumber
	}
	return d, nil
}

// prestacionsAnswer is prestacions' answer schema. Amounts are read as
// json.Number so that they are written as they were answered.
type prestacionsAnswer struct {
	Benefits []struct {
		Code         string      `json:"code"`
		Name         string      `json:"name"`
		Type         string      `json:"type"`
		ManagingBody *coded      `json:"managing_body"`
		GrossAmount  json.Number `json:"gross_amount"`
		NetAmount    json.Number `json:"net_amount"`
		Payments     json.Number `json:"payments"`
		Effective    string      `json:"effective_date"`
		End          string      `json:"end_date"`
	} `json:"benefits"`
}

// retornoPensiones is Q2827002CINSS001's Retorno: unlike the other
// certificates', it has no Estado but a Codigo and Descripcion of its own,
// and its Pensionista and Pensiones are required.
type retornoPensiones struct {
	XMLName     xml.Name    `xml:"Retorno"`
	Codigo      string      `xml:"Codigo"`
	Descripcion string      `xml:"Descripcion,omitempty"`
	Pensionista pensionista `xml:"Pensionista"`
	Pensiones   pensiones   `xml:"Pensiones"`
}

type pensionista struct {
	FecProceso string `xml:"Fec-proceso"`
	Apellido1  string `xml:"Apellido1"`
	Apellido2  string `xml:"Apellido2"`
	Nombre     string `xml:"Nombre"`
}

type pensiones struct {
	Pension []pension `xml:"Pension"`
}

type pension struct {
	CodPrest   string `xml:"Cod-prest"`
	LitPrest   string `xml:"Lit-prest"`
	TipPrest   string `xml:"Tip-prest"`
	EntGest    string `xml:"Ent-gest"`
	EntGestLit string `xml:"Ent-gest-lit"`
	ImpBruto   string `xml:"Imp-bruto,omitempty"`
	ImpLiquido string `xml:"Imp-liquido,omitempty"`
	NumPagas   string `xml:"Num-pagas,omitempty"`
	FecEfectos string `xml:"Fec-efectos,omitempty"`
	FecFin     string `xml:"Fec-fin,omitempty"`
}

// benefitTypes are the INSS's words for Pont's benefit types.
var benefitTypes = map[string]string{
	"contributory":     "CONTRIBUTIVA",
	"non_contributory": "NO CONTRIBUTIVA",
	"assistance":       "ASISTENCIAL",
	"other":            "OTRA",
}

// pensionesRetorno writes an element's answer as Q2827002CINSS001's
// Retorno. The Pensionista is the Titular as the request named her (the
// register's answer carries no name, and the requester's own words are
// all that is echoed) and the day the answer was written (Fec-proceso,
// AAAAMMDD as the certificate's other dates); a failed element has its
// SCSP code and text as Codigo and Descripcion, and no pension.
func pensionesRetorno(res Result, sol *SolicitudTransmision, now time.Time) (any, error) {
	t := &sol.DatosGenericos.Titular
	name := t.Nombre
	if name == "" {
		name = t.NombreCompleto
	}
	out := retornoPensiones{
		Codigo: fault.SCSPProcessed, Descripcion: fault.SCSPProcessedText,
		Pensionista: pensionista{FecProceso: now.Format("20060102"), Apellido1: t.Apellido1, Apellido2: t.Apellido2, Nombre: name},
		Pensiones:   pensiones{Pension: []pension{}},
	}
	if res.Code != "" {
		out.Codigo, out.Descripcion = res.Code, res.Literal
		return out, nil
	}
	var a prestacionsAnswer
	if err := json.Unmarshal(res.Data, &a); err != nil {
		return nil, fmt.Errorf("the prestacions answer cannot be read: %v", err)
	}
	for _, b := range a.Benefits {
		p := pension{
			CodPrest: b.Code, LitPrest: b.Name, TipPrest: benefitTypes[b.Type],
			NumPagas:   b.Payments.String(),
			FecEfectos: strings.ReplaceAll(b.Effective, "-", ""), FecFin: strings.ReplaceAll(b.End, "-", ""),
		}
		if p.TipPrest == "" {
			p.TipPrest = b.Type
		}
		if m := b.ManagingBody; m != nil {
			p.EntGest, p.EntGestLit = m.Code, m.Name
		}
		var err error
		if p.ImpBruto, err = amount("gross amount", b.GrossAmount); err != nil {
			return nil, err
		}
		if p.ImpLiquido, err = amount("net amount", b.NetAmount); err != nil {
			return nil, err
		}
		out.Pensiones.Pension = append(out.Pensiones.Pension, p)
	}
	return out, nil
}

// amount writes a euro amount with two decimals and a point; an absent one
// is left out.
func amount(what string, n json.Number) (string, error) {
	if n == "" {
		return "", nil
	}
	f, err := n.Float64()
	if err != nil || f < 0 {
		return "", fmt.Errorf("the %s %q is not an amount in euros", what, n)
	}
	return strconv.FormatFloat(f, 'f', 2, 64), nil
}
