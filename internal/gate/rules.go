package gate

import (
	"bytes"
	"context"
	"fmt"
	"strings"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/hashicorp/terraform-plugin-log/tflog"

	"github.com/imageguard/terraform-provider-imageguard/internal/policy"
	"github.com/imageguard/terraform-provider-imageguard/internal/registry"
	"github.com/imageguard/terraform-provider-imageguard/internal/report"
	"github.com/imageguard/terraform-provider-imageguard/internal/scan"
)

// RulesNeedScan reports whether rules need Trivy's package inventory or
// config secrets.
func RulesNeedScan(r policy.Rules) bool {
	return len(r.ForbiddenPackages) > 0 || r.SecretsInConfig
}

// Rules judges the hardening rules on every selected platform of a resolved
// image (every runnable platform when none are named): a runtime may pull
// any of them. name is the image's name in a policy's `images` ("" outside
// a policy), for exceptions per image. Errors are *Error: nothing judged is
// never a pass.
func Rules(ctx context.Context, reg *registry.Client, scanner *scan.Scanner, name string, resolved *registry.Resolved, platforms []string, r policy.Rules, now time.Time) (*RulesOutcome, error) {
	return rules(ctx, Target{Registry: reg, Resolved: resolved, Name: name}, RulesGate{Scanner: scanner, Platforms: platforms, Rules: r}, nil, now)
}

// rules is the rules gate; results are a scan's results by platform
// digest when that scan read the whole inventory (nil: scan here when a
// rule needs it).
func rules(ctx context.Context, t Target, g RulesGate, results map[string]*scan.Result, now time.Time) (*RulesOutcome, error) {
	resolved := t.Resolved
	pms, err := t.Registry.Platforms(ctx, resolved, g.Platforms)
	if err != nil {
		return nil, &Error{Attr: attrForRegistryError(err), Summary: registry.KindOf(err).Summary(), Detail: err.Error(), Err: err}
	}
	out := &RulesOutcome{}
	for _, pm := range pms {
		res := results[pm.Digest.String()]
		if res == nil && RulesNeedScan(g.Rules) {
			// The summary: packages and secrets, no report decoded or kept.
			if res, _, err = g.Scanner.Result(ctx, scan.Target{Resolved: resolved, Platform: pm}, scan.Options{}); err != nil {
				return nil, &Error{Summary: "Scan failed", Detail: fmt.Sprintf("%s (%s, %s) could not be scanned for the rules, so it cannot pass: %v", resolved.Ref.Input, pm.Digest, platformOrSingle(pm), err), Err: err}
			}
		}
		out.Judged = append(out.Judged, pm.Digest.String())
		if err := out.judge(ctx, t.Registry, t.Name, resolved, pm, g.Rules, res, now); err != nil {
			return nil, err
		}
	}
	out.Warnings = dedupe(out.Warnings)
	return out, nil
}

// RulesOutcome is the rules' verdict over the platforms judged.
type RulesOutcome struct {
	Violations []policy.Violation
	Excepted   []policy.Suppression
	Warnings   []string
	// Judged are the platform manifests judged.
	Judged []string
	// Enforcement is the gate's (set by Judge).
	Enforcement report.Enforcement
}

func (o *RulesOutcome) judge(ctx context.Context, reg *registry.Client, name string, resolved *registry.Resolved, pm registry.PlatformManifest, rules policy.Rules, res *scan.Result, now time.Time) error {
	facts, err := ImageFacts(ctx, reg, name, resolved, pm, rules, res)
	if err != nil {
		return &Error{Summary: registry.KindOf(err).Summary(), Detail: fmt.Sprintf("%s (%s, %s) could not be judged, so it cannot pass: %v", resolved.Ref.Input, pm.Digest, platformOrSingle(pm), err), Err: err}
	}
	v, excepted, w := policy.EvaluateRules(facts, rules, now)
	tflog.SubsystemDebug(ctx, PolicyLogSubsystem, "rules evaluated", map[string]any{
		"repository": resolved.Ref.Repository.Name(), "digest": pm.Digest.String(), "platform": pm.Platform, "violations": len(v), "warnings": len(w)})
	o.Violations = append(o.Violations, v...)
	o.Excepted = append(o.Excepted, excepted...)
	o.Warnings = append(o.Warnings, w...)
	return nil
}

// ImageFacts gathers what the rules judge about one platform image: its
// config, annotations, the files rules ask about (whiteouts applied), the
// account files a named USER needs, and Trivy's inventory when given.
func ImageFacts(ctx context.Context, reg *registry.Client, name string, resolved *registry.Resolved, pm registry.PlatformManifest, rules policy.Rules, res *scan.Result) (policy.ImageFacts, error) {
	img, err := reg.ImageByDigest(ctx, resolved.Ref, pm.Digest, nil)
	if err != nil {
		return policy.ImageFacts{}, err
	}
	cfg := img.Config
	f := policy.ImageFacts{
		Name: name, Ref: resolved.Ref.Input, Registry: resolved.Ref.Registry(), Repository: resolved.Ref.Repository.RepositoryStr(),
		Digest: pm.Digest.String(), Platform: firstNonEmpty(pm.Platform, img.Platform),
		User: cfg.Config.User, Labels: cfg.Config.Labels, Annotations: IndexAnnotations(resolved),
		Env: cfg.Config.Env, Created: cfg.Created.Time, Size: img.Size(), Layers: len(img.Manifest.Layers),
	}
	for k, v := range img.Manifest.Annotations {
		f.Annotations[k] = v
	}
	for p := range cfg.Config.ExposedPorts {
		f.ExposedPorts = append(f.ExposedPorts, p)
	}
	for _, h := range cfg.History {
		f.History = append(f.History, h.CreatedBy)
	}
	for _, l := range img.Manifest.Layers {
		f.LayerMediaTypes = append(f.LayerMediaTypes, string(l.MediaType))
	}
	f.BaseName = firstNonEmpty(f.Annotations[policy.AnnotationBaseName], f.Labels[policy.AnnotationBaseName])
	f.BaseDigest = firstNonEmpty(f.Annotations[policy.AnnotationBaseDigest], f.Labels[policy.AnnotationBaseDigest])
	if len(rules.ForbiddenPaths) > 0 {
		present, err := reg.FilesPresent(ctx, resolved.Ref, img, rules.ForbiddenPaths)
		if err != nil {
			return policy.ImageFacts{}, err
		}
		f.FilesPresent = present
	}
	if policy.NeedsAccountFiles(rules, f.User, f.Platform) {
		// USER names a user or group: resolve it as the runtime will.
		files, err := reg.FinalFiles(ctx, resolved.Ref, img, policy.PasswdPath, policy.GroupPath)
		if err != nil {
			return policy.ImageFacts{}, err
		}
		account := func(ff registry.FinalFile) *policy.AccountFile {
			return &policy.AccountFile{Found: ff.Found, Content: ff.Content, Source: ff.Source(), Problem: ff.Problem}
		}
		f.Passwd, f.Group = account(files[policy.PasswdPath]), account(files[policy.GroupPath])
	}
	if res != nil {
		for _, p := range res.Packages {
			f.Packages = append(f.Packages, policy.PackageFact{Name: p.Name, Version: p.Version, Type: p.Type})
		}
		for _, s := range res.Secrets {
			if strings.Contains(s.Target, "@sha256:") || !strings.HasPrefix(s.Target, "/") {
				f.ConfigSecrets = append(f.ConfigSecrets, s) // the image config, not a file
			}
		}
	}
	return f, nil
}

// IndexAnnotations are an index's own annotations (empty for an image).
func IndexAnnotations(r *registry.Resolved) map[string]string {
	out := map[string]string{}
	if !r.IsIndex() {
		return out
	}
	if idx, err := v1.ParseIndexManifest(bytes.NewReader(r.Manifest)); err == nil {
		for k, v := range idx.Annotations {
			out[k] = v
		}
	}
	return out
}

func platformOrSingle(pm registry.PlatformManifest) string {
	return firstNonEmpty(pm.Platform, "single platform")
}

func firstNonEmpty(s ...string) string {
	for _, x := range s {
		if x != "" {
			return x
		}
	}
	return ""
}

func dedupe(in []string) []string {
	seen := map[string]bool{}
	var out []string
	for _, s := range in {
		if !seen[s] {
			seen[s] = true
			out = append(out, s)
		}
	}
	return out
}
