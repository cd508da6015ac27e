package report

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/santhosh-tekuri/jsonschema/v6"

	"github.com/imageguard/terraform-provider-imageguard/internal/policy"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/")

const (
	apiDigest    = "sha256:1111111111111111111111111111111111111111111111111111111111111111"
	workerDigest = "sha256:2222222222222222222222222222222222222222222222222222222222222222"
)

// sampleReport has a vulnerability, a secret, configuration violations,
// a signature failure, suppressions and warnings, given out of order.
func sampleReport() Report {
	now := time.Date(2026, 11, 22, 10, 0, 0, 0, time.UTC)
	facts := policy.ImageFacts{Name: "api", Ref: "registry.example.com/team/api:1.4.2", Registry: "registry.example.com", Repository: "team/api", Digest: apiDigest, Platform: "linux/amd64",
		User: "root", ExposedPorts: []string{"22/tcp", "8080/tcp"}, Labels: map[string]string{}}
	rules := policy.Rules{RequireNonRoot: true, ForbiddenPorts: []string{"22"}, RequiredLabels: map[string]string{"org.opencontainers.image.source": `^https://`},
		Exceptions: []policy.Exception{{Rule: policy.RuleRequireNonRoot, Reason: "legacy entrypoint & <init>", Expires: time.Date(2027, 1, 31, 0, 0, 0, 0, time.UTC), Owner: "alice"}}}
	ruleViolations, excepted, _ := policy.EvaluateRules(facts, rules, now)

	vuln := policy.Finding{ID: "CVE-2023-5363", Severity: "HIGH", Package: "openssl", InstalledVersion: "3.1.3-r0", FixedVersion: "3.1.4-r0", Status: "fixed", Target: "alpine 3.23.2 (alpine)", Platform: "linux/amd64"}
	scan := policy.EvaluateScan([]policy.Finding{vuln,
		{ID: "CVE-2024-0001", Severity: "MEDIUM", Package: "busybox", InstalledVersion: "1.36.1-r29", FixedVersion: "1.36.1-r30", Status: "fixed", Platform: "linux/amd64"},
		{ID: "CVE-2024-0002", Severity: "LOW", Package: "zlib", InstalledVersion: "1.3", FixedVersion: "1.3.1", Status: "fixed", Platform: "linux/amd64"},
	}, []policy.Secret{{RuleID: "aws-access-key-id", Category: "AWS", Severity: "CRITICAL", Target: "/app/.env", Line: 3, Platform: "linux/amd64"}}, nil,
		policy.ScanRules{Threshold: policy.SeverityLow, Ignores: []policy.Ignore{{ID: "CVE-2024-0002", Reason: "not reachable"}}}, now)

	api := ImageResult{Name: "api", Ref: facts.Ref, Digest: apiDigest, Warnings: []string{"b warning", "a warning", "b warning"}}
	for _, v := range append(ruleViolations, scan.Violations...) {
		api.Violations = append(api.Violations, FromViolation(v))
	}
	for _, s := range append(excepted, scan.Ignored...) {
		api.Suppressed = append(api.Suppressed, FromSuppression(s))
	}
	sig := policy.EvaluateVerify(context.Background(), []policy.AuthorityOutcome{{Name: "release", Reasons: []string{"no matching signatures"}}}, policy.VerifyRules{})
	worker := ImageResult{Name: "worker", Ref: "localhost:5000/team/worker@" + workerDigest, Digest: workerDigest}
	for _, v := range sig {
		worker.Violations = append(worker.Violations, FromViolation(v))
	}
	clean := ImageResult{Name: "", Ref: "registry.example.com/team/clean:2", Digest: "sha256:3333333333333333333333333333333333333333333333333333333333333333"}
	return Report{
		GeneratedAt: now.In(time.FixedZone("CET", 3600)),
		DB:          &DB{SchemaVersion: 2, UpdatedAt: now.Add(-4 * time.Hour), Source: "mirror.example.com/aquasec/trivy-db:2"},
		Images:      []ImageResult{worker, clean, api},
	}
}

func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run `go test ./internal/report -update` to create it)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s differs from the golden file; if the change is intended, run `go test ./internal/report -update` and review the diff.\n got:\n%s", name, got)
	}
}

func compileSchema(t *testing.T, file string) *jsonschema.Schema {
	t.Helper()
	f, err := os.Open(filepath.Join("testdata", file))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	doc, err := jsonschema.UnmarshalJSON(f)
	if err != nil {
		t.Fatal(err)
	}
	c := jsonschema.NewCompiler()
	c.AssertFormat()
	const url = "https://imageguard.test/schema.json"
	if err := c.AddResource(url, doc); err != nil {
		t.Fatal(err)
	}
	sch, err := c.Compile(url)
	if err != nil {
		t.Fatal(err)
	}
	return sch
}

func validate(t *testing.T, sch *jsonschema.Schema, raw []byte) error {
	t.Helper()
	inst, err := jsonschema.UnmarshalJSON(bytes.NewReader(raw))
	if err != nil {
		t.Fatal(err)
	}
	return sch.Validate(inst)
}

func TestJSONGoldenAndSchema(t *testing.T) {
	raw, err := asBytes(JSON(sampleReport()))
	if err != nil {
		t.Fatal(err)
	}
	golden(t, "report.golden.json", raw)
	if err := validate(t, compileSchema(t, "report-v1.schema.json"), raw); err != nil {
		t.Fatalf("report does not match its schema: %v", err)
	}
}

func TestJSONContent(t *testing.T) {
	raw, err := asBytes(JSON(sampleReport()))
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		SchemaVersion string `json:"schema_version"`
		GeneratedAt   string `json:"generated_at"`
		Passed        bool   `json:"passed"`
		Images        []struct {
			Name       string
			Passed     bool
			Violations []Violation
			Suppressed []Suppressed
			Warnings   []string
			Counts     struct {
				Violations int
				BySeverity map[string]int `json:"by_severity"`
				ByRule     map[string]int `json:"by_rule"`
			}
		}
	}
	if err := json.Unmarshal(raw, &doc); err != nil {
		t.Fatal(err)
	}
	if doc.SchemaVersion != "imageguard.report/v1" || doc.GeneratedAt != "2026-11-22T10:00:00Z" || doc.Passed {
		t.Fatalf("header: %+v", doc)
	}
	var names []string
	for _, img := range doc.Images {
		names = append(names, img.Name)
	}
	if strings.Join(names, ",") != "api,registry.example.com/team/clean:2,worker" {
		t.Fatalf("images are sorted by name (ref when unnamed): %v", names)
	}
	api, clean := doc.Images[0], doc.Images[1]
	if !clean.Passed || clean.Violations == nil || len(clean.Violations) != 0 {
		t.Errorf("a clean image passes with an empty violations array: %+v", clean)
	}
	var keys []string
	for _, v := range api.Violations {
		keys = append(keys, v.Rule+"/"+v.Subject)
	}
	want := "forbidden_ports/22/tcp,required_labels/org.opencontainers.image.source,secret/aws-access-key-id,severity/CVE-2023-5363,severity/CVE-2024-0001"
	if strings.Join(keys, ",") != want {
		t.Errorf("violations sorted by rule, subject:\n got  %s\n want %s", strings.Join(keys, ","), want)
	}
	if api.Passed || api.Counts.Violations != 5 || api.Counts.BySeverity["critical"] != 1 || api.Counts.BySeverity["high"] != 3 || api.Counts.BySeverity["medium"] != 1 || api.Counts.ByRule["severity"] != 2 {
		t.Errorf("counts: %+v", api.Counts)
	}
	if len(api.Suppressed) != 2 || api.Suppressed[0].Rule != "ignore" || api.Suppressed[0].Subject != "CVE-2024-0002" || api.Suppressed[1].Rule != "require_non_root" {
		t.Errorf("suppressed: %+v", api.Suppressed)
	}
	if strings.Join(api.Warnings, "|") != "a warning|b warning" {
		t.Errorf("warnings sorted and unique: %q", api.Warnings)
	}
	if !strings.Contains(string(raw), "legacy entrypoint & <init>") {
		t.Error("text is written as is, not HTML-escaped")
	}
}

func TestJSONEmptyReport(t *testing.T) {
	raw, err := asBytes(JSON(Report{GeneratedAt: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)}))
	if err != nil {
		t.Fatal(err)
	}
	want := "{\n  \"schema_version\": \"imageguard.report/v1\",\n  \"generated_at\": \"2026-01-02T03:04:05Z\",\n  \"passed\": true,\n  \"images\": []\n}\n"
	if string(raw) != want {
		t.Fatalf("got\n%s\nwant\n%s", raw, want)
	}
	if err := validate(t, compileSchema(t, "report-v1.schema.json"), raw); err != nil {
		t.Fatal(err)
	}
}

// reversed returns the report with every list in reverse order.
func reversed(r Report) Report {
	out := r
	out.Images = nil
	for i := len(r.Images) - 1; i >= 0; i-- {
		img := r.Images[i]
		var vs []Violation
		for j := len(img.Violations) - 1; j >= 0; j-- {
			vs = append(vs, img.Violations[j])
		}
		var ss []Suppressed
		for j := len(img.Suppressed) - 1; j >= 0; j-- {
			ss = append(ss, img.Suppressed[j])
		}
		img.Violations, img.Suppressed = vs, ss
		out.Images = append(out.Images, img)
	}
	return out
}

func TestDeterministic(t *testing.T) {
	r := sampleReport()
	for name, render := range map[string]func(Report) ([]byte, error){
		"json":  func(r Report) ([]byte, error) { return asBytes(JSON(r)) },
		"sarif": func(r Report) ([]byte, error) { return asBytes(SARIF(r, "1.2.3")) },
	} {
		t.Run(name, func(t *testing.T) {
			first, err := render(r)
			if err != nil {
				t.Fatal(err)
			}
			for i := 0; i < 10; i++ {
				again, err := render(r)
				if err != nil {
					t.Fatal(err)
				}
				if !bytes.Equal(first, again) {
					t.Fatalf("run %d differs", i)
				}
			}
			other, err := render(reversed(r))
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(first, other) {
				t.Fatalf("input order changed the output:\n%s\nvs\n%s", first, other)
			}
		})
	}
	// Rendering must not reorder the caller's slices.
	if r.Images[0].Name != "worker" {
		t.Error("JSON sorted the caller's report in place")
	}
}

// sarifDoc is the part of a SARIF log the assertions read.
type sarifDoc struct {
	Schema  string `json:"$schema"`
	Version string `json:"version"`
	Runs    []struct {
		Tool struct {
			Driver struct {
				Name           string
				InformationURI string `json:"informationUri"`
				Version        string
				Rules          []struct {
					ID                   string
					Name                 string
					ShortDescription     struct{ Text string } `json:"shortDescription"`
					FullDescription      struct{ Text string } `json:"fullDescription"`
					Help                 struct{ Text, Markdown string }
					DefaultConfiguration struct{ Level string } `json:"defaultConfiguration"`
					Properties           struct{ Tags []string }
				}
			}
		}
		Results []struct {
			RuleID    string `json:"ruleId"`
			RuleIndex *int   `json:"ruleIndex"`
			Level     string
			Message   struct{ Text string }
			Locations []struct {
				PhysicalLocation struct {
					ArtifactLocation struct{ URI string }    `json:"artifactLocation"`
					Region           struct{ StartLine int } `json:"region"`
				} `json:"physicalLocation"`
			}
			PartialFingerprints map[string]string `json:"partialFingerprints"`
		}
	}
}

func parseSARIF(t *testing.T, raw []byte) sarifDoc {
	t.Helper()
	var doc sarifDoc
	if err := json.Unmarshal(raw, &doc); err != nil {
		t.Fatal(err)
	}
	return doc
}

func TestSARIFGoldenAndSchema(t *testing.T) {
	raw, err := asBytes(SARIF(sampleReport(), "1.2.3"))
	if err != nil {
		t.Fatal(err)
	}
	golden(t, "report.golden.sarif", raw)
	if err := validate(t, compileSchema(t, "sarif-2.1.0-github-subset.schema.json"), raw); err != nil {
		t.Fatalf("SARIF does not match the schema GitHub needs: %v", err)
	}
}

func TestSARIFSchemaRejectsWhatGitHubRejects(t *testing.T) {
	sch := compileSchema(t, "sarif-2.1.0-github-subset.schema.json")
	cases := map[string]string{
		"no location":     `{"version":"2.1.0","runs":[{"tool":{"driver":{"name":"x"}},"results":[{"ruleId":"r","message":{"text":"m"}}]}]}`,
		"no message text": `{"version":"2.1.0","runs":[{"tool":{"driver":{"name":"x"}},"results":[{"ruleId":"r","message":{},"locations":[{"physicalLocation":{"artifactLocation":{"uri":"a"}}}]}]}]}`,
		"bad level":       `{"version":"2.1.0","runs":[{"tool":{"driver":{"name":"x"}},"results":[{"ruleId":"r","level":"critical","message":{"text":"m"},"locations":[{"physicalLocation":{"artifactLocation":{"uri":"a"}}}]}]}]}`,
		"wrong version":   `{"version":"2.0.0","runs":[{"tool":{"driver":{"name":"x"}},"results":[]}]}`,
		"misspelt field":  `{"version":"2.1.0","runs":[{"tool":{"driver":{"name":"x","informationURI":"https://x"}},"results":[]}]}`,
		"string index":    `{"version":"2.1.0","runs":[{"tool":{"driver":{"name":"x"}},"results":[{"ruleId":"r","ruleIndex":"0","message":{"text":"m"},"locations":[{"physicalLocation":{"artifactLocation":{"uri":"a"}}}]}]}]}`,
	}
	for name, doc := range cases {
		if err := validate(t, sch, []byte(doc)); err == nil {
			t.Errorf("%s: the schema accepted an invalid log", name)
		}
	}
}

func TestSARIFStructure(t *testing.T) {
	raw, err := asBytes(SARIF(sampleReport(), "1.2.3"))
	if err != nil {
		t.Fatal(err)
	}
	doc := parseSARIF(t, raw)
	if doc.Schema != "https://json.schemastore.org/sarif-2.1.0.json" || doc.Version != "2.1.0" || len(doc.Runs) != 1 {
		t.Fatalf("header: %s %s %d runs", doc.Schema, doc.Version, len(doc.Runs))
	}
	run := doc.Runs[0]
	d := run.Tool.Driver
	if d.Name != "imageguard" || d.InformationURI == "" || d.Version != "1.2.3" {
		t.Errorf("driver: %+v", d)
	}
	var ruleIDs []string
	for _, r := range d.Rules {
		ruleIDs = append(ruleIDs, r.ID)
		if r.Name == "" || r.ShortDescription.Text == "" || r.FullDescription.Text == "" || r.Help.Text == "" || r.Help.Markdown == "" || len(r.Properties.Tags) == 0 || r.DefaultConfiguration.Level != "error" {
			t.Errorf("rule %s lacks a description GitHub shows: %+v", r.ID, r)
		}
	}
	if got := strings.Join(ruleIDs, ","); got != "forbidden_ports,required_labels,secret,severity,signature" {
		t.Errorf("rules are the ids that occur, sorted: %s", got)
	}
	wantLevels := map[string]string{"forbidden_ports": "error", "required_labels": "error", "secret": "error", "signature": "error"}
	fingerprints := map[string]bool{}
	for i, res := range run.Results {
		if res.RuleIndex == nil || *res.RuleIndex < 0 || *res.RuleIndex >= len(d.Rules) || d.Rules[*res.RuleIndex].ID != res.RuleID {
			t.Errorf("result %d: ruleIndex does not point at rule %s", i, res.RuleID)
		}
		if w, ok := wantLevels[res.RuleID]; ok && res.Level != w {
			t.Errorf("result %d (%s): level %s, want %s", i, res.RuleID, res.Level, w)
		}
		if len(res.Locations) != 1 || res.Locations[0].PhysicalLocation.ArtifactLocation.URI == "" || res.Locations[0].PhysicalLocation.Region.StartLine != 1 {
			t.Errorf("result %d: GitHub needs a location: %+v", i, res.Locations)
		}
		fp := res.PartialFingerprints["imageguard/v1"]
		if len(fp) != 32 || fingerprints[fp] {
			t.Errorf("result %d: fingerprint %q missing or not unique", i, fp)
		}
		fingerprints[fp] = true
		if res.Message.Text == "" {
			t.Errorf("result %d: no message", i)
		}
	}
	if len(run.Results) != 6 {
		t.Fatalf("one result per violation (suppressed ones excluded): got %d", len(run.Results))
	}
	first := run.Results[0]
	if first.RuleID != "forbidden_ports" || first.Locations[0].PhysicalLocation.ArtifactLocation.URI != "registry.example.com/team/api@"+apiDigest {
		t.Errorf("first result: %s at %s", first.RuleID, first.Locations[0].PhysicalLocation.ArtifactLocation.URI)
	}
	wantMsg := "registry.example.com/team/api:1.4.2 (" + apiDigest + ") [linux/amd64]: exposes port 22/tcp (forbidden by \"22\"). Requires no exposed port matching forbidden_ports: \"22\". Fix: remove `EXPOSE 22/tcp` from the Dockerfile and the service behind it."
	if first.Message.Text != wantMsg {
		t.Errorf("message:\n got  %s\n want %s", first.Message.Text, wantMsg)
	}
	levels := map[string]string{}
	for _, res := range run.Results {
		if res.RuleID == "severity" {
			levels[res.Message.Text[strings.Index(res.Message.Text, ": ")+2:][:4]] = res.Level
		}
	}
	if levels["HIGH"] != "error" || levels["MEDI"] != "warning" {
		t.Errorf("severity levels: %v", levels)
	}
	last := run.Results[len(run.Results)-1]
	if last.RuleID != "signature" || last.Locations[0].PhysicalLocation.ArtifactLocation.URI != "./localhost:5000/team/worker@"+workerDigest {
		t.Errorf("a registry with a port is a relative URI: %s", last.Locations[0].PhysicalLocation.ArtifactLocation.URI)
	}
}

func TestSARIFFingerprintSurvivesNewDigest(t *testing.T) {
	fp := func(digest string) string {
		r := Report{Images: []ImageResult{{Name: "api", Ref: "registry.example.com/team/api:1.4.3", Digest: digest,
			Violations: []Violation{{Rule: "forbidden_ports", Subject: "22/tcp", Found: "exposes port 22/tcp", Platform: "linux/amd64"}}}}}
		raw, err := asBytes(SARIF(r, ""))
		if err != nil {
			t.Fatal(err)
		}
		return parseSARIF(t, raw).Runs[0].Results[0].PartialFingerprints["imageguard/v1"]
	}
	if a, b := fp(apiDigest), fp(workerDigest); a != b {
		t.Errorf("the same violation of the same image got a new fingerprint with a new digest: %s vs %s", a, b)
	}
}

func TestSARIFEmptyReport(t *testing.T) {
	raw, err := asBytes(SARIF(Report{GeneratedAt: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)}, ""))
	if err != nil {
		t.Fatal(err)
	}
	if err := validate(t, compileSchema(t, "sarif-2.1.0-github-subset.schema.json"), raw); err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(raw, []byte(`"results": []`)) || !bytes.Contains(raw, []byte(`"rules": []`)) {
		t.Errorf("an empty run has empty arrays, not null:\n%s", raw)
	}
	if bytes.Contains(raw, []byte(`"version": ""`)) {
		t.Error("an empty tool version is omitted")
	}
}

func TestSARIFLevel(t *testing.T) {
	for sev, want := range map[string]string{"CRITICAL": "error", "HIGH": "error", "high": "error", "MEDIUM": "warning", "LOW": "note", "UNKNOWN": "note", "": "note", "bogus": "note"} {
		if got := SARIFLevel(sev); got != want {
			t.Errorf("SARIFLevel(%q) = %s, want %s", sev, got, want)
		}
	}
}

func TestArtifactURI(t *testing.T) {
	cases := []struct{ ref, digest, want string }{
		{"registry.example.com/team/api:1.4.2", apiDigest, "registry.example.com/team/api@" + apiDigest},
		{"registry.example.com/team/api:1.4.2@" + workerDigest, apiDigest, "registry.example.com/team/api@" + apiDigest},
		{"registry.example.com/team/api", apiDigest, "registry.example.com/team/api@" + apiDigest},
		{"localhost:5000/api:1", apiDigest, "./localhost:5000/api@" + apiDigest},
		{"alpine:3.20", apiDigest, "./alpine@" + apiDigest}, // the digest puts a colon in the first segment
		{"registry.example.com/team/api:1", "", "registry.example.com/team/api:1"},
	}
	for _, c := range cases {
		if got := artifactURI(c.ref, c.digest); got != c.want {
			t.Errorf("artifactURI(%q) = %q, want %q", c.ref, got, c.want)
		}
	}
}

func TestFromViolation(t *testing.T) {
	f := policy.Finding{ID: "CVE-1", Severity: "critical", Package: "p", Target: "t", Platform: "linux/arm64"}
	got := FromViolation(policy.Violation{Rule: "severity", Found: "x", Finding: &f})
	if got.Subject != "CVE-1" || got.Package != "p" || got.Target != "t" || got.Severity != "CRITICAL" || got.Platform != "linux/arm64" {
		t.Errorf("finding: %+v", got)
	}
	got = FromViolation(policy.Violation{Rule: "max_size", Subject: "size", Found: "x"})
	if got.Severity != PolicySeverity || got.Subject != "size" {
		t.Errorf("configuration rule: %+v", got)
	}
}

// asBytes adapts a rendered report for byte-oriented checks.
func asBytes(s string, err error) ([]byte, error) { return []byte(s), err }
