package reftest

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
)

// ProvenanceFile is the sidecar, in each testdata folder, that records what every golden
// file there was made with; internal/reftest/provenance.py writes it when it runs a
// generator.
const ProvenanceFile = "PROVENANCE.json"

// Origin is one golden file's entry in its folder's ProvenanceFile.
type Origin struct {
	Generator       string   `json:"generator"`
	Args            []string `json:"args"`
	ReferenceCommit *string  `json:"reference_commit"` // nil: made without the reference
	Torch           string   `json:"torch"`
	Torchvision     string   `json:"torchvision"`
	NumPy           string   `json:"numpy"`
	OpenCV          string   `json:"cv2"`
	Note            string   `json:"note"` // e.g. how the entry was made when not by provenance.py
}

func (o Origin) String() string {
	parts := []string{o.Generator}
	if o.ReferenceCommit != nil {
		parts = append(parts, "reference "+*o.ReferenceCommit)
	}
	for _, v := range [][2]string{{"torch", o.Torch}, {"torchvision", o.Torchvision}, {"numpy", o.NumPy}, {"opencv", o.OpenCV}} {
		if v[1] != "" {
			parts = append(parts, v[0]+" "+v[1])
		}
	}
	if o.Note != "" {
		parts = append(parts, "("+o.Note+")")
	}
	return strings.Join(parts, ", ")
}

// ReadProvenance returns the entries of dir's ProvenanceFile.
func ReadProvenance(dir string) (map[string]Origin, error) {
	b, err := os.ReadFile(filepath.Join(dir, ProvenanceFile))
	if err != nil {
		return nil, err
	}
	var m map[string]Origin
	if err := json.Unmarshal(b, &m); err != nil {
		return nil, fmt.Errorf("%s: %v", filepath.Join(dir, ProvenanceFile), err)
	}
	return m, nil
}

// Provenance logs what the golden files dir/names were made with (generator, reference
// commit, torch version), and fails t when one has no entry.
func Provenance(t testing.TB, dir string, names ...string) {
	t.Helper()
	m, err := ReadProvenance(dir)
	if err != nil {
		t.Fatalf("golden provenance: %v", err)
	}
	sort.Strings(names)
	for _, n := range names {
		o, ok := m[n]
		if !ok {
			t.Fatalf("golden %s has no entry in %s", filepath.Join(dir, n), ProvenanceFile)
		}
		t.Logf("golden %s: made by %v", n, o)
	}
}
