//go:build !wasip1

package main

import (
	"testing"

	"github.com/pontexchange/pont/plugins/internal/adaptertest"
	"github.com/pontexchange/pont/plugins/titulacions/source"
)

func TestRegistry(t *testing.T) {
	adaptertest.Suite{
		Service: "titulacions",
		Source:  source.New("*"),
		WantFound: `{"titles": [
			{"kind": "university",
			 "university": {"code": "022", "name": "Universitat de Barcelona"},
			 "centre": {"code": "08032321", "name": "Facultat de Dret"},
			 "title": {"code": "2500210", "name": "Graduado o Graduada en Derecho por la Universitat de Barcelona"},
			 "type": {"code": "0H", "name": "Grado"},
			 "completion_date": "2012-06-30", "issue_date": "2012-11-20", "country": "ES",
			 "title_number": "2012/081234", "registry_number": "2012246813"},
			{"kind": "university",
			 "university": {"code": "042", "name": "Universitat Pompeu Fabra"},
			 "centre": {"code": "08070261", "name": "Facultat de Ciències Polítiques i de Gestió Pública"},
			 "title": {"code": "4310521", "name": "Máster Universitario en Gestión Pública Avanzada"},
			 "type": {"code": "0G", "name": "Máster"},
			 "completion_date": "2014-07-15", "issue_date": "2014-12-03", "country": "ES",
			 "registry_number": "2014135790"}
		]}`,
	}.Run(t)
}

// A non-university title (SVDTNUWS03) has no university, and says so in
// its kind; the holder's university title keeps its own.
func TestRegistryNonUniversity(t *testing.T) {
	adaptertest.Suite{
		Service: "titulacions",
		Source:  source.New("*"),
		Found:   "23456789D",
		WantFound: `{"titles": [
			{"kind": "non_university",
			 "centre": {"code": "08013275", "name": "Institut Escola del Treball"},
			 "title": {"code": "IFC03S", "name": "Técnico Superior en Desarrollo de Aplicaciones Web"},
			 "type": {"code": "TS", "name": "Técnico Superior"},
			 "completion_date": "2011-06-22", "issue_date": "2011-11-07", "country": "ES",
			 "title_number": "08/2011/004573", "registry_number": "2011613942"},
			{"kind": "university",
			 "university": {"code": "036", "name": "Universitat de Girona"},
			 "centre": {"code": "17004511", "name": "Facultat d'Educació i Psicologia"},
			 "title": {"code": "4314829", "name": "Máster Universitario en Formación del Profesorado de Educación Secundaria"},
			 "type": {"code": "0G", "name": "Máster"},
			 "completion_date": "2018-06-29", "issue_date": "2018-10-15", "country": "ES",
			 "registry_number": "2018420017"}
		]}`,
	}.Run(t)
}
