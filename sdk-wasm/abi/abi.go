// Package abi holds the data types of Pont's adapter ABI (sdk-wasm/ABI.md),
// shared by the host and the Go SDK.
package abi

import "encoding/json"

// Version is the ABI version a host writes in Input.ABI.
const Version = 1

// Subject is the citizen a query is about.
type Subject struct {
	IDType   string `json:"id_type"`
	ID       string `json:"id"`
	Name     string `json:"name,omitempty"`
	Surname1 string `json:"surname1,omitempty"`
	Surname2 string `json:"surname2,omitempty"`
}

// Input is the JSON the host passes to pont_handle.
type Input struct {
	ABI        int             `json:"abi"`
	TransferID string          `json:"transfer_id"`
	Service    string          `json:"service"`
	Purpose    string          `json:"purpose"`
	Requester  string          `json:"requester"`
	Procedure  string          `json:"procedure"`
	Subject    Subject         `json:"subject"`
	Params     json.RawMessage `json:"params"` // a JSON object; empty means {}
}
