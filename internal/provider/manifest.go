package provider

import (
	"bytes"

	v1 "github.com/google/go-containerregistry/pkg/v1"
)

// indexAnnotations reads the annotations of a raw index manifest.
func indexAnnotations(raw []byte) (map[string]string, error) {
	idx, err := v1.ParseIndexManifest(bytes.NewReader(raw))
	if err != nil {
		return nil, err
	}
	return idx.Annotations, nil
}
