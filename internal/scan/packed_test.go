package scan

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"
)

func TestPackedRoundTrip(t *testing.T) {
	in := summaryResult{
		Findings: packedFindings{
			{ID: "CVE-1", Severity: "HIGH", Package: "libc6", InstalledVersion: "2.36-9", FixedVersion: "2.36-10", Status: "fixed", Title: "glibc: a", Target: "debian 12.11", PkgType: "debian"},
			{ID: "CVE-2", Severity: "LOW", Package: "libc6", InstalledVersion: "2.36-9", Status: "affected", Title: "", Target: "debian 12.11", PkgType: "debian"},
		},
		Packages: packedPackages{{Name: "libc6", Version: "2.36-9", Type: "debian", Target: "img (debian 12.11)"}, {Name: "lodash", Version: "4.17.20", Type: "node-pkg", Target: "app/node_modules/lodash/package.json"}},
	}
	b, err := json.Marshal(in)
	if err != nil {
		t.Fatal(err)
	}
	// Once in the findings' table, once in the packages'.
	if n := strings.Count(string(b), `"libc6"`); n != 2 {
		t.Errorf("libc6 is written %d times, want once per table:\n%s", n, b)
	}
	var out summaryResult
	if err := json.Unmarshal(b, &out); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(in, out) {
		t.Fatalf("round trip:\n got %+v\nwant %+v", out, in)
	}
	var empty summaryResult
	if b, _ := json.Marshal(empty); string(b) != "{}" {
		t.Errorf("empty summary = %s", b)
	}
}

// A packed row naming a string the table lacks, or rows of another width,
// are errors (a corrupt cache entry is a miss, never a pass).
func TestPackedRejectsCorrupt(t *testing.T) {
	for _, raw := range []string{
		`{"Findings":{"s":["a"],"r":"AAAAAAAAAAAAAQ==","w":10}}`, // index 1 of 1 string
		`{"Findings":{"s":["a"],"r":"AAA=","w":3}}`,              // another width
		`{"Findings":{"s":["a"],"r":"AAAAAAAAAAAA","w":10}}`,     // 9 indices for rows of 10
		`{"Packages":{"s":["a"],"r":"gA==","w":4}}`,              // a cut varint
	} {
		var out summaryResult
		if err := json.Unmarshal([]byte(raw), &out); err == nil {
			t.Errorf("%s: no error", raw)
		}
	}
}
