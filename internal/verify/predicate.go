package verify

import (
	"fmt"
	"net/url"
	"sort"
	"strings"

	"github.com/in-toto/in-toto-golang/in_toto"
	slsa02 "github.com/in-toto/in-toto-golang/in_toto/slsa_provenance/v0.2"
	slsa1 "github.com/in-toto/in-toto-golang/in_toto/slsa_provenance/v1"
	"github.com/sigstore/cosign/v3/pkg/cosign/attestation"
	ctypes "github.com/sigstore/cosign/v3/pkg/types"
)

// SignPredicateType is the predicate of the in-toto statement that cosign v3
// signs for `cosign sign`: a bundle with it is an image signature.
const SignPredicateType = ctypes.CosignSignPredicateType

// predicateTypes maps cosign's --type short names to predicate URIs, as
// cosign's options/predicate.go does.
var predicateTypes = map[string]string{
	"custom":           attestation.CosignCustomProvenanceV01,
	"slsaprovenance":   slsa02.PredicateSLSAProvenance,
	"slsaprovenance02": slsa02.PredicateSLSAProvenance,
	"slsaprovenance1":  slsa1.PredicateSLSAProvenance,
	"spdx":             in_toto.PredicateSPDX,
	"spdxjson":         in_toto.PredicateSPDX,
	"cyclonedx":        in_toto.PredicateCycloneDX,
	"link":             in_toto.PredicateLinkV1,
	"vuln":             attestation.CosignVulnProvenanceV01,
	"openvex":          attestation.OpenVexNamespace,
}

// PredicateTypeURI resolves a cosign short name (slsaprovenance,
// slsaprovenance02, slsaprovenance1, spdx, spdxjson, cyclonedx, vuln,
// openvex, custom, link) to its predicate URI; a URI passes through.
func PredicateTypeURI(short string) (string, error) {
	if uri, ok := predicateTypes[short]; ok {
		return uri, nil
	}
	if u, err := url.ParseRequestURI(short); err == nil && u.Scheme != "" {
		return short, nil
	}
	names := make([]string, 0, len(predicateTypes))
	for n := range predicateTypes {
		names = append(names, n)
	}
	sort.Strings(names)
	return "", fmt.Errorf("predicate type %q is neither a URI nor one of cosign's names (%s)", short, strings.Join(names, ", "))
}
