package scan

import (
	"context"
	"encoding/hex"
	"strings"
	"testing"

	"github.com/aquasecurity/trivy/pkg/cache"
)

// The key file parser accepts exactly what workerKey writes, and its error
// never shows the content.
func FuzzParseWorkerKey(f *testing.F) {
	f.Add([]byte(strings.Repeat("ab", 32) + "\n"))
	f.Add([]byte(strings.Repeat("AB", 32) + "\n"))
	f.Add([]byte(strings.Repeat("ab", 32)))
	f.Add([]byte(strings.Repeat("ab", 32) + "\n\n"))
	f.Add([]byte("zz" + strings.Repeat("ab", 31) + "\n"))
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, b []byte) {
		secret, err := parseWorkerKey("/cache/key", b)
		canonical := strings.TrimSuffix(string(b), "\n")
		if err != nil {
			if err.Error() != (&UntrustedCacheFileError{Path: "/cache/key", Reason: "is not a scanner_server layer key as imageguard writes it (64 lowercase hex digits)"}).Error() {
				t.Fatalf("unexpected message: %v", err)
			}
			return
		}
		if len(secret) != 32 || hex.EncodeToString(secret) != canonical || (len(b) != 64 && len(b) != 65) {
			t.Fatalf("accepted %q as %x", b, secret)
		}
	})
}

// missingOnly answers MissingBlobs with fixed keys.
type missingOnly struct {
	cache.ArtifactCache
	missing []string
	asked   []string
}

func (m *missingOnly) MissingBlobs(_ context.Context, _ string, ids []string) (bool, []string, error) {
	m.asked = ids
	return false, m.missing, nil
}

// Keys on the wire are the worker's, never Trivy's; the answer comes back
// in Trivy's; a key the scan did not ask about fails the scan.
func TestKeyedCache(t *testing.T) {
	key, err := newLayerKeys("", "").mapper(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	trivyKeys := []string{"sha256:" + strings.Repeat("1", 64), "sha256:" + strings.Repeat("2", 64)}
	inner := &missingOnly{}
	inner.missing = []string{key(trivyKeys[1])}
	_, missing, err := keyedCache{ArtifactCache: inner, key: key}.MissingBlobs(context.Background(), "sha256:"+strings.Repeat("3", 64), trivyKeys)
	if err != nil || len(missing) != 1 || missing[0] != trivyKeys[1] {
		t.Fatalf("missing %v, %v; want [%s]", missing, err, trivyKeys[1])
	}
	for i, k := range inner.asked {
		if k == trivyKeys[i] || !strings.HasPrefix(k, "sha256:") || len(k) != 71 {
			t.Fatalf("sent %q for %q", k, trivyKeys[i])
		}
	}
	inner.missing = []string{trivyKeys[0]}
	if _, _, err := (keyedCache{ArtifactCache: inner, key: key}).MissingBlobs(context.Background(), "a", trivyKeys); err == nil || !strings.Contains(err.Error(), "did not ask about") {
		t.Fatalf("an answer about a key the scan did not send was accepted: %v", err)
	}
	other, err := newLayerKeys("", "").mapper(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	fleetA, _ := newLayerKeys(strings.Repeat("k", 32), "").mapper(context.Background())
	fleetB, _ := newLayerKeys(strings.Repeat("k", 32), t.TempDir()).mapper(context.Background())
	if key(trivyKeys[0]) == other(trivyKeys[0]) || fleetA(trivyKeys[0]) != fleetB(trivyKeys[0]) || fleetA(trivyKeys[0]) == key(trivyKeys[0]) {
		t.Fatal("two processes share keys, or two holders of one fleet key do not")
	}
}
