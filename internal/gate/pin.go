// Package gate runs imageguard's gates on plain Go values: the pin's
// approval decision, the verify gate across platforms, and the helpers the
// Terraform surface uses to attach errors to the block a gate runs in. It
// never imports the plugin framework.
package gate

import (
	"fmt"
	"time"
)

// Tag-move policies of imageguard_pin's `on_tag_move`.
const (
	OnTagMoveUpdate = "update"
	OnTagMoveError  = "error"
	OnTagMoveIgnore = "ignore"
)

// PinPrior is what the state of an imageguard_pin holds.
type PinPrior struct {
	Ref    string
	Digest string // the approved digest; "" when none
	// ApprovedAt is empty for an imported record that was never judged.
	ApprovedAt string
	// ObservedTagDigest is what the tag named when the state was last
	// refreshed (or applied). A saved plan carries this refreshed state to
	// apply, so deciding from it makes the apply-time plan repeat the
	// plan's decision even when the tag moved in between.
	ObservedTagDigest string
}

// PinInput is everything the approval decision depends on.
type PinInput struct {
	Ref       string
	OnTagMove string
	Prior     *PinPrior // nil on create
	// TagNow is what the registry says the tag names right now.
	TagNow string
	// Planned is the digest an earlier plan of this same change chose,
	// when the record of that plan is available (creates and ref changes,
	// whose state holds no observation); "" otherwise.
	Planned *PlannedRecord
}

// PlannedRecord is what a plan remembered about the digest it chose.
type PlannedRecord struct {
	Digest    string
	PlannedAt time.Time
}

// PinAction is what a plan does with the pin.
type PinAction int

const (
	// PinApprove judges Digest and, if it passes, proposes it as the
	// approved digest.
	PinApprove PinAction = iota + 1
	// PinKeep keeps the approved digest and re-judges it.
	PinKeep
	// PinRefuse fails the plan: the tag moved and on_tag_move forbids it.
	PinRefuse
)

// PinDecision is the outcome of DecidePin.
type PinDecision struct {
	Action PinAction
	// Digest is the digest to judge: the one to approve, or the approved one.
	Digest string
	// TagDigest is what the plan records as the tag's digest.
	TagDigest string
	// Warnings explain a decision that did not follow the registry's
	// current answer.
	Warnings []string
	// Refusal is the reason for PinRefuse.
	Refusal string
}

// DecidePin decides what a plan of imageguard_pin does. It is a pure
// function of the prior state, the configuration and what the registry shows
// now, so the plan terraform saves and the plan it repeats at apply agree.
func DecidePin(in PinInput) PinDecision {
	followed, warnings := followedDigest(in)
	d := PinDecision{TagDigest: followed, Warnings: warnings}
	p := in.Prior
	switch {
	case p == nil || p.Digest == "" || p.Ref != in.Ref:
		// Create, or following another tag: approve what the tag names.
		d.Action, d.Digest = PinApprove, followed
	case p.ApprovedAt == "":
		// Imported: the imported digest is judged before it counts as approved.
		d.Action, d.Digest = PinApprove, p.Digest
	case followed == p.Digest:
		d.Action, d.Digest = PinKeep, p.Digest
	default:
		switch in.OnTagMove {
		case OnTagMoveError:
			d.Action, d.Digest = PinRefuse, p.Digest
			d.Refusal = fmt.Sprintf("%s now points to %s, but the approved digest is %s (approved %s). on_tag_move = \"error\" forbids following it: "+
				"review the new image, then set on_tag_move = \"update\" to approve it through the plan, or pin the tag back.", in.Ref, followed, p.Digest, p.ApprovedAt)
		case OnTagMoveIgnore:
			d.Action, d.Digest = PinKeep, p.Digest
		default:
			d.Action, d.Digest = PinApprove, followed
		}
	}
	return d
}

// plannedRecordTTL bounds how long a plan's record stands in for the
// registry: a saved plan older than this is applied against the tag's
// current digest.
const plannedRecordTTL = 7 * 24 * time.Hour

// followedDigest is the digest the tag is taken to name in this plan.
func followedDigest(in PinInput) (string, []string) {
	p := in.Prior
	if p != nil && p.Ref == in.Ref && p.ObservedTagDigest != "" {
		if p.ObservedTagDigest != in.TagNow {
			return p.ObservedTagDigest, []string{fmt.Sprintf(
				"%s now names %s, but it named %s when the state was refreshed; this run follows %s, as the plan did (a saved plan applies what it showed). "+
					"The next plan with refresh shows the move.", in.Ref, in.TagNow, p.ObservedTagDigest, p.ObservedTagDigest)}
		}
		return in.TagNow, nil
	}
	if r := in.Planned; r != nil && r.Digest != "" && r.Digest != in.TagNow {
		return r.Digest, []string{fmt.Sprintf(
			"%s now names %s, but the plan made at %s chose %s; this run follows %s so that applying that saved plan approves what it showed. "+
				"The next plan shows the move.", in.Ref, in.TagNow, r.PlannedAt.UTC().Format(time.RFC3339), r.Digest, r.Digest)}
	}
	return in.TagNow, nil
}

// UsablePlannedRecord reports whether a plan record may stand in for the
// registry at now.
func UsablePlannedRecord(r *PlannedRecord, now time.Time) bool {
	return r != nil && r.Digest != "" && !r.PlannedAt.After(now.Add(time.Minute)) && now.Sub(r.PlannedAt) <= plannedRecordTTL
}
