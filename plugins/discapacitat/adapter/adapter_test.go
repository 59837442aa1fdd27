//go:build !wasip1

package main

import (
	"testing"

	"github.com/pontexchange/pont/plugins/discapacitat/source"
	"github.com/pontexchange/pont/plugins/internal/adaptertest"
)

func TestCatalunya(t *testing.T) {
	adaptertest.Suite{
		Service: "discapacitat",
		Source:  source.New("09"),
		Params:  map[string]any{"region": "09"},
		WantFound: `{
			"region": {"code": "09", "name": "Catalunya"},
			"degree": 45, "types": ["physical"],
			"mobility_score": 7, "mobility_factor": "A",
			"dependency": false, "companion_required": false,
			"effective_date": "2019-05-10", "review_date": "2027-05-10",
			"permanent_validity": false
		}`,
	}.Run(t)
}

func TestComunitatValenciana(t *testing.T) {
	adaptertest.Suite{
		Service: "discapacitat",
		Source:  source.New("10"),
		Params:  map[string]any{"region": "10"},
		Found:   "34567890V",
		WantFound: `{
			"region": {"code": "10", "name": "Comunitat Valenciana"},
			"degree": 65, "types": ["psychic", "sensory"],
			"mobility_score": 10, "mobility_factor": "B",
			"dependency": true, "companion_required": true,
			"effective_date": "2016-11-22",
			"permanent_validity": true
		}`,
	}.Run(t)
}
