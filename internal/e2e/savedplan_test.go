package e2e

import (
	"archive/zip"
	"encoding/json"
	"io"
	"strings"
	"testing"
)

// varFlags turns "name=value" pairs into -var flags.
func varFlags(vars []string) []string {
	args := make([]string, 0, 2*len(vars))
	for _, v := range vars {
		args = append(args, "-var", v)
	}
	return args
}

// showPlanJSON runs `terraform show -json <plan>` and returns its stdout. The
// run is left out of the workspace's outputs: for a plan with a sensitive
// (not ephemeral) variable it holds the variable's value by design, and the
// caller checks it with assertPlanNoLeak instead.
func (w *workspace) showPlanJSON(planPath string) string {
	w.t.Helper()
	r := w.mustTerraform(nil, "show", "-no-color", "-json", planPath)
	w.outputs = w.outputs[:len(w.outputs)-1]
	return r.stdout
}

// assertPlanNoLeak checks a saved plan file and its `show -json` rendering
// for secrets. Terraform and OpenTofu store the values of root-module input
// variables in a saved plan (documented: plan files can hold sensitive
// data), except ephemeral ones. So with keptVariable set (the name of a
// sensitive, non-ephemeral variable holding secrets[0]), secrets[0] may
// appear exactly once in the plan's own record (the zip member "tfplan") and
// only as that variable's value in `show -json`; everything else — state
// snapshots, the configuration snapshot, resource changes, outputs — must be
// free of every secret. With keptVariable empty, no secret may appear at all.
func assertPlanNoLeak(t *testing.T, planPath, shown, keptVariable string, secrets ...string) {
	t.Helper()
	zr, err := zip.OpenReader(planPath)
	if err != nil {
		t.Fatalf("saved plan %s is not a zip file: %v", planPath, err)
	}
	defer zr.Close()
	members := 0
	for _, f := range zr.File {
		rc, err := f.Open()
		if err != nil {
			t.Fatal(err)
		}
		b, err := io.ReadAll(rc)
		rc.Close()
		if err != nil {
			t.Fatal(err)
		}
		members++
		for i, s := range secrets {
			n := strings.Count(string(b), s)
			want := 0
			if keptVariable != "" && i == 0 && f.Name == "tfplan" {
				want = 1 // the variable's value, stored by the CLI
			}
			if n != want {
				t.Errorf("a secret (%d chars, starting %.4q) appears %d times in %s of the saved plan, want %d", len(s), s, n, f.Name, want)
			}
		}
	}
	if members == 0 {
		t.Fatalf("saved plan %s has no members", planPath)
	}

	var doc map[string]any
	if err := json.Unmarshal([]byte(shown), &doc); err != nil {
		t.Fatalf("show -json: %v\n%s", err, shown)
	}
	if keptVariable != "" {
		vars, _ := doc["variables"].(map[string]any)
		v, _ := vars[keptVariable].(map[string]any)
		if got, _ := v["value"].(string); got != secrets[0] {
			t.Errorf("show -json: variables.%s.value is not the variable's value; the check above assumes it is", keptVariable)
		}
		delete(vars, keptVariable)
	}
	rest, err := json.Marshal(doc)
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range secrets {
		if strings.Contains(string(rest), s) {
			t.Errorf("a secret (%d chars, starting %.4q) leaked into `show -json` of the saved plan", len(s), s)
		}
	}
}
