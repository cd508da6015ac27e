package policy

import (
	"fmt"
	"strconv"
	"strings"
)

// ---- layer_encryption ----

// IsEncryptedMediaType reports whether a layer media type is an ocicrypt
// encrypted layer ("…+encrypted").
func IsEncryptedMediaType(mt string) bool {
	return strings.HasSuffix(mt, "+encrypted") || strings.Contains(mt, "+encrypted+")
}

func checkLayerEncryption(facts ImageFacts, rules Rules, add func(Violation)) {
	mode := strings.ToLower(strings.TrimSpace(rules.LayerEncryption))
	if mode == "" || mode == LayerEncryptionAllow {
		return
	}
	var plain, encrypted []string
	for i, mt := range facts.LayerMediaTypes {
		if IsEncryptedMediaType(mt) {
			encrypted = append(encrypted, strconv.Itoa(i))
		} else {
			plain = append(plain, strconv.Itoa(i))
		}
	}
	switch mode {
	case LayerEncryptionRequire:
		if len(plain) == 0 {
			return
		}
		add(Violation{
			Rule:     RuleLayerEncryption,
			Subject:  "layers",
			Found:    fmt.Sprintf("%d of %d layers are not encrypted (layer %s, counting from 0)", len(plain), len(facts.LayerMediaTypes), strings.Join(plain, ", ")),
			Requires: `every layer encrypted (layer_encryption = "require")`,
			Fix:      "encrypt the image's layers with ocicrypt (e.g. `skopeo copy --encryption-key …`) and push the encrypted image",
		})
	case LayerEncryptionForbid:
		if len(encrypted) == 0 {
			return
		}
		add(Violation{
			Rule:     RuleLayerEncryption,
			Subject:  "layers",
			Found:    fmt.Sprintf("%d of %d layers are encrypted (layer %s, counting from 0)", len(encrypted), len(facts.LayerMediaTypes), strings.Join(encrypted, ", ")),
			Requires: `no encrypted layers (layer_encryption = "forbid"): encrypted layers cannot be scanned`,
			Fix:      "push an unencrypted image for the gate to judge, or set layer_encryption to \"allow\"",
		})
	default:
		add(Violation{
			Rule:     RuleLayerEncryption,
			Subject:  "layers",
			Found:    fmt.Sprintf("layer_encryption is %q, which is not require, forbid or allow", rules.LayerEncryption),
			Requires: `layer_encryption to be "require", "forbid" or "allow"`,
			Fix:      "fix the layer_encryption setting",
		})
	}
}
