package verify

import (
	"strings"
	"testing"
)

func TestNextLink(t *testing.T) {
	cases := []struct {
		values []string
		want   string
		ok     bool
	}{
		{[]string{`</v2/a/referrers/sha256:1?n=2&last=x>; rel="next"`}, "/v2/a/referrers/sha256:1?n=2&last=x", true},
		{[]string{`<https://r.example/v2/a/referrers/x?page=2>; rel=next`}, "https://r.example/v2/a/referrers/x?page=2", true},
		{[]string{`</first>; rel="first", </next>; rel="next"`}, "/next", true},
		{[]string{`</prev>; rel="prev"`, `</next>; REL="Next"`}, "/next", true},
		{[]string{`</both>; rel="prev next"`}, "/both", true},
		{[]string{`</prev>; rel="prev"`}, "", false},
		{[]string{`/no-brackets; rel="next"`}, "", false},
		{[]string{`<>; rel="next"`}, "", false},
		{[]string{`<unterminated; rel="next"`}, "", false},
		{nil, "", false},
	}
	for _, tc := range cases {
		got, ok := nextLink(tc.values)
		if got != tc.want || ok != tc.ok {
			t.Errorf("nextLink(%q) = %q, %v; want %q, %v", tc.values, got, ok, tc.want, tc.ok)
		}
	}
}

func TestIsReferrersPath(t *testing.T) {
	for path, want := range map[string]bool{
		"/v2/team/api/referrers/sha256:abc": true,
		"/v2/a/referrers/sha256:abc":        true,
		"/v2/a/manifests/sha256:abc":        false,
		"/v2/referrers/x":                   false,
		"/other/a/referrers/x":              false,
		"/v2/a/b/c/referrers/sha256:abc/":   true,
	} {
		if got := isReferrersPath(path); got != want {
			t.Errorf("isReferrersPath(%q) = %v", path, got)
		}
	}
}

// FuzzNextLink: any Link header value parses without panicking, and a
// target found is what stood between the brackets.
func FuzzNextLink(f *testing.F) {
	for _, s := range []string{`</a>; rel="next"`, `</a>; rel="prev", </b>; rel="next"`, `<`, `<>`, `>;rel=next`, `</a>; rel`, `</a>;;; rel=="next"`, "</a>\x00; rel=next"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, v string) {
		got, ok := nextLink([]string{v})
		if !ok {
			if got != "" {
				t.Fatalf("no link but target %q", got)
			}
			return
		}
		if got == "" || !strings.Contains(v, "<"+got+">") {
			t.Fatalf("target %q is not a bracketed part of %q", got, v)
		}
	})
}
