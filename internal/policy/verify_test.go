package policy

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
)

const slsa1 = "https://slsa.dev/provenance/v1"

var provenance = json.RawMessage(`{"buildDefinition":{"externalParameters":{"workflow":{"repository":"https://github.com/acme/api","ref":"refs/tags/v1.4.2"}}}}`)

func mustCondition(t *testing.T, expr string) *Condition {
	t.Helper()
	c, err := CompileCondition(expr)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestCompileCondition(t *testing.T) {
	cases := []struct{ expr, wantErr string }{
		{`predicate.buildDefinition.externalParameters.workflow.repository == "https://github.com/acme/api"`, ""},
		{`predicate.a.startsWith("x")`, ""},
		{`predicate.a ==`, "invalid CEL expression"},
		{`1 + 2`, "gives a int; a condition must give a bool"},
		{`unknown_var == 1`, "undeclared reference"},
	}
	for _, tc := range cases {
		_, err := CompileCondition(tc.expr)
		if tc.wantErr == "" && err != nil {
			t.Errorf("%q: %v", tc.expr, err)
		}
		if tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErr)) {
			t.Errorf("%q: want error %q, got %v", tc.expr, tc.wantErr, err)
		}
	}
}

func TestEvaluateVerify(t *testing.T) {
	repoIsAcme := mustCondition(t, `predicate.buildDefinition.externalParameters.workflow.repository == "https://github.com/acme/api"`)
	repoIsOther := mustCondition(t, `predicate.buildDefinition.externalParameters.workflow.repository == "https://github.com/evil/api"`)
	missingField := mustCondition(t, `predicate.runDetails.builder.id == "x"`)
	signed := AuthorityOutcome{Name: "release", Signatures: 1, Attestations: []VerifiedAttestation{{PredicateType: slsa1, Predicate: provenance}}}
	other := json.RawMessage(`{"buildDefinition":{"externalParameters":{"workflow":{"repository":"https://github.com/evil/api"}}}}`)
	perPlatform := func(amd, arm json.RawMessage) AuthorityOutcome {
		o := AuthorityOutcome{Name: "release", Signatures: 1, PlatformAttestations: map[string][]VerifiedAttestation{
			"linux/amd64": {{PredicateType: slsa1, Predicate: amd}}}}
		if arm != nil {
			o.PlatformAttestations["linux/arm64"] = []VerifiedAttestation{{PredicateType: slsa1, Predicate: arm}}
		} else {
			o.PlatformAttestations["linux/arm64"] = nil
		}
		return o
	}
	unsigned := AuthorityOutcome{Name: "ci", Reasons: []string{"no signature found (looked in: referrers API, legacy tag sha256-x.sig)"}}

	cases := []struct {
		name     string
		outcomes []AuthorityOutcome
		rules    VerifyRules
		want     []string
	}{
		{"one authority signed, require all → pass", []AuthorityOutcome{signed}, VerifyRules{RequireAll: true}, nil},
		{"one of two signed, require all → violation for the other", []AuthorityOutcome{signed, unsigned}, VerifyRules{RequireAll: true},
			[]string{`authority "ci" did not verify: no signature found (looked in: referrers API`}},
		{"one of two signed, require any → pass", []AuthorityOutcome{unsigned, signed}, VerifyRules{}, nil},
		{"none signed, require any → every reason", []AuthorityOutcome{unsigned}, VerifyRules{}, []string{`authority "ci" did not verify`}},
		{"attestation with a true condition → pass", []AuthorityOutcome{signed}, VerifyRules{RequireAll: true, Attestations: []AttestationRule{{PredicateType: slsa1, Condition: repoIsAcme}}}, nil},
		{"attestation with a false condition → violation showing the expression", []AuthorityOutcome{signed}, VerifyRules{RequireAll: true, Attestations: []AttestationRule{{PredicateType: slsa1, Condition: repoIsOther}}},
			[]string{`present but condition "predicate.buildDefinition.externalParameters.workflow.repository == \"https://github.com/evil/api\"" is false`}},
		{"condition over a missing field fails closed", []AuthorityOutcome{signed}, VerifyRules{RequireAll: true, Attestations: []AttestationRule{{PredicateType: slsa1, Condition: missingField}}},
			[]string{"could not be evaluated"}},
		{"attestation type missing → violation", []AuthorityOutcome{signed}, VerifyRules{RequireAll: true, Attestations: []AttestationRule{{PredicateType: "https://cyclonedx.org/bom"}}},
			[]string{"attestation of type https://cyclonedx.org/bom missing"}},
		{"per-platform attestations, condition true on every platform → pass", []AuthorityOutcome{perPlatform(provenance, provenance)},
			VerifyRules{RequireAll: true, Attestations: []AttestationRule{{PredicateType: slsa1, Condition: repoIsAcme}}}, nil},
		{"per-platform attestations, condition false on arm64 only → violation naming arm64", []AuthorityOutcome{perPlatform(provenance, other)},
			VerifyRules{RequireAll: true, Attestations: []AttestationRule{{PredicateType: slsa1, Condition: repoIsAcme}}},
			[]string{"on platform linux/arm64: attestation of type " + slsa1 + " present but condition"}},
		{"per-platform attestations, missing on arm64 → violation naming arm64", []AuthorityOutcome{perPlatform(provenance, nil)},
			VerifyRules{RequireAll: true, Attestations: []AttestationRule{{PredicateType: slsa1}}},
			[]string{"on platform linux/arm64: attestation of type " + slsa1 + " missing"}},
		{"index-level attestation satisfies the rule for every platform → pass", []AuthorityOutcome{func() AuthorityOutcome {
			o := perPlatform(other, other)
			o.Attestations = signed.Attestations
			return o
		}()},
			VerifyRules{RequireAll: true, Attestations: []AttestationRule{{PredicateType: slsa1, Condition: repoIsAcme}}}, nil},
		{"no authorities → violation-free is impossible", nil, VerifyRules{RequireAll: true}, []string{}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got := EvaluateVerify(context.Background(), tc.outcomes, tc.rules)
			if tc.want == nil {
				if len(got) != 0 {
					t.Fatalf("want pass, got %+v", got)
				}
				return
			}
			if len(tc.outcomes) == 0 {
				if len(got) != 0 {
					t.Fatalf("no outcomes yields no per-authority violations; the caller rejects empty authorities: %+v", got)
				}
				return
			}
			if len(got) != len(tc.want) {
				t.Fatalf("got %d violations %+v, want %v", len(got), got, tc.want)
			}
			for i, w := range tc.want {
				if !strings.Contains(got[i].Found, w) {
					t.Errorf("violation %q lacks %q", got[i].Found, w)
				}
			}
		})
	}
}

func TestConditionBounded(t *testing.T) {
	// A predicate with a large list and a quadratic comprehension: the cost
	// limit stops it, and the condition is false (fail closed).
	big := make([]int, 3000)
	pred, _ := json.Marshal(map[string]any{"xs": big})
	c := mustCondition(t, `predicate.xs.all(x, predicate.xs.all(y, x == y))`)
	ok, why := c.Eval(context.Background(), pred)
	if ok || !strings.Contains(why, "could not be evaluated") {
		t.Fatalf("Eval = %v, %q; want a failure from the cost limit", ok, why)
	}
	// A cancelled context stops an evaluation too.
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	cheap := mustCondition(t, `predicate.xs.exists(x, x == 1)`)
	if ok, why := cheap.Eval(ctx, pred); ok || !strings.Contains(why, "could not be evaluated") {
		t.Fatalf("Eval with a cancelled context = %v, %q", ok, why)
	}
	// Control: a cheap condition on a live context evaluates.
	if ok, why := cheap.Eval(context.Background(), []byte(`{"xs":[1]}`)); !ok {
		t.Fatalf("control: %q", why)
	}
}
