//go:build !wasip1

package main

import (
	"testing"

	"github.com/pontexchange/pont/plugins/internal/adaptertest"
	"github.com/pontexchange/pont/plugins/padro/source"
)

func TestBarcelona(t *testing.T) {
	adaptertest.Suite{
		Service: "padro",
		Source:  source.New("08019"),
		Params:  map[string]any{"municipality": "08019"},
		WantFound: `{
			"province": {"code": "08", "name": "Barcelona"},
			"municipality": {"code": "08019", "name": "Barcelona"},
			"entity": {"singular": {"code": "000101", "name": "Barcelona"}, "nucleus": {"code": "01", "name": "Barcelona"}},
			"address": {"street_code": "048503", "street_type": "C", "street_name": "de Mallorca", "number": "401", "floor": "3", "door": "2", "postcode": "08013"},
			"registration_date": "2015-03-12",
			"last_variation": {"code": "CD", "description": "Canvi de domicili", "date": "2019-09-04"}
		}`,
	}.Run(t)
}

func TestGirona(t *testing.T) {
	adaptertest.Suite{
		Service: "padro",
		Source:  source.New("17079"),
		Params:  map[string]any{"municipality": "17079"},
		Found:   "34567890V",
		WantFound: `{
			"province": {"code": "17", "name": "Girona"},
			"municipality": {"code": "17079", "name": "Girona"},
			"entity": {"singular": {"code": "000100", "name": "Girona"}, "nucleus": {"code": "01", "name": "Girona"}},
			"address": {"street_code": "003340", "street_type": "PL", "street_name": "de la Independència", "number": "3", "floor": "4", "door": "B", "postcode": "17001"},
			"registration_date": "1998-05-30"
		}`,
	}.Run(t)
}

// A register that answers in ISO-8859-1: the adapter reads the record with
// its declared charset, and the street name reaches the answer intact.
func TestBarcelonaInLatin1(t *testing.T) {
	adaptertest.Suite{
		Service: "padro",
		Source:  source.New("08019"),
		Params:  map[string]any{"municipality": "08019"},
		Found:   source.Latin1Subject,
		WantFound: `{
			"province": {"code": "08", "name": "Barcelona"},
			"municipality": {"code": "08019", "name": "Barcelona"},
			"entity": {"singular": {"code": "000101", "name": "Barcelona"}, "nucleus": {"code": "01", "name": "Barcelona"}},
			"address": {"street_code": "068407", "street_type": "C", "street_name": "de Sant Pere Més Alt", "number": "31", "floor": "2", "door": "1", "postcode": "08003"},
			"registration_date": "2017-10-19",
			"last_variation": {"code": "CD", "description": "Canvi de domicili: reinscripció", "date": "2017-10-19"}
		}`,
	}.Run(t)
}
