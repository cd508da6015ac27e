package policy

import (
	"context"
	"encoding/json"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/google/cel-go/cel"
	"github.com/google/cel-go/common/types"
)

// Condition is a compiled CEL expression over an attestation's predicate,
// e.g. `predicate.buildDefinition.externalParameters.workflow.repository ==
// "https://github.com/acme/api"`. It must evaluate to a bool.
type Condition struct {
	Expr string
	prg  cel.Program
}

// CompileCondition parses and type-checks a CEL expression. The only
// variable is `predicate`, the attestation's predicate as JSON values.
func CompileCondition(expr string) (*Condition, error) {
	env, err := cel.NewEnv(cel.Variable("predicate", cel.DynType))
	if err != nil {
		return nil, err
	}
	ast, iss := env.Compile(expr)
	if iss != nil && iss.Err() != nil {
		return nil, fmt.Errorf("invalid CEL expression %q: %s", expr, strings.TrimSpace(iss.Err().Error()))
	}
	if t := ast.OutputType(); t != cel.BoolType && t != cel.DynType {
		return nil, fmt.Errorf("the CEL expression %q gives a %s; a condition must give a bool", expr, t)
	}
	// A cost limit and interrupt checks bound what a condition may cost: a
	// hostile predicate or expression cannot hold the plan past its deadline.
	prg, err := env.Program(ast, cel.CostLimit(ConditionCostLimit), cel.InterruptCheckFrequency(conditionInterruptFrequency))
	if err != nil {
		return nil, fmt.Errorf("invalid CEL expression %q: %v", expr, err)
	}
	return &Condition{Expr: expr, prg: prg}, nil
}

// ConditionCostLimit bounds the CEL cost of one evaluation (cel-go's
// runtime cost units; comprehensions over large predicates hit it).
const ConditionCostLimit = 1_000_000

// conditionInterruptFrequency is how many comprehension iterations pass
// between checks of the context.
const conditionInterruptFrequency = 100

// Eval runs the condition on a predicate (raw JSON) within ctx's deadline.
// A runtime error (a missing field, the cost limit, the deadline) is false
// with the reason: fail closed.
func (c *Condition) Eval(ctx context.Context, predicate json.RawMessage) (bool, string) {
	var v any
	if len(predicate) > 0 {
		if err := json.Unmarshal(predicate, &v); err != nil {
			return false, fmt.Sprintf("the predicate is not JSON: %v", err)
		}
	}
	out, _, err := c.prg.ContextEval(ctx, map[string]any{"predicate": v})
	if err != nil {
		return false, fmt.Sprintf("condition %q could not be evaluated: %v", c.Expr, err)
	}
	b, ok := out.(types.Bool)
	if !ok {
		return false, fmt.Sprintf("condition %q gave %v, not a bool", c.Expr, out)
	}
	if !bool(b) {
		return false, fmt.Sprintf("condition %q is false", c.Expr)
	}
	return true, ""
}

// VerifiedAttestation is an attestation that verified for an authority.
type VerifiedAttestation struct {
	PredicateType string
	Predicate     json.RawMessage
	// VerifiedTime is when the transparency log (or, for a keyless
	// signature, an RFC 3161 timestamp authority) saw the signature; zero
	// when no such time was verified. It orders attestations and measures
	// max_age: registry annotations and the predicate's own dates are claims.
	VerifiedTime time.Time
}

// AuthorityOutcome is what verification found for one authority.
type AuthorityOutcome struct {
	Name string
	// Signatures is how many signatures verified for it.
	Signatures   int
	Attestations []VerifiedAttestation
	// PlatformAttestations holds, for an index, what verified on each
	// platform manifest (platform → attestations). An attestation rule that
	// the index's own attestations do not satisfy must hold on every one
	// of them: a runtime may pull any platform.
	PlatformAttestations map[string][]VerifiedAttestation
	// Reasons say why nothing verified, from the verifier.
	Reasons []string
}

// AttestationRule requires an attestation of a predicate type, optionally
// satisfying a condition and no older than MaxAge.
//
// Which attestation is judged when several of the type verified: the newest
// by VerifiedTime (any of them if several share that time); attestations
// without a verified time count only when none of the type has one.
type AttestationRule struct {
	PredicateType string
	Condition     *Condition
	// MaxAge bounds the age of the attestation's VerifiedTime at
	// VerifyRules.Now; zero is off. An attestation without a verified time
	// fails it.
	MaxAge time.Duration
}

// VerifyRules are the signature gate's settings.
type VerifyRules struct {
	// RequireAll: every authority must verify (else any one suffices).
	RequireAll   bool
	Attestations []AttestationRule
	// AttestationsOnly: an authority needs no signature, only its
	// attestations (require_signature = false).
	AttestationsOnly bool
	// Provenance, when set, is judged by EvaluateProvenance, apart from
	// the authorities.
	Provenance *ProvenanceRule
	// Now is when the rules are judged (MaxAge).
	Now time.Time
}

// Predicate types whose predicate says when it was judged.
const (
	// VulnPredicateType is cosign's vulnerability predicate; its time is
	// metadata.scanFinishedOn.
	VulnPredicateType = "https://cosign.sigstore.dev/attestation/vuln/v1"
	// VerdictPredicateType is imageguard's verdict; its time is judgedAt.
	VerdictPredicateType = "https://imageguard.dev/verdict/v1"
)

// maxFutureSkew is how far in the future a predicate's time may be before
// it is not believed.
const maxFutureSkew = 5 * time.Minute

// HasPredicateTime reports whether a predicate type carries its own time,
// which must not be later than the attestation's verified time.
func HasPredicateTime(predicateType string) bool {
	return predicateType == VulnPredicateType || predicateType == VerdictPredicateType
}

// PredicateTime is when a predicate says it was judged: the vulnerability
// predicate's metadata.scanFinishedOn, the verdict's judgedAt.
func PredicateTime(predicateType string, predicate json.RawMessage) (time.Time, error) {
	var field string
	var doc struct {
		Metadata struct {
			ScanFinishedOn string `json:"scanFinishedOn"`
		} `json:"metadata"`
		JudgedAt string `json:"judgedAt"`
	}
	if err := json.Unmarshal(predicate, &doc); err != nil {
		return time.Time{}, fmt.Errorf("the predicate is not a JSON object: %v", err)
	}
	var raw string
	switch predicateType {
	case VulnPredicateType:
		field, raw = "metadata.scanFinishedOn", doc.Metadata.ScanFinishedOn
	case VerdictPredicateType:
		field, raw = "judgedAt", doc.JudgedAt
	default:
		return time.Time{}, fmt.Errorf("a %s predicate carries no scan time", predicateType)
	}
	if raw == "" {
		return time.Time{}, fmt.Errorf("the predicate has no %s", field)
	}
	t, err := time.Parse(time.RFC3339Nano, raw)
	if err != nil {
		return time.Time{}, fmt.Errorf("the predicate's %s %q is not an RFC 3339 time", field, raw)
	}
	return t, nil
}

// maxPredicateLead is how far a predicate's own time may be after its
// verified time (the scanner's clock against the log's) before the
// predicate is refused as postdated.
const maxPredicateLead = 5 * time.Minute

// checkAttestationTime holds when the attestation's times are consistent
// and, with maxAge, its verified time is within maxAge of now. A predicate
// that says it was made after the log or timestamp authority saw its
// signature is refused whatever maxAge says.
func checkAttestationTime(a VerifiedAttestation, maxAge time.Duration, now time.Time) (bool, string) {
	verified := a.VerifiedTime.UTC().Format(time.RFC3339)
	if HasPredicateTime(a.PredicateType) {
		pt, err := PredicateTime(a.PredicateType, a.Predicate)
		switch {
		case err != nil && maxAge > 0:
			return false, "its own time cannot be checked against its verified time: " + err.Error()
		case err == nil && !a.VerifiedTime.IsZero() && pt.Sub(a.VerifiedTime) > maxPredicateLead:
			return false, fmt.Sprintf("its predicate says it was made at %s, after its signature was logged or timestamped at %s: "+
				"a predicate cannot postdate its signature (a forged or backdated attestation); re-attest with a fresh scan",
				pt.UTC().Format(time.RFC3339), verified)
		}
	}
	if maxAge <= 0 {
		return true, ""
	}
	if a.VerifiedTime.IsZero() {
		return false, "it has no verified time, so max_age cannot be judged: no transparency log entry was verified for its signature " +
			"(a key signature with tlog = \"optional\" and no log entry; a timestamp alone does not date a key signature, since anyone can timestamp an old one). " +
			"Attest with the transparency log (cosign's default) and keep tlog = \"required\", or sign keyless"
	}
	switch age := now.Sub(a.VerifiedTime); {
	case age < -maxFutureSkew:
		return false, fmt.Sprintf("its signature was logged or timestamped at %s, in the future", verified)
	case age > maxAge:
		return false, fmt.Sprintf("its signature was logged or timestamped at %s, %s ago, older than max_age %s", verified, age.Round(time.Minute), maxAge)
	}
	return true, ""
}

// judgedAttestations picks what a rule judges among the attestations of
// its type: those with the latest verified time, or, when none of them has
// a verified time, all of them.
func judgedAttestations(have []VerifiedAttestation, predicateType string) []VerifiedAttestation {
	var all, newest []VerifiedAttestation
	var latest time.Time
	for _, a := range have {
		if a.PredicateType != predicateType {
			continue
		}
		all = append(all, a)
		switch {
		case a.VerifiedTime.IsZero():
		case a.VerifiedTime.After(latest):
			latest, newest = a.VerifiedTime, []VerifiedAttestation{a}
		case a.VerifiedTime.Equal(latest):
			newest = append(newest, a)
		}
	}
	if len(newest) > 0 {
		return newest
	}
	return all
}

// EvaluateVerify judges authorities' outcomes: an authority passes when it
// has a verified signature and, for each attestation rule, a verified
// attestation of that type whose predicate satisfies the condition.
func EvaluateVerify(ctx context.Context, outcomes []AuthorityOutcome, rules VerifyRules) []Violation {
	type verdict struct {
		name    string
		passed  bool
		reasons []string
	}
	var verdicts []verdict
	for _, o := range outcomes {
		v := verdict{name: o.Name, passed: true}
		if o.Signatures == 0 && !rules.AttestationsOnly {
			v.passed = false
			if len(o.Reasons) == 0 {
				v.reasons = append(v.reasons, "no signature verified")
			}
			v.reasons = append(v.reasons, o.Reasons...)
		}
		for _, r := range rules.Attestations {
			ok, why := attestationSatisfied(ctx, o.Attestations, r, rules.Now)
			if !ok && len(o.PlatformAttestations) > 0 {
				ok, why = everyPlatformSatisfies(ctx, o.PlatformAttestations, r, rules.Now)
			}
			if !ok {
				v.passed = false
				v.reasons = append(v.reasons, why)
			}
		}
		verdicts = append(verdicts, v)
	}
	passed := 0
	for _, v := range verdicts {
		if v.passed {
			passed++
		}
	}
	if len(verdicts) > 0 && ((rules.RequireAll && passed == len(verdicts)) || (!rules.RequireAll && passed > 0)) {
		return nil
	}
	var out []Violation
	requires := "a verified signature from every authority"
	if !rules.RequireAll {
		requires = "a verified signature from at least one authority"
	}
	for _, v := range verdicts {
		if v.passed {
			continue
		}
		out = append(out, Violation{
			Rule:     "signature",
			Found:    fmt.Sprintf("authority %q did not verify: %s", v.name, strings.Join(v.reasons, "; ")),
			Requires: requires,
			Fix:      "sign the image (and attach the attestations) with this authority's key or identity, or correct the authority",
		})
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].Found < out[j].Found })
	return out
}

// everyPlatformSatisfies holds when each platform carries an attestation of
// the rule's type that satisfies its condition.
func everyPlatformSatisfies(ctx context.Context, perPlatform map[string][]VerifiedAttestation, r AttestationRule, now time.Time) (bool, string) {
	platforms := make([]string, 0, len(perPlatform))
	for p := range perPlatform {
		platforms = append(platforms, p)
	}
	sort.Strings(platforms)
	var failed []string
	for _, p := range platforms {
		if ok, why := attestationSatisfied(ctx, perPlatform[p], r, now); !ok {
			failed = append(failed, fmt.Sprintf("on platform %s: %s", p, why))
		}
	}
	if len(failed) > 0 {
		return false, strings.Join(failed, "; ")
	}
	return true, ""
}

func attestationSatisfied(ctx context.Context, have []VerifiedAttestation, r AttestationRule, now time.Time) (bool, string) {
	judged := judgedAttestations(have, r.PredicateType)
	if len(judged) == 0 {
		return false, fmt.Sprintf("attestation of type %s missing", r.PredicateType)
	}
	var reasons []string
	for _, a := range judged {
		if ok, why := checkAttestationTime(a, r.MaxAge, now); !ok {
			reasons = append(reasons, why)
			continue
		}
		if r.Condition == nil {
			return true, ""
		}
		ok, why := r.Condition.Eval(ctx, a.Predicate)
		if ok {
			return true, ""
		}
		reasons = append(reasons, why)
	}
	what := "present but"
	if n := countType(have, r.PredicateType); n > len(judged) {
		what = fmt.Sprintf("present (%d; the newest by verified time is judged) but", n)
	}
	return false, fmt.Sprintf("attestation of type %s %s %s", r.PredicateType, what, strings.Join(reasons, "; "))
}

func countType(have []VerifiedAttestation, predicateType string) int {
	n := 0
	for _, a := range have {
		if a.PredicateType == predicateType {
			n++
		}
	}
	return n
}
