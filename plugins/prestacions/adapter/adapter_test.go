//go:build !wasip1

package main

import (
	"testing"

	"github.com/pontexchange/pont/plugins/internal/adaptertest"
	"github.com/pontexchange/pont/plugins/prestacions/fixtures"
	"github.com/pontexchange/pont/plugins/prestacions/source"
)

func TestRegister(t *testing.T) {
	adaptertest.Suite{
		Service:   "prestacions",
		Source:    source.New("*"),
		WantFound: fixtures.Known,
	}.Run(t)
}

func TestNIE(t *testing.T) {
	adaptertest.Suite{
		Service:   "prestacions",
		Source:    source.New("*"),
		Found:     fixtures.NIE,
		WantFound: fixtures.NIEAnswer,
	}.Run(t)
}
