//go:build !wasip1

package main

import (
	"testing"

	"github.com/pontexchange/pont/plugins/internal/adaptertest"
	"github.com/pontexchange/pont/plugins/prestacions/source"
)

func TestRegister(t *testing.T) {
	adaptertest.Suite{
		Service: "prestacions",
		Source:  source.New("*"),
		WantFound: `{"benefits": [
			{"code": "PF02", "name": "Asignación económica por hijo o menor a cargo", "type": "non_contributory",
			 "managing_body": {"code": "INSS", "name": "Instituto Nacional de la Seguridad Social"},
			 "gross_amount": 341, "net_amount": 341, "payments": 12, "effective_date": "2021-04-01"},
			{"code": "SD31", "name": "Subsidio por desempleo", "type": "assistance",
			 "managing_body": {"code": "SEPE", "name": "Servicio Público de Empleo Estatal"},
			 "gross_amount": 480, "net_amount": 451.2, "payments": 12, "effective_date": "2023-01-15", "end_date": "2024-01-14"}
		]}`,
	}.Run(t)
}

func TestNIE(t *testing.T) {
	adaptertest.Suite{
		Service: "prestacions",
		Source:  source.New("*"),
		Found:   "X1234567L",
		WantFound: `{"benefits": [
			{"code": "IMV1", "name": "Ingreso Mínimo Vital", "type": "non_contributory",
			 "managing_body": {"code": "INSS", "name": "Instituto Nacional de la Seguridad Social"},
			 "gross_amount": 1015.32, "net_amount": 1015.32, "payments": 12, "effective_date": "2022-03-01"}
		]}`,
	}.Run(t)
}
