package scan_test

import (
	"bytes"
	"sync"
	"testing"
	"time"

	"github.com/aquasecurity/trivy/pkg/fanal/analyzer"
	"github.com/aquasecurity/trivy/pkg/fanal/secret"

	_ "github.com/imageguard/terraform-provider-imageguard/internal/scan"
)

// Scans that read Trivy's built-in secret rules while other artifacts are
// built (each builds its analyzers) must not see those rules rewritten
// under them. Trivy v0.74.0 rewrote them for every artifact, and a fleet
// plan crashed on a torn slice in Rule.MatchKeywords; this hammers the same
// interleaving for a second and must end without a crash.
func TestSecretRulesStayPutWhileArtifactsAreBuilt(t *testing.T) {
	scanner := secret.NewScanner(nil) // reads the package-level built-in rules, as Trivy's scanners do
	// No rule's keyword: every scan is a tight loop over the rules' keyword
	// tables, the reads the rewrite tore.
	content := bytes.Repeat([]byte("zz "), 100)
	deadline := time.Now().Add(time.Second)
	var wg sync.WaitGroup
	for range 2 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for time.Now().Before(deadline) {
				scanner.Scan(secret.ScanArgs{FilePath: "app/config.txt", Content: bytes.NewReader(content)})
			}
		}()
	}
	builds := 0
	for time.Now().Before(deadline) {
		if _, err := analyzer.NewAnalyzerGroup(analyzer.AnalyzerOptions{}); err != nil {
			t.Fatal(err)
		}
		if _, err := analyzer.NewConfigAnalyzerGroup(analyzer.ConfigAnalyzerOptions{}); err != nil {
			t.Fatal(err)
		}
		builds++
	}
	wg.Wait()
	t.Logf("%d analyzer groups built while scans ran", builds)
}
