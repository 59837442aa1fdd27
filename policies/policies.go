// Package policies carries Pont's Rego policies into the binary. It holds the
// rules (authorisation, purpose, legal basis and consent, minimisation, and
// the decision that assembles them) and nothing else; exchange/policy
// compiles and evaluates them.
package policies

import "embed"

// FS holds every .rego file of this directory, the *_test.rego files
// included so that `pont policy test` and `make test` can run them from the
// binary. Loaders that build the decision (policy.New) skip the test files.
//
//go:embed *.rego
var FS embed.FS
