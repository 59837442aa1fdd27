package migrate

import (
	"strings"
	"testing"
	"testing/fstest"
)

func TestLoad(t *testing.T) {
	file := func(s string) *fstest.MapFile { return &fstest.MapFile{Data: []byte(s)} }
	tests := []struct {
		name     string
		fsys     fstest.MapFS
		versions []int
		wantErr  string
	}{
		{
			name:     "sorted by number, not by name",
			fsys:     fstest.MapFS{"m/0002_b.sql": file("B"), "m/1_a.sql": file("A"), "m/README": file("x")},
			versions: []int{1, 2},
		},
		{name: "gap", fsys: fstest.MapFS{"m/0001_a.sql": file("A"), "m/0003_c.sql": file("C")}, wantErr: "gap or repeat"},
		{name: "repeat", fsys: fstest.MapFS{"m/0001_a.sql": file("A"), "m/0001_b.sql": file("B")}, wantErr: "gap or repeat"},
		{name: "no prefix", fsys: fstest.MapFS{"m/init.sql": file("A")}, wantErr: "want NNNN_description.sql"},
		{name: "zero", fsys: fstest.MapFS{"m/0000_a.sql": file("A")}, wantErr: "not a positive number"},
		{name: "empty", fsys: fstest.MapFS{"m/README": file("x")}, wantErr: "no migrations"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ms, err := Load(tt.fsys, "m")
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("Load: err = %v, want one containing %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("Load: %v", err)
			}
			var got []int
			for _, m := range ms {
				got = append(got, m.Version)
			}
			if len(got) != len(tt.versions) {
				t.Fatalf("versions = %v, want %v", got, tt.versions)
			}
			for i := range got {
				if got[i] != tt.versions[i] {
					t.Fatalf("versions = %v, want %v", got, tt.versions)
				}
			}
			if ms[0].SQL != "A" {
				t.Errorf("first SQL = %q, want %q", ms[0].SQL, "A")
			}
		})
	}
}
