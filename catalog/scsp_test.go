package catalog

import (
	"strings"
	"testing"
	"testing/fstest"
)

func TestPurposeForFinalidad(t *testing.T) {
	c, err := Default()
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		finalidad string
		want      string
		ok        bool
	}{
		{"social-benefits", "social-benefits", true},
		{"  demo ", "demo", true},
		{"Ajuts de menjador escolar", "social-benefits", true},
		{"ajuts  de MENJADOR escolar, curs 2026-2027", "social-benefits", true},
		{"Bonificación del IBI; Llei 40/2003", "tax-reduction", true},
		{"Beca de transport", "scholarships", true},
		{"Becario en prácticas", "", false},
		{"Curiositat", "", false},
		{"", "", false},
		{"Social-Benefits", "", false},
	}
	for _, tt := range tests {
		got, ok := c.PurposeForFinalidad(tt.finalidad)
		if got != tt.want || ok != tt.ok {
			t.Errorf("PurposeForFinalidad(%q) = %q, %v; want %q, %v", tt.finalidad, got, ok, tt.want, tt.ok)
		}
	}
}

func TestLoadSCSPPurposesRejects(t *testing.T) {
	tests := []struct {
		name, doc, want string
	}{
		{"unknown purpose", `{"Ajuts": "spying"}`, `unknown purpose "spying"`},
		{"empty Finalidad", `{" ": "demo"}`, "an empty Finalidad"},
		{"same once normalised", `{"Ajuts  socials": "demo", "ajuts socials": "demo"}`, "once case and spaces are ignored"},
		{"too long", `{"` + strings.Repeat("a", 251) + `": "demo"}`, "longer than SCSP's 250"},
		{"not a map of strings", `{"Ajuts": 3}`, "scsp_purposes.json"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := mutate(t, "purposes.json", func(map[string]any) {}).(fstest.MapFS)
			m["scsp_purposes.json"] = &fstest.MapFile{Data: []byte(tt.doc)}
			_, err := Load(m)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("Load error = %v, want it to mention %q", err, tt.want)
			}
		})
	}
	t.Run("file is optional", func(t *testing.T) {
		m := mutate(t, "purposes.json", func(map[string]any) {}).(fstest.MapFS)
		delete(m, "scsp_purposes.json")
		c, err := Load(m)
		if err != nil {
			t.Fatal(err)
		}
		if got, ok := c.PurposeForFinalidad("demo"); !ok || got != "demo" {
			t.Fatalf("a purpose code without the file = %q, %v", got, ok)
		}
		if _, ok := c.PurposeForFinalidad("Ajuts de menjador escolar"); ok {
			t.Fatal("free text matched without scsp_purposes.json")
		}
	})
}
