package scan

import (
	"context"
	"fmt"

	"github.com/aquasecurity/trivy/pkg/fanal/analyzer"
	secretanalyzer "github.com/aquasecurity/trivy/pkg/fanal/analyzer/secret"
	"github.com/aquasecurity/trivy/pkg/fanal/secret"
	ftypes "github.com/aquasecurity/trivy/pkg/fanal/types"
)

// Trivy v0.74.0 builds both secret scanners again for every artifact, and
// neither may be built while another scan runs: secret.NewScanner without a
// configuration rewrites the keyword tables of the package-level built-in
// rules that running scanners read (concurrent scans of a fleet crashed on a
// torn slice), and the file analyzer's Init replaces the scanner of the one
// registered analyzer that every artifact shares. So both are built once,
// here, before any scan, and every artifact reuses them: the file analyzer
// is registered already built (its Init then keeps it, as Trivy lets
// importers do), and the image-config analyzer's constructor hands out one
// instance. The configuration path stays empty, as in the trivy CLI without
// trivy-secret.yaml, so findings and layer cache keys do not change.
func init() {
	analyzer.DeregisterAnalyzer(analyzer.TypeSecret)
	analyzer.RegisterAnalyzer(secretanalyzer.NewSecretAnalyzer(secret.NewScanner(nil), ""))

	configSecret, err := newSharedConfigSecretAnalyzer()
	if err != nil {
		panic(err) // Trivy's own constructor without a configuration file: cannot fail
	}
	analyzer.RegisterConfigAnalyzer(analyzer.TypeImageConfigSecret, func(analyzer.ConfigAnalyzerOptions) (analyzer.ConfigAnalyzer, error) {
		return configSecret, nil
	})
}

// sharedConfigSecretAnalyzer is Trivy's image-config secret analyzer, built
// once: Trivy's type is unexported, so it is held in a group of its own and
// asked through it.
type sharedConfigSecretAnalyzer struct {
	group   analyzer.ConfigAnalyzerGroup
	version int
}

func newSharedConfigSecretAnalyzer() (*sharedConfigSecretAnalyzer, error) {
	group, err := analyzer.NewConfigAnalyzerGroup(analyzer.ConfigAnalyzerOptions{
		DisabledAnalyzers: []analyzer.Type{analyzer.TypeApkCommand, analyzer.TypeHistoryDockerfile},
	})
	if err != nil {
		return nil, fmt.Errorf("building Trivy's image config secret analyzer: %w", err)
	}
	versions := group.AnalyzerVersions().Analyzers
	version, ok := versions[string(analyzer.TypeImageConfigSecret)]
	if !ok || len(versions) != 1 {
		return nil, fmt.Errorf("building Trivy's image config secret analyzer: the group holds %v", versions)
	}
	return &sharedConfigSecretAnalyzer{group: group, version: version}, nil
}

func (a *sharedConfigSecretAnalyzer) Type() analyzer.Type { return analyzer.TypeImageConfigSecret }
func (a *sharedConfigSecretAnalyzer) Version() int        { return a.version }

// Required is Trivy's: the analyzer asks for every image config.
func (a *sharedConfigSecretAnalyzer) Required(ftypes.OS) bool { return true }

func (a *sharedConfigSecretAnalyzer) Analyze(ctx context.Context, input analyzer.ConfigAnalysisInput) (*analyzer.ConfigAnalysisResult, error) {
	r := a.group.AnalyzeImageConfig(ctx, input.OS, input.Config)
	if r == nil || r.Secret == nil {
		return nil, nil
	}
	return &analyzer.ConfigAnalysisResult{Secret: r.Secret}, nil
}
