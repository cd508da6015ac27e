package gate

import (
	"os"
	"strings"
	"testing"
	"time"
)

func TestDecidePin(t *testing.T) {
	const ref = "registry.example.com/team/api:1"
	const a, b, c = "sha256:aaa", "sha256:bbb", "sha256:ccc"
	approved := func(digest, observed string) *PinPrior {
		return &PinPrior{Ref: ref, Digest: digest, ApprovedAt: "2026-11-01T00:00:00Z", ObservedTagDigest: observed}
	}
	planned := &PlannedRecord{Digest: b, PlannedAt: time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)}
	tests := []struct {
		name       string
		in         PinInput
		action     PinAction
		digest     string
		tagDigest  string
		warnsAbout string
	}{
		{"create → approve what the tag names",
			PinInput{Ref: ref, TagNow: a}, PinApprove, a, a, ""},
		{"create, tag moved since a saved plan chose b → approve b as planned, with a warning",
			PinInput{Ref: ref, TagNow: c, Planned: planned}, PinApprove, b, b, "chose " + b},
		{"create, planned record agrees with the tag → no warning",
			PinInput{Ref: ref, TagNow: b, Planned: planned}, PinApprove, b, b, ""},
		{"nothing moved → keep and re-judge",
			PinInput{Ref: ref, TagNow: a, Prior: approved(a, a)}, PinKeep, a, a, ""},
		{"tag moved (seen at refresh), update → approve the new digest",
			PinInput{Ref: ref, TagNow: b, Prior: approved(a, b), OnTagMove: OnTagMoveUpdate}, PinApprove, b, b, ""},
		{"on_tag_move unset means update",
			PinInput{Ref: ref, TagNow: b, Prior: approved(a, b)}, PinApprove, b, b, ""},
		{"saved plan applied after the tag moved again → approve what refresh saw, warn",
			PinInput{Ref: ref, TagNow: c, Prior: approved(a, b)}, PinApprove, b, b, "named " + b},
		{"tag moved back to the approved digest after the refresh → still follow the refresh",
			PinInput{Ref: ref, TagNow: a, Prior: approved(a, b)}, PinApprove, b, b, "now names " + a},
		{"plan without refresh after a move → keep the approved digest, warn",
			PinInput{Ref: ref, TagNow: b, Prior: approved(a, a)}, PinKeep, a, a, "now names " + b},
		{"tag moved, on_tag_move error → refuse",
			PinInput{Ref: ref, TagNow: b, Prior: approved(a, b), OnTagMove: OnTagMoveError}, PinRefuse, a, b, ""},
		{"tag moved, on_tag_move ignore → keep the approved digest",
			PinInput{Ref: ref, TagNow: b, Prior: approved(a, b), OnTagMove: OnTagMoveIgnore}, PinKeep, a, b, ""},
		{"imported (never judged) → judge the imported digest",
			PinInput{Ref: ref, TagNow: b, Prior: &PinPrior{Ref: ref, Digest: a, ObservedTagDigest: b}}, PinApprove, a, b, ""},
		{"following another tag → approve that tag's digest, ignore the old observation",
			PinInput{Ref: ref, TagNow: c, Prior: &PinPrior{Ref: "registry.example.com/team/api:0", Digest: a, ApprovedAt: "x", ObservedTagDigest: a}}, PinApprove, c, c, ""},
		{"state from before tag observations (empty) → the registry's answer",
			PinInput{Ref: ref, TagNow: b, Prior: approved(a, "")}, PinApprove, b, b, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := DecidePin(tt.in)
			if got.Action != tt.action || got.Digest != tt.digest || got.TagDigest != tt.tagDigest {
				t.Fatalf("DecidePin = {action %d, digest %s, tag %s}, want {action %d, digest %s, tag %s}",
					got.Action, got.Digest, got.TagDigest, tt.action, tt.digest, tt.tagDigest)
			}
			switch {
			case tt.warnsAbout == "" && len(got.Warnings) > 0:
				t.Errorf("unexpected warnings %q", got.Warnings)
			case tt.warnsAbout != "" && (len(got.Warnings) != 1 || !strings.Contains(got.Warnings[0], tt.warnsAbout)):
				t.Errorf("warnings %q, want one about %q", got.Warnings, tt.warnsAbout)
			}
			if tt.action == PinRefuse && !strings.Contains(got.Refusal, "on_tag_move") {
				t.Errorf("refusal %q does not name on_tag_move", got.Refusal)
			}
		})
	}
}

func TestDecidePinRepeatsItselfAtApply(t *testing.T) {
	// Whatever the tag names at apply, the decision from the same prior
	// state is the one the plan made.
	const ref = "r.example/app:1"
	prior := &PinPrior{Ref: ref, Digest: "sha256:a", ApprovedAt: "t", ObservedTagDigest: "sha256:b"}
	plan := DecidePin(PinInput{Ref: ref, TagNow: "sha256:b", Prior: prior})
	for _, now := range []string{"sha256:a", "sha256:b", "sha256:c"} {
		apply := DecidePin(PinInput{Ref: ref, TagNow: now, Prior: prior})
		if apply.Action != plan.Action || apply.Digest != plan.Digest || apply.TagDigest != plan.TagDigest {
			t.Errorf("tag at apply %s: decision %+v differs from the plan's %+v", now, apply, plan)
		}
	}
}

func TestUsablePlannedRecord(t *testing.T) {
	now := time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)
	tests := []struct {
		name string
		rec  *PlannedRecord
		want bool
	}{
		{"none", nil, false},
		{"an hour old", &PlannedRecord{Digest: "sha256:a", PlannedAt: now.Add(-time.Hour)}, true},
		{"eight days old", &PlannedRecord{Digest: "sha256:a", PlannedAt: now.Add(-8 * 24 * time.Hour)}, false},
		{"from the future", &PlannedRecord{Digest: "sha256:a", PlannedAt: now.Add(time.Hour)}, false},
		{"no digest", &PlannedRecord{PlannedAt: now}, false},
	}
	for _, tt := range tests {
		if got := UsablePlannedRecord(tt.rec, now); got != tt.want {
			t.Errorf("%s: %v, want %v", tt.name, got, tt.want)
		}
	}
}

func TestPlanRecords(t *testing.T) {
	p := PlanRecords{Dir: t.TempDir()}
	key := PlanRecordKey("r.example/app:1", "", "")
	if p.Load(key) != nil {
		t.Fatal("a record before any was saved")
	}
	at := time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)
	if err := p.Save(key, PlannedRecord{Digest: "sha256:a", PlannedAt: at}); err != nil {
		t.Fatal(err)
	}
	if got := p.Load(key); got == nil || got.Digest != "sha256:a" || !got.PlannedAt.Equal(at) {
		t.Fatalf("Load = %+v", got)
	}
	other := PlanRecordKey("r.example/app:2", "", "")
	if p.Load(other) != nil {
		t.Error("another change sees the record")
	}
	// A record copied under another key is not trusted.
	if err := os.Rename(p.path(key), p.path(other)); err != nil {
		t.Fatal(err)
	}
	if p.Load(other) != nil {
		t.Error("a record planted under another key was trusted")
	}
	// A symlink is not followed.
	if err := os.Rename(p.path(other), p.path(key)+".real"); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(p.path(key)+".real", p.path(key)); err != nil {
		t.Fatal(err)
	}
	if p.Load(key) != nil {
		t.Error("a record reached through a symlink was trusted")
	}
	p.Delete(key)
	if _, err := os.Lstat(p.path(key)); !os.IsNotExist(err) {
		t.Errorf("Delete left %v", err)
	}
}
