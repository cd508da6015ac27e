package acctest

import (
	"encoding/hex"
	"fmt"
	"math/rand/v2"
	"strings"

	v1 "github.com/google/go-containerregistry/pkg/v1"
)

// BulkLayer is a layer of n deterministic pseudo-random bytes (seeded by
// seed), split in files of at most 1 MiB: half binary (incompressible, so
// the compressed layer is as large as its content; Trivy's secret scanner
// skips binaries) and half text (hex lines, which the secret scanner reads
// in full and that match no secret rule).
func BulkLayer(seed uint64, n int) v1.Layer {
	rng := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	files := []File{{Path: "opt/"}, {Path: "opt/data/"}}
	const chunk = 1 << 20
	for i := 0; n > 0; i++ {
		size := min(n, chunk)
		n -= size
		if i%2 == 0 {
			b := make([]byte, size)
			for j := range b {
				b[j] = byte(rng.Uint32())
			}
			files = append(files, File{Path: fmt.Sprintf("opt/data/blob-%d.bin", i), Content: string(b)})
			continue
		}
		var sb strings.Builder
		raw := make([]byte, 32)
		for sb.Len() < size {
			for j := range raw {
				raw[j] = byte(rng.Uint32())
			}
			sb.WriteString(hex.EncodeToString(raw))
			sb.WriteByte('\n')
		}
		files = append(files, File{Path: fmt.Sprintf("opt/data/text-%d.txt", i), Content: sb.String()[:size]})
	}
	return Layer(files...)
}

// BenchImage is the image the benchmarks scan: an Alpine root with a few
// packages (musl and busybox vulnerable, openssl's libraries fixed), an
// installed npm application (lodash and minimist vulnerable) and a layer of
// bulkBytes of data, so that downloading and analysing layers costs
// something.
func BenchImage(bulkBytes int) v1.Image {
	return Image(Config{User: "1000"},
		AlpineLayer("3.23.2",
			Package{Name: "musl", Version: "1.2.5-r0"},
			Package{Name: "busybox", Version: "1.36.1-r29"},
			Package{Name: "libcrypto3", Version: "3.3.3-r0", Source: "openssl"},
			Package{Name: "libssl3", Version: "3.3.3-r0", Source: "openssl"},
			Package{Name: "zlib", Version: "1.3.1-r1"}),
		NpmLayer("app",
			Package{Name: "lodash", Version: "4.17.20"},
			Package{Name: "minimist", Version: "1.2.5"},
			Package{Name: "express", Version: "4.21.2"}),
		BulkLayer(42, bulkBytes))
}
