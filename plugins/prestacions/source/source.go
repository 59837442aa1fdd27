// Package source simulates the INSS Registro de Prestaciones Sociales
// Públicas, in its own shape: Spanish field names, amounts in cents, dates
// as yyyymmdd, type codes C/NC/A. Its data are synthetic;
// plugins/README.md lists the fixtures.
package source

import (
	"net/http"

	"github.com/pontexchange/pont/plugins/internal/simsource"
)

// Respuesta is the register's answer for one beneficiary.
type Respuesta struct {
	IPF          string       `json:"ipf"`
	Prestaciones []Prestacion `json:"prestaciones"`
}

// Prestacion is one benefit paid to the beneficiary.
type Prestacion struct {
	Codigo           string    `json:"codigoPrestacion"`
	Denominacion     string    `json:"denominacion"`
	Tipo             string    `json:"tipo"` // C contributiva, NC no contributiva, A asistencial, O otra
	Organismo        Organismo `json:"organismoGestor"`
	ImporteBrutoCent int64     `json:"importeBrutoCent"`
	ImporteNetoCent  int64     `json:"importeNetoCent"`
	NumeroPagas      int       `json:"numeroPagas"`
	FechaEfectos     string    `json:"fechaEfectos"`
	FechaBaja        string    `json:"fechaBaja,omitempty"`
}

// Organismo is the managing body.
type Organismo struct {
	Codigo string `json:"codigo"`
	Nombre string `json:"nombre"`
}

var (
	inss  = Organismo{Codigo: "INSS", Nombre: "Instituto Nacional de la Seguridad Social"}
	sepe  = Organismo{Codigo: "SEPE", Nombre: "Servicio Público de Empleo Estatal"}
	icass = Organismo{Codigo: "ICASS", Nombre: "Institut Català d'Assistència i Serveis Socials"}
)

var beneficiaries = map[string][]Prestacion{
	"12345678Z": {
		{Codigo: "PF02", Denominacion: "Asignación económica por hijo o menor a cargo", Tipo: "NC", Organismo: inss,
			ImporteBrutoCent: 34100, ImporteNetoCent: 34100, NumeroPagas: 12, FechaEfectos: "20210401"},
		{Codigo: "SD31", Denominacion: "Subsidio por desempleo", Tipo: "A", Organismo: sepe,
			ImporteBrutoCent: 48000, ImporteNetoCent: 45120, NumeroPagas: 12, FechaEfectos: "20230115", FechaBaja: "20240114"},
	},
	"X1234567L": {
		{Codigo: "IMV1", Denominacion: "Ingreso Mínimo Vital", Tipo: "NC", Organismo: inss,
			ImporteBrutoCent: 101532, ImporteNetoCent: 101532, NumeroPagas: 12, FechaEfectos: "20220301"},
	},
	"34567890V": {
		{Codigo: "IP21", Denominacion: "Pensión de incapacidad permanente absoluta", Tipo: "C", Organismo: inss,
			ImporteBrutoCent: 187450, ImporteNetoCent: 161207, NumeroPagas: 14, FechaEfectos: "20170101"},
		{Codigo: "PD01", Denominacion: "Prestación económica para cuidados en el entorno familiar", Tipo: "A", Organismo: icass,
			ImporteBrutoCent: 26872, ImporteNetoCent: 26872, NumeroPagas: 12, FechaEfectos: "20180601"},
	},
	// A reversal booked as a negative gross amount: the adapter passes it
	// through and the broker catches it.
	simsource.BrokenSubject: {
		{Codigo: "JU01", Denominacion: "Pensión de jubilación", Tipo: "C", Organismo: inss,
			ImporteBrutoCent: -52000, ImporteNetoCent: -52000, NumeroPagas: 14, FechaEfectos: "20200101"},
	},
}

// New returns the national register of public social benefits; it serves
// every beneficiary, so scope is ignored ("*"). It serves
// GET /rpsp/v1/prestaciones?ipf=...: 200 with the benefits, 404 when the
// register holds none for the document.
func New(scope string) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /rpsp/v1/prestaciones", func(w http.ResponseWriter, r *http.Request) {
		ipf := r.URL.Query().Get("ipf")
		if ipf == "" {
			simsource.Error(w, http.StatusBadRequest, "falta el parámetro ipf")
			return
		}
		if simsource.Faults(w, r, ipf) {
			return
		}
		list, ok := beneficiaries[ipf]
		if !ok {
			simsource.Error(w, http.StatusNotFound, "no constan prestaciones para el IPF indicado")
			return
		}
		simsource.JSON(w, Respuesta{IPF: ipf, Prestaciones: list})
	})
	return mux
}
