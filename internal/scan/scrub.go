package scan

import (
	"context"
	"slices"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/aquasecurity/trivy/pkg/cache"
	ftypes "github.com/aquasecurity/trivy/pkg/fanal/types"
	"github.com/aquasecurity/trivy/pkg/types"
)

// No secret's text is ever stored: not in a cached report, not in Trivy's
// layer and artifact cache (on disk in cache_dir/fanal, or a server's). What
// a verdict needs stays: rule id, category, severity, title, file and lines.
// What goes: the lines Trivy quotes around a finding (Code, Match), the
// image config's environment, command and history, and the history command
// that created each layer (`ENV KEY=value` or `RUN --mount=... TOKEN=...`).

// scrubbingCache takes secret text out of what Trivy's image analysis puts
// into a layer cache.
type scrubbingCache struct{ cache.ArtifactCache }

func (c scrubbingCache) PutArtifact(ctx context.Context, id string, info ftypes.ArtifactInfo) error {
	return c.ArtifactCache.PutArtifact(ctx, id, scrubArtifactInfo(info))
}

func (c scrubbingCache) PutBlob(ctx context.Context, id string, info ftypes.BlobInfo) error {
	return c.ArtifactCache.PutBlob(ctx, id, scrubBlobInfo(info))
}

// scrubbingStore is a local cache (Trivy's bolt file, or memory) that
// stores only scrubbed analyses, whoever writes to it.
type scrubbingStore struct{ cache.Cache }

func (c scrubbingStore) PutArtifact(ctx context.Context, id string, info ftypes.ArtifactInfo) error {
	return c.Cache.PutArtifact(ctx, id, scrubArtifactInfo(info))
}

func (c scrubbingStore) PutBlob(ctx context.Context, id string, info ftypes.BlobInfo) error {
	return c.Cache.PutBlob(ctx, id, scrubBlobInfo(info))
}

func scrubArtifactInfo(info ftypes.ArtifactInfo) ftypes.ArtifactInfo {
	if info.Secret != nil {
		s := scrubSecret(*info.Secret)
		info.Secret = &s
	}
	if info.Misconfiguration != nil {
		m := scrubMisconf(*info.Misconfiguration)
		info.Misconfiguration = &m
	}
	return info
}

func scrubBlobInfo(info ftypes.BlobInfo) ftypes.BlobInfo {
	info.CreatedBy = ""
	info.Secrets = slices.Clone(info.Secrets)
	for i := range info.Secrets {
		info.Secrets[i] = scrubSecret(info.Secrets[i])
	}
	info.Misconfigurations = slices.Clone(info.Misconfigurations)
	for i := range info.Misconfigurations {
		info.Misconfigurations[i] = scrubMisconf(info.Misconfigurations[i])
	}
	return info
}

func scrubSecret(s ftypes.Secret) ftypes.Secret {
	s.Findings = slices.Clone(s.Findings)
	for i := range s.Findings {
		scrubFinding(&s.Findings[i])
	}
	return s
}

func scrubFinding(f *ftypes.SecretFinding) {
	f.Code = ftypes.Code{}
	f.Match = ""
	f.Layer.CreatedBy = ""
}

// Misconfiguration scanning is off, but a quoted line is a quoted line.
func scrubMisconf(m ftypes.Misconfiguration) ftypes.Misconfiguration {
	m.Layer.CreatedBy = ""
	for _, list := range []*ftypes.MisconfResults{&m.Successes, &m.Warnings, &m.Failures} {
		*list = slices.Clone(*list)
		for i := range *list {
			(*list)[i].Code = ftypes.Code{}
		}
	}
	return m
}

// scrubReport takes secret text out of a report before it is cached or
// converted: quoted lines, layer history commands, and the image config
// except what names the platform.
func scrubReport(r *types.Report) {
	c := r.Metadata.ImageConfig
	r.Metadata.ImageConfig = v1.ConfigFile{
		Architecture: c.Architecture,
		OS:           c.OS,
		OSVersion:    c.OSVersion,
		OSFeatures:   c.OSFeatures,
		Variant:      c.Variant,
		Created:      c.Created,
		RootFS:       c.RootFS,
	}
	for i := range r.Metadata.Layers {
		r.Metadata.Layers[i].CreatedBy = ""
	}
	for i := range r.Results {
		res := &r.Results[i]
		for j := range res.Secrets {
			f := ftypes.SecretFinding(res.Secrets[j])
			scrubFinding(&f)
			res.Secrets[j] = types.DetectedSecret(f)
		}
		for j := range res.Vulnerabilities {
			res.Vulnerabilities[j].Layer.CreatedBy = ""
		}
		for j := range res.Packages {
			res.Packages[j].Layer.CreatedBy = ""
		}
		for j := range res.Misconfigurations {
			res.Misconfigurations[j].CauseMetadata.Code = ftypes.Code{}
			res.Misconfigurations[j].Layer.CreatedBy = ""
		}
	}
}
