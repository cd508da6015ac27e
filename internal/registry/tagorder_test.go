package registry_test

import (
	"regexp"
	"strings"
	"testing"

	"github.com/imageguard/terraform-provider-imageguard/internal/registry"
)

func TestSelectTags(t *testing.T) {
	all := []string{"latest", "1.2.0", "v1.10.0", "1.9.3", "1.10.0-rc.1", "1.10", "main-3f2a", "2.0.0-beta", "v1.9.3", "01.2.3"}
	tests := []struct {
		name, filter, order string
		limit               int
		want                string
	}{
		{name: "semver: newest first, 1.10 above 1.9, pre-release below its release, aliases and non-versions out",
			order: registry.OrderSemver, want: "2.0.0-beta,v1.10.0,1.10.0-rc.1,v1.9.3,1.9.3,1.2.0"},
		{name: "semver with a limit keeps the newest", order: registry.OrderSemver, limit: 2, want: "2.0.0-beta,v1.10.0"},
		{name: "filter matches whole tags: releases only", filter: `v?[0-9]+\.[0-9]+\.[0-9]+`, order: registry.OrderSemver, limit: 3,
			want: "v1.10.0,v1.9.3,1.9.3"},
		{name: "filter that matches part of a tag only keeps nothing", filter: `1\.9`, order: registry.OrderLexical, want: ""},
		{name: "lexical: every tag, by text descending", order: registry.OrderLexical, limit: 4, want: "v1.9.3,v1.10.0,main-3f2a,latest"},
		{name: "limit above the count keeps all", filter: "latest", order: registry.OrderLexical, limit: 5, want: "latest"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var re = mustFilter(t, tt.filter)
			got := strings.Join(registry.SelectTags(all, re, tt.order, tt.limit), ",")
			if got != tt.want {
				t.Fatalf("got  %s\nwant %s", got, tt.want)
			}
		})
	}
}

func TestCompileTagFilter_refusesBadSyntax(t *testing.T) {
	if _, err := registry.CompileTagFilter(`v(1`); err == nil || !strings.Contains(err.Error(), `"v(1" is not a regular expression`) {
		t.Fatalf("err = %v", err)
	}
}

func mustFilter(t *testing.T, expr string) *regexp.Regexp {
	t.Helper()
	if expr == "" {
		return nil
	}
	re, err := registry.CompileTagFilter(expr)
	if err != nil {
		t.Fatal(err)
	}
	return re
}
