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
			{"university": {"code": "022", "name": "Universitat de Barcelona"},
			 "centre": {"code": "08032321", "name": "Facultat de Dret"},
			 "title": {"code": "2500210", "name": "Graduado o Graduada en Derecho por la Universitat de Barcelona"},
			 "type": {"code": "0H", "name": "Grado"},
			 "completion_date": "2012-06-30", "issue_date": "2012-11-20", "country": "ES",
			 "title_number": "2012/081234", "registry_number": "2012/246813"},
			{"university": {"code": "042", "name": "Universitat Pompeu Fabra"},
			 "centre": {"code": "08070261", "name": "Facultat de Ciències Polítiques i de Gestió Pública"},
			 "title": {"code": "4310521", "name": "Máster Universitario en Gestión Pública Avanzada"},
			 "type": {"code": "0G", "name": "Máster"},
			 "completion_date": "2014-07-15", "issue_date": "2014-12-03", "country": "ES",
			 "registry_number": "2014/135790"}
		]}`,
	}.Run(t)
}
