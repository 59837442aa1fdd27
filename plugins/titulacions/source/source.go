// Package source simulates the ministry's national registry of official
// titles, university and non-university, in its own shape: Spanish field
// names, dates as yyyymmdd, one list of titles per holder. A university
// title names its university; a non-university one (vocational training,
// Bachillerato, higher artistic education) has none. Its data are
// synthetic; plugins/README.md lists the fixtures.
package source

import (
	"net/http"

	"github.com/pontexchange/pont/plugins/internal/simsource"
)

// Respuesta is the registry's answer for one holder.
type Respuesta struct {
	Documento string   `json:"documento"`
	Titulos   []Titulo `json:"titulos"`
}

// Titulo is one registered title. Universidad is nil, and left out of the
// JSON, for a non-university title.
type Titulo struct {
	Universidad       *Codigo `json:"universidad,omitempty"`
	Centro            Codigo  `json:"centro"`
	Titulacion        Codigo  `json:"titulacion"`
	Tipo              Codigo  `json:"tipoTitulacion"`
	FechaFinalizacion string  `json:"fechaFinalizacion"`
	FechaExpedicion   string  `json:"fechaExpedicion"`
	Pais              string  `json:"pais"`
	NumeroTitulo      string  `json:"numeroTitulo,omitempty"`
	NumeroRegistro    string  `json:"numeroRegistroNacional"`
}

// Codigo is a code and its description.
type Codigo struct {
	Codigo      string `json:"codigo"`
	Descripcion string `json:"descripcion"`
}

var (
	ub   = &Codigo{Codigo: "022", Descripcion: "Universitat de Barcelona"}
	upf  = &Codigo{Codigo: "042", Descripcion: "Universitat Pompeu Fabra"}
	upc  = &Codigo{Codigo: "024", Descripcion: "Universitat Politècnica de Catalunya"}
	udg  = &Codigo{Codigo: "036", Descripcion: "Universitat de Girona"}
	uv   = &Codigo{Codigo: "028", Descripcion: "Universitat de València (Estudi General)"}
	grau = Codigo{Codigo: "0H", Descripcion: "Grado"}
	mast = Codigo{Codigo: "0G", Descripcion: "Máster"}
	doct = Codigo{Codigo: "07", Descripcion: "Doctor"}
	// Non-university title types.
	tecSup = Codigo{Codigo: "TS", Descripcion: "Técnico Superior"}
	tec    = Codigo{Codigo: "TM", Descripcion: "Técnico"}
)

var holders = map[string][]Titulo{
	"12345678Z": {
		{Universidad: ub, Centro: Codigo{Codigo: "08032321", Descripcion: "Facultat de Dret"},
			Titulacion: Codigo{Codigo: "2500210", Descripcion: "Graduado o Graduada en Derecho por la Universitat de Barcelona"},
			Tipo:       grau, FechaFinalizacion: "20120630", FechaExpedicion: "20121120", Pais: "ES",
			NumeroTitulo: "2012/081234", NumeroRegistro: "2012246813"},
		{Universidad: upf, Centro: Codigo{Codigo: "08070261", Descripcion: "Facultat de Ciències Polítiques i de Gestió Pública"},
			Titulacion: Codigo{Codigo: "4310521", Descripcion: "Máster Universitario en Gestión Pública Avanzada"},
			Tipo:       mast, FechaFinalizacion: "20140715", FechaExpedicion: "20141203", Pais: "ES",
			NumeroRegistro: "2014135790"},
	},
	"23456789D": {
		{Centro: Codigo{Codigo: "08013275", Descripcion: "Institut Escola del Treball"},
			Titulacion: Codigo{Codigo: "IFC03S", Descripcion: "Técnico Superior en Desarrollo de Aplicaciones Web"},
			Tipo:       tecSup, FechaFinalizacion: "20110622", FechaExpedicion: "20111107", Pais: "ES",
			NumeroTitulo: "08/2011/004573", NumeroRegistro: "2011613942"},
		{Universidad: udg, Centro: Codigo{Codigo: "17004511", Descripcion: "Facultat d'Educació i Psicologia"},
			Titulacion: Codigo{Codigo: "4314829", Descripcion: "Máster Universitario en Formación del Profesorado de Educación Secundaria"},
			Tipo:       mast, FechaFinalizacion: "20180629", FechaExpedicion: "20181015", Pais: "ES",
			NumeroRegistro: "2018420017"},
	},
	"45678901G": {
		{Universidad: upc, Centro: Codigo{Codigo: "08033003", Descripcion: "Escola Tècnica Superior d'Enginyeria Industrial de Barcelona"},
			Titulacion: Codigo{Codigo: "2502180", Descripcion: "Graduado o Graduada en Ingeniería en Tecnologías Industriales"},
			Tipo:       grau, FechaFinalizacion: "20160701", FechaExpedicion: "20161110", Pais: "ES",
			NumeroRegistro: "2016771204"},
		{Universidad: upc, Centro: Codigo{Codigo: "08071213", Descripcion: "Escola de Doctorat"},
			Titulacion: Codigo{Codigo: "5600412", Descripcion: "Doctor o Doctora por la Universitat Politècnica de Catalunya"},
			Tipo:       doct, FechaFinalizacion: "20220225", FechaExpedicion: "20220704", Pais: "ES",
			NumeroRegistro: "2022055318"},
	},
	"34567890V": {
		{Centro: Codigo{Codigo: "46012973", Descripcion: "Institut d'Educació Secundària Lluís Vives"},
			Titulacion: Codigo{Codigo: "SAN21M", Descripcion: "Técnico en Cuidados Auxiliares de Enfermería"},
			Tipo:       tec, FechaFinalizacion: "20050624", FechaExpedicion: "20051116", Pais: "ES",
			NumeroRegistro: "2005287531"},
		{Universidad: uv, Centro: Codigo{Codigo: "46025694", Descripcion: "Facultat d'Infermeria i Podologia"},
			Titulacion: Codigo{Codigo: "2500677", Descripcion: "Graduado o Graduada en Enfermería por la Universitat de València"},
			Tipo:       grau, FechaFinalizacion: "20100625", FechaExpedicion: "20101019", Pais: "ES",
			NumeroRegistro: "2010318642"},
	},
	// A title type that the registry's own table does not define: a
	// faithful adapter passes the code through and the broker catches it.
	simsource.BrokenSubject: {
		{Universidad: ub, Centro: Codigo{Codigo: "08032321", Descripcion: "Facultat de Dret"},
			Titulacion: Codigo{Codigo: "0000000", Descripcion: "Titulación migrada"},
			Tipo:       Codigo{Codigo: "ZZ", Descripcion: "Desconocido"}, FechaFinalizacion: "19950630", FechaExpedicion: "19951120", Pais: "ES",
			NumeroRegistro: "1995000001"},
	},
}

// New returns the national registry of titles; it serves every holder, so
// scope is ignored ("*"). It serves GET /rnt/v2/titulos?documento=...: 200
// with the holder's titles, 404 when none is registered.
func New(scope string) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /rnt/v2/titulos", func(w http.ResponseWriter, r *http.Request) {
		doc := r.URL.Query().Get("documento")
		if doc == "" {
			simsource.Error(w, http.StatusBadRequest, "falta el parámetro documento")
			return
		}
		if simsource.Faults(w, r, doc) {
			return
		}
		titles, ok := holders[doc]
		if !ok {
			simsource.Error(w, http.StatusNotFound, "no constan títulos para el documento indicado")
			return
		}
		simsource.JSON(w, Respuesta{Documento: doc, Titulos: titles})
	})
	return mux
}
