package catalog

import (
	"encoding/json"
	"io/fs"
	"reflect"
	"strings"
	"testing"
	"testing/fstest"

	"github.com/pontexchange/pont/exchange/fault"
)

func TestDefault(t *testing.T) {
	c, err := Default()
	if err != nil {
		t.Fatalf("Default: %v", err)
	}
	want := []string{"discapacitat", "familia-nombrosa", "padro", "prestacions", "titulacions"}
	if got := c.ServiceNames(); !reflect.DeepEqual(got, want) {
		t.Fatalf("ServiceNames = %v, want %v", got, want)
	}
	certs := map[string]string{
		"padro": "SVDSECOPA01WS01", "titulacions": "SVDTUWS03", "discapacitat": "SVDSCDDWS01",
		"familia-nombrosa": "SVDSCTFNWS01", "prestacions": "Q2827002CINSS001",
	}
	routing := map[string]string{
		"padro": "municipality", "discapacitat": "region", "familia-nombrosa": "region",
		"titulacions": "", "prestacions": "",
	}
	// The simulated sources' host names, by scope.
	sources := map[string]map[string]string{
		"padro":            {"08019": "padro-08019", "17079": "padro-17079"},
		"titulacions":      {"*": "titulacions"},
		"discapacitat":     {"09": "discapacitat-09", "10": "discapacitat-10"},
		"familia-nombrosa": {"09": "familia-nombrosa-09", "10": "familia-nombrosa-10"},
		"prestacions":      {"*": "prestacions"},
	}
	for _, name := range want {
		t.Run(name, func(t *testing.T) {
			s, ok := c.Service(name)
			if !ok {
				t.Fatal("missing")
			}
			if s.SCSPCertificate != certs[name] {
				t.Errorf("scsp_certificate = %q, want %q", s.SCSPCertificate, certs[name])
			}
			if s.RoutingKey != routing[name] {
				t.Errorf("routing_key = %q, want %q", s.RoutingKey, routing[name])
			}
			if s.SpecialCategory != (name == "discapacitat") {
				t.Errorf("special_category = %v", s.SpecialCategory)
			}
			if r, ok := s.Purposes["demo"]; !ok || !r.All() {
				t.Errorf("purpose demo = %+v, %v; want all fields", r, ok)
			}
			got := map[string]string{}
			for _, src := range s.Sources {
				got[src.Scope] = strings.TrimSuffix(strings.TrimPrefix(src.Config["source_url"], "http://"), ".sources.pont.test")
				if !reflect.DeepEqual(s.SourceConfig(src.Scope), src.Config) {
					t.Errorf("SourceConfig(%q) = %v, want %v", src.Scope, s.SourceConfig(src.Scope), src.Config)
				}
			}
			if !reflect.DeepEqual(got, sources[name]) {
				t.Errorf("sources' hosts by scope = %v, want %v", got, sources[name])
			}
			if s.SourceConfig("99999") != nil {
				t.Errorf("SourceConfig of a scope without a source = %v, want nil", s.SourceConfig("99999"))
			}
		})
	}
	disc, _ := c.Service("discapacitat")
	if disc.PolicyView()["laws"].(map[string]any)["Reial Decret Legislatiu 1/2013"] != true {
		t.Errorf("discapacitat laws = %v, want Reial Decret Legislatiu 1/2013", disc.PolicyView()["laws"])
	}
	for _, s := range c.Services {
		if _, ok := s.PolicyView()["laws"].(map[string]any)["Llei 39/2015, art. 28.2"]; ok {
			t.Errorf("%s lists the presumed basis as a law", s.Name)
		}
	}
}

func TestPolicyData(t *testing.T) {
	c, err := Default()
	if err != nil {
		t.Fatal(err)
	}
	// Round-trip through JSON: OPA sees the document as JSON, and this also
	// proves it holds only JSON-able values.
	b, err := json.Marshal(c.PolicyData())
	if err != nil {
		t.Fatal(err)
	}
	var data struct {
		Authorisations map[string]struct {
			Procedures map[string]struct {
				Services map[string]bool
				Purposes map[string]bool
			}
		}
		Purposes map[string]map[string]string
		Laws     map[string]map[string]bool
	}
	if err := json.Unmarshal(b, &data); err != nil {
		t.Fatal(err)
	}
	demo := data.Authorisations["P0801900B"].Procedures["DEMO"]
	for _, svc := range c.ServiceNames() {
		if !demo.Services[svc] {
			t.Errorf("P0801900B DEMO lacks service %s", svc)
		}
	}
	if !demo.Purposes["demo"] {
		t.Errorf("P0801900B DEMO lacks purpose demo")
	}
	if _, ok := data.Authorisations["P1708500B"].Procedures["DEMO"]; ok {
		t.Errorf("P1708500B should not hold DEMO: it is the narrow organisation")
	}
	if !data.Laws["discapacitat"]["Reial Decret Legislatiu 1/2013"] {
		t.Errorf("laws.discapacitat = %v", data.Laws["discapacitat"])
	}
	if data.Purposes["demo"]["title"] == "" {
		t.Errorf("purposes.demo = %v", data.Purposes["demo"])
	}

	view, _ := json.Marshal(mustService(t, c, "padro").PolicyView())
	var v struct {
		Name            string
		SpecialCategory bool `json:"special_category"`
		Purposes        map[string]struct{ Fields any }
	}
	if err := json.Unmarshal(view, &v); err != nil {
		t.Fatal(err)
	}
	if v.Name != "padro" || v.Purposes["demo"].Fields != "*" {
		t.Errorf("padro view = %s", view)
	}
	if f, ok := v.Purposes["social-benefits"].Fields.([]any); !ok || len(f) == 0 {
		t.Errorf("padro social-benefits fields = %v, want a list", v.Purposes["social-benefits"].Fields)
	}
}

func TestPurposeRuleJSON(t *testing.T) {
	tests := []struct {
		in, out string
		all     bool
		wantErr string
	}{
		{in: `{"fields":"*"}`, out: `{"fields":"*"}`, all: true},
		{in: `{"fields":["a","b"]}`, out: `{"fields":["a","b"]}`},
		{in: `{"fields":[]}`, wantErr: "empty list"},
		{in: `{}`, wantErr: "required"},
		{in: `{"fields":"all"}`, wantErr: `want "*"`},
		{in: `{"fields":"*","extra":1}`, wantErr: "unknown field"},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			var r PurposeRule
			err := json.Unmarshal([]byte(tt.in), &r)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want it to mention %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if r.All() != tt.all {
				t.Errorf("All() = %v, want %v", r.All(), tt.all)
			}
			b, _ := json.Marshal(r)
			if string(b) != tt.out {
				t.Errorf("marshal = %s, want %s", b, tt.out)
			}
		})
	}
}

// mutate returns the embedded catalog with one file's JSON changed by edit.
func mutate(t *testing.T, file string, edit func(doc map[string]any)) fs.FS {
	t.Helper()
	m := fstest.MapFS{}
	err := fs.WalkDir(embedded, ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := fs.ReadFile(embedded, p)
		m[p] = &fstest.MapFile{Data: b}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	var doc map[string]any
	if err := json.Unmarshal(m[file].Data, &doc); err != nil {
		t.Fatal(err)
	}
	edit(doc)
	b, err := json.Marshal(doc)
	if err != nil {
		t.Fatal(err)
	}
	m[file].Data = b
	return m
}

func obj(v any, keys ...string) map[string]any {
	for _, k := range keys {
		v = v.(map[string]any)[k]
	}
	return v.(map[string]any)
}

func TestLoadRejects(t *testing.T) {
	tests := []struct {
		name string
		file string
		edit func(doc map[string]any)
		want string
	}{
		{"unknown purpose in service", "services/padro.json", func(d map[string]any) {
			obj(d, "purposes")["spying"] = map[string]any{"fields": "*"}
		}, `unknown purpose "spying"`},
		{"purpose field not in answer", "services/padro.json", func(d map[string]any) {
			obj(d, "purposes")["social-benefits"] = map[string]any{"fields": []any{"shoe_size"}}
		}, `field "shoe_size" is not a top-level property`},
		{"params schema does not compile", "services/padro.json", func(d map[string]any) {
			obj(d, "params", "properties", "municipality")["pattern"] = "(["
		}, "params schema: compile"},
		{"answer schema does not compile", "services/prestacions.json", func(d map[string]any) {
			obj(d, "answer")["type"] = 42
		}, "answer schema: compile"},
		{"open answer object", "services/titulacions.json", func(d map[string]any) {
			delete(obj(d, "answer", "$defs", "title"), "additionalProperties")
		}, "/$defs/title must set additionalProperties to false"},
		{"source without scope", "services/discapacitat.json", func(d map[string]any) {
			d["sources"].([]any)[1].(map[string]any)["scope"] = ""
		}, "sources[1]: scope is required"},
		{"source naming its adapter", "services/discapacitat.json", func(d map[string]any) {
			d["sources"].([]any)[1].(map[string]any)["adapter"] = "discapacitat-10"
		}, `unknown field "adapter"`},
		{"duplicate scope", "services/discapacitat.json", func(d map[string]any) {
			d["sources"].([]any)[1].(map[string]any)["scope"] = "09"
		}, `duplicate scope "09"`},
		{"scoped source without routing key", "services/prestacions.json", func(d map[string]any) {
			d["sources"].([]any)[0].(map[string]any)["scope"] = "09"
		}, "needs a routing_key"},
		{"routing key not a required param", "services/familia-nombrosa.json", func(d map[string]any) {
			obj(d, "params")["required"] = []any{}
		}, `routing_key "region" must be a required property`},
		{"duplicate law", "services/padro.json", func(d map[string]any) {
			d["laws"] = append(d["laws"].([]any), d["laws"].([]any)[0])
		}, "duplicate reference"},
		{"name differs from file", "services/padro.json", func(d map[string]any) {
			d["name"] = "padron"
		}, "does not match the file name"},
		{"unknown field", "services/padro.json", func(d map[string]any) {
			d["routingkey"] = "municipality"
		}, `unknown field "routingkey"`},
		{"authorisation for unknown service", "authorisations.json", func(d map[string]any) {
			obj(d, "P1708500B", "procedures", "PREINSCRIPCIO")["services"] = []any{"padro", "cadastre"}
		}, `unknown service "cadastre"`},
		{"authorisation for unknown purpose", "authorisations.json", func(d map[string]any) {
			obj(d, "P1708500B", "procedures", "PREINSCRIPCIO")["purposes"] = []any{"curiosity"}
		}, `unknown purpose "curiosity"`},
		{"organisation id not a NIF", "authorisations.json", func(d map[string]any) {
			d["AJ-BCN"] = d["P0801900B"]
		}, `organisation "AJ-BCN": not a public body's NIF`},
		{"purpose without title", "purposes.json", func(d map[string]any) {
			obj(d, "demo")["title"] = ""
		}, `purpose "demo": a code and a title are required`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Load(mutate(t, tt.file, tt.edit))
			if err == nil {
				t.Fatalf("Load succeeded, want an error mentioning %q", tt.want)
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("Load error = %q, want it to mention %q", err, tt.want)
			}
		})
	}
	t.Run("missing purposes file", func(t *testing.T) {
		m := mutate(t, "purposes.json", func(map[string]any) {}).(fstest.MapFS)
		delete(m, "purposes.json")
		if _, err := Load(m); err == nil || !strings.Contains(err.Error(), "purposes.json") {
			t.Fatalf("Load error = %v, want it to name purposes.json", err)
		}
	})
}

func mustService(t *testing.T, c *Catalog, name string) *Service {
	t.Helper()
	s, ok := c.Service(name)
	if !ok {
		t.Fatalf("no service %s", name)
	}
	return s
}

func TestValidateParams(t *testing.T) {
	c, err := Default()
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		service string
		params  string
		want    []fault.FieldError // nil: valid
	}{
		{"padro", `{"municipality":"08019"}`, nil},
		{"padro", `{"municipality":"08019","mode":"verify"}`, nil},
		{"padro", ``, []fault.FieldError{{Field: "params.municipality", Message: "is required"}}},
		{"padro", `null`, []fault.FieldError{{Field: "params.municipality", Message: "is required"}}},
		{"padro", `{}`, []fault.FieldError{{Field: "params.municipality", Message: "is required"}}},
		{"padro", `{"municipality":"8019"}`, []fault.FieldError{{Field: "params.municipality", Message: `"8019" does not have the expected format (pattern ^[0-9]{5}$)`}}},
		{"padro", `{"municipality":8019}`, []fault.FieldError{{Field: "params.municipality", Message: "must be of type string, not number"}}},
		{"padro", `{"municipality":"08019","colour":"red"}`, []fault.FieldError{{Field: "params.colour", Message: "is not allowed here (unknown field)"}}},
		{"padro", `{"municipality":"08019","mode":"guess"}`, []fault.FieldError{{Field: "params.mode", Message: `must be one of "consult", "verify"`}}},
		{"padro", `{"mode":"guess","extra":1}`, []fault.FieldError{
			{Field: "params.extra", Message: "is not allowed here (unknown field)"},
			{Field: "params.mode", Message: `must be one of "consult", "verify"`},
			{Field: "params.municipality", Message: "is required"},
		}},
		{"discapacitat", `{"region":"09"}`, nil},
		{"discapacitat", `{"region":"20"}`, []fault.FieldError{{Field: "params.region", Message: `"20" does not have the expected format (pattern ^(0[1-9]|1[0-9])$)`}}},
		{"familia-nombrosa", `{}`, []fault.FieldError{{Field: "params.region", Message: "is required"}}},
		{"titulacions", ``, nil},
		{"prestacions", `{"municipality":"08019"}`, []fault.FieldError{{Field: "params.municipality", Message: "is not allowed here (unknown field)"}}},
	}
	for _, tt := range tests {
		t.Run(tt.service+" "+tt.params, func(t *testing.T) {
			var params map[string]any // "" stands for absent params
			if tt.params != "" {
				dec := json.NewDecoder(strings.NewReader(tt.params))
				dec.UseNumber()
				if err := dec.Decode(&params); err != nil {
					t.Fatalf("params %s: %v", tt.params, err)
				}
			}
			got := mustService(t, c, tt.service).ValidateParams(params)
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("ValidateParams(%s)\n got %+v\nwant %+v", tt.params, got, tt.want)
			}
		})
	}
}

func TestValidateAnswer(t *testing.T) {
	c, err := Default()
	if err != nil {
		t.Fatal(err)
	}
	padro := `{
		"province": {"code": "08", "name": "Barcelona"},
		"municipality": {"code": "08019", "name": "Barcelona"},
		"entity": {"singular": {"code": "000101", "name": "Barcelona"}, "nucleus": {"code": "01", "name": "Barcelona"}},
		"address": {"street_type": "C", "street_name": "de Mallorca", "number": "401", "floor": "3", "door": "2", "postcode": "08013"},
		"registration_date": "2015-03-12",
		"last_variation": {"code": "CR", "description": "Alta per canvi de residència", "date": "2015-03-12"}
	}`
	disc := `{"region": {"code": "09", "name": "Catalunya"}, "degree": %s, "types": ["physical"], "effective_date": "2019-05-10", "permanent_validity": true}`
	tests := []struct {
		name, service, data string
		want                []string // substrings of the error; nil: valid
	}{
		{"padro ok", "padro", padro, nil},
		{"padro bad municipality code", "padro", strings.Replace(padro, `"code": "08019"`, `"code": "8019"`, 1), []string{"data.municipality.code"}},
		{"padro missing address", "padro", `{"province": {"code": "08", "name": "Barcelona"}, "municipality": {"code": "08019", "name": "Barcelona"}, "registration_date": "2015-03-12"}`, []string{"data.address is required"}},
		{"padro bad date", "padro", strings.Replace(padro, `"registration_date": "2015-03-12"`, `"registration_date": "12/03/2015"`, 1), []string{"data.registration_date"}},
		{"padro stray field", "padro", strings.Replace(padro, `"postcode": "08013"`, `"postcode": "08013", "phone": "600000000"`, 1), []string{"data.address.phone is not allowed"}},
		{"disability ok", "discapacitat", strings.Replace(disc, "%s", "45", 1), nil},
		{"disability 250", "discapacitat", strings.Replace(disc, "%s", "250", 1), []string{"data.degree", "100"}},
		{"titles item", "titulacions", `{"titles": [{"kind": "university", "university": {"code": "022", "name": "UB"}, "title": {"code": "1", "name": "Grau"}, "type": {"code": "ZZ", "name": "?"}, "completion_date": "2012-06-30", "registry_number": "1"}]}`, []string{"data.titles[0].type.code must be one of"}},
		{"many violations are capped", "padro", `{"a":1,"b":2,"c":3,"d":4,"e":5}`, []string{"and ", " more"}},
		{"not an object", "prestacions", `[]`, []string{"must be a JSON object"}},
		{"negative amount", "prestacions", `{"benefits": [{"code": "A01", "name": "Jubilació", "type": "contributory", "managing_body": {"code": "INSS", "name": "INSS"}, "gross_amount": -10, "net_amount": 5, "payments": 14, "effective_date": "2019-01-01"}]}`, []string{"data.benefits[0].gross_amount"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := mustService(t, c, tt.service).ValidateAnswer(json.RawMessage(tt.data))
			if tt.want == nil {
				if err != nil {
					t.Fatalf("ValidateAnswer: %v", err)
				}
				return
			}
			if err == nil {
				t.Fatalf("ValidateAnswer succeeded, want an error mentioning %q", tt.want)
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not mention %q", err, w)
				}
			}
		})
	}
}
