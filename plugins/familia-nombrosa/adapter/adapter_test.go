//go:build !wasip1

package main

import (
	"testing"

	"github.com/pontexchange/pont/plugins/familia-nombrosa/source"
	"github.com/pontexchange/pont/plugins/internal/adaptertest"
)

func TestCatalunya(t *testing.T) {
	adaptertest.Suite{
		Service: "familia-nombrosa",
		Source:  source.New("09"),
		Params:  map[string]any{"region": "09"},
		WantFound: `{
			"region": {"code": "09", "name": "Catalunya"},
			"title_number": "09/0012345/2021", "category": "G", "valid": true,
			"issue_date": "2021-03-01", "expiry_date": "2027-03-01", "children": 3,
			"beneficiaries": [
				{"id_type": "DNI", "id": "12345678Z", "name": "Anna", "surname1": "Puig", "surname2": "Soler", "birth_date": "1980-02-14", "relationship": "holder"},
				{"id_type": "DNI", "id": "56789012B", "name": "Marc", "surname1": "Casals", "surname2": "Riera", "birth_date": "1978-10-02", "relationship": "spouse"},
				{"name": "Júlia", "surname1": "Casals", "surname2": "Puig", "birth_date": "2010-07-19", "relationship": "child"},
				{"name": "Pau", "surname1": "Casals", "surname2": "Puig", "birth_date": "2013-01-05", "relationship": "child"},
				{"name": "Clara", "surname1": "Casals", "surname2": "Puig", "birth_date": "2017-04-28", "relationship": "child"}
			]
		}`,
	}.Run(t)
}

func TestComunitatValenciana(t *testing.T) {
	adaptertest.Suite{
		Service: "familia-nombrosa",
		Source:  source.New("10"),
		Params:  map[string]any{"region": "10"},
		Found:   "34567890V",
	}.Run(t)
}
