package report

import (
	"testing"

	"github.com/imageguard/terraform-provider-imageguard/internal/policy"
)

func TestViolations(t *testing.T) {
	if m := Violations("error", "Image fails", "d"); m.Level != LevelError || m.Summary != "Image fails" {
		t.Errorf("error → %+v", m)
	}
	if m := Violations("", "Image fails", "d"); m.Level != LevelError {
		t.Errorf("unset → %+v, want an error", m)
	}
	if m := Violations("warn", "Image fails", "d"); m.Level != LevelWarning || m.Summary != "Image fails (enforcement = warn)" {
		t.Errorf("warn → %+v", m)
	}
}

func TestSeverityCounts(t *testing.T) {
	got := SeverityCounts([]policy.Finding{{Severity: "HIGH"}, {Severity: "high"}, {Severity: "Critical"}, {Severity: ""}, {Severity: "SEVERE"}})
	want := map[string]int64{"UNKNOWN": 2, "LOW": 0, "MEDIUM": 0, "HIGH": 2, "CRITICAL": 1}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s = %d, want %d (all: %v)", k, got[k], v, got)
		}
	}
	if len(got) != len(want) {
		t.Errorf("counts %v", got)
	}
}
