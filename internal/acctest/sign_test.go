package acctest

import (
	"slices"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/sigstore/sigstore-go/pkg/root"
)

// testPredicateType is an attestation type of the tests' own; predicate
// types are identifiers, never fetched.
const testPredicateType = "urn:imageguard:test:provenance"

func TestSignedStorageForms(t *testing.T) {
	img := Image(Config{}, Layer(File{Path: "x", Content: "x"}))
	key := NewKeyPair(t)
	ss := NewSigstore(t)

	t.Run("referrers API", func(t *testing.T) {
		reg := NewRegistry(t)
		d := reg.Push(t, "app:1", img)
		reg.SignBundle(t, "app", d, Signer{Key: key, Sigstore: ss, TLog: true})
		reg.AttestBundle(t, "app", d, Signer{Key: key}, testPredicateType, map[string]any{})
		refs := reg.Referrers(t, "app", d)
		var types []string
		for _, r := range refs {
			types = append(types, r.Annotations["dev.sigstore.bundle.predicateType"])
			if r.Annotations["dev.sigstore.bundle.content"] != "dsse-envelope" {
				t.Errorf("referrer annotations %v", r.Annotations)
			}
		}
		slices.Sort(types)
		if strings.Join(types, " ") != CosignSignPredicateType+" "+testPredicateType {
			t.Errorf("referrer predicate types %v", types)
		}
		if tags := reg.Tags(t, "app"); slices.Contains(tags, "sha256-"+d.Hex) {
			t.Errorf("a registry with the referrers API got a referrers tag: %v", tags)
		}
	})

	t.Run("referrers tag", func(t *testing.T) {
		reg := NewRegistryWithoutReferrersAPI(t)
		d := reg.Push(t, "app:1", img)
		reg.SignBundle(t, "app", d, Signer{Sigstore: ss, Identity: Identity{Issuer: "https://issuer.test", Subject: "dev@example.com"}, TLog: true, Timestamp: true})
		ref, err := name.NewTag(reg.Host+"/app:sha256-"+d.Hex, name.WeakValidation)
		if err != nil {
			t.Fatal(err)
		}
		desc, err := remote.Get(ref)
		if err != nil {
			t.Fatalf("no referrers tag index: %v", err)
		}
		idx, err := desc.ImageIndex()
		if err != nil {
			t.Fatal(err)
		}
		m, err := idx.IndexManifest()
		if err != nil {
			t.Fatal(err)
		}
		if len(m.Manifests) != 1 || m.Manifests[0].ArtifactType != "application/vnd.dev.sigstore.bundle.v0.3+json" {
			t.Errorf("referrers tag index %+v", m.Manifests)
		}
	})

	t.Run("legacy tags", func(t *testing.T) {
		reg := NewRegistry(t)
		d := reg.Push(t, "app:1", img)
		reg.SignLegacy(t, "app", d, Signer{Key: key})
		reg.AttestLegacy(t, "app", d, Signer{Key: key}, testPredicateType, map[string]any{})
		tags := reg.Tags(t, "app")
		for _, want := range []string{"sha256-" + d.Hex + ".sig", "sha256-" + d.Hex + ".att"} {
			if !slices.Contains(tags, want) {
				t.Errorf("tags %v lack %s", tags, want)
			}
		}
		if len(reg.Referrers(t, "app", d)) != 0 {
			t.Error("legacy signing attached referrers")
		}
	})
}

func TestTrustedRootJSON(t *testing.T) {
	tr, err := root.NewTrustedRootFromJSON([]byte(NewSigstore(t).TrustedRootJSON(t)))
	if err != nil {
		t.Fatal(err)
	}
	if len(tr.FulcioCertificateAuthorities()) != 1 || len(tr.RekorLogs()) != 1 || len(tr.TimestampingAuthorities()) != 1 || len(tr.CTLogs()) != 0 {
		t.Errorf("trusted root: %d CAs, %d logs, %d TSAs, %d CT logs", len(tr.FulcioCertificateAuthorities()), len(tr.RekorLogs()), len(tr.TimestampingAuthorities()), len(tr.CTLogs()))
	}
}
