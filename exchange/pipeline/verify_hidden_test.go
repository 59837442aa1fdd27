package pipeline

import (
	"context"
	"encoding/json"
	"maps"
	"os"
	"slices"
	"testing"

	"github.com/pontexchange/pont/exchange/auth"
	"github.com/pontexchange/pont/exchange/fault"
)

// TestVerifyCannotProbeHiddenFields: for every service and every purpose
// that sees only some fields, verify mode refuses to compare a field the
// purpose may not see, or a requester could learn it by guessing ("is her
// street de Mallorca?"). No adapter is called.
func TestVerifyCannotProbeHiddenFields(t *testing.T) {
	r := newRig(t)
	cat := sharedCat
	for _, name := range cat.ServiceNames() {
		svc, _ := cat.Service(name)
		answerFields := answerProperties(t, name)
		for purpose, rule := range svc.Purposes {
			if rule.All() {
				continue
			}
			hidden := ""
			for _, f := range answerFields {
				if !slices.Contains(rule.Fields, f) {
					hidden = f
					break
				}
			}
			if hidden == "" {
				continue
			}
			org, procedure := authorisedFor(name, purpose)
			if org == "" {
				t.Errorf("%s/%s: no organisation of the catalog may ask it", name, purpose)
				continue
			}
			t.Run(name+"/"+purpose+"/"+hidden, func(t *testing.T) {
				params := map[string]any{"mode": "verify", "expected": map[string]any{hidden: "a guess"}}
				switch svc.RoutingKey {
				case "municipality":
					params["municipality"] = "08019"
				case "region":
					params["region"] = "09"
				}
				basis := map[string]any{"type": "presumed"}
				if len(svc.Laws) > 0 {
					basis = map[string]any{"type": "law", "reference": svc.Laws[0].Reference}
				}
				body := query(t, "procedure", map[string]any{"code": procedure}, "purpose", purpose, "legal_basis", basis,
					"subject", map[string]any{"id_type": "DNI", "id": "12345678Z"}, "params", params)
				before := r.calls()
				_, err := r.p.Query(context.Background(), auth.Principal{Role: auth.RoleRequester, Org: org}, name, body)
				fe, ok := fault.As(err)
				if !ok || fe.Code != fault.InvalidRequest || len(fe.Fields) != 1 || fe.Fields[0].Field != "params.expected."+hidden {
					t.Fatalf("verifying hidden field %s: %v, want invalid_request naming params.expected.%s", hidden, err, hidden)
				}
				if r.calls() != before {
					t.Error("the adapter was called")
				}
			})
		}
	}
}

// answerProperties lists the members of a service's answer schema.
func answerProperties(t *testing.T, service string) []string {
	t.Helper()
	raw, err := os.ReadFile("../../catalog/services/" + service + ".json")
	if err != nil {
		t.Fatal(err)
	}
	var def struct {
		Answer struct {
			Properties map[string]json.RawMessage `json:"properties"`
		} `json:"answer"`
	}
	if err := json.Unmarshal(raw, &def); err != nil {
		t.Fatal(err)
	}
	var names []string
	for n := range def.Answer.Properties {
		names = append(names, n)
	}
	slices.Sort(names)
	return names
}

// authorisedFor finds an organisation and procedure of the catalog that may
// ask service for purpose.
func authorisedFor(service, purpose string) (org, procedure string) {
	for _, id := range slices.Sorted(maps.Keys(sharedCat.Authorisations)) {
		for code, p := range sharedCat.Authorisations[id].Procedures {
			if slices.Contains(p.Services, service) && slices.Contains(p.Purposes, purpose) {
				return id, code
			}
		}
	}
	return "", ""
}
