package registry_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/imageguard/terraform-provider-imageguard/internal/acctest"
	"github.com/imageguard/terraform-provider-imageguard/internal/registry"
)

// tagFixture pushes team/app with the given tags, on a hostile registry.
func tagFixture(t *testing.T, tags ...string) (*acctest.HostileRegistry, map[string]string) {
	t.Helper()
	reg := acctest.NewHostileRegistry(t)
	digests := map[string]string{}
	for i, tag := range tags {
		digests[tag] = reg.Push(t, "team/app:"+tag, acctest.Image(acctest.Config{User: fmt.Sprint(i)}, acctest.Layer(acctest.File{Path: "v", Content: tag}))).String()
	}
	return reg, digests
}

func listTags(t *testing.T, reg *acctest.HostileRegistry) ([]string, error) {
	t.Helper()
	ref, err := registry.ParseReference(reg.Ref("team/app"))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	return newClient(t).ListTags(ctx, ref.Repository)
}

func TestListTags_followsLinkPages(t *testing.T) {
	reg, _ := tagFixture(t, "1.0.0", "1.1.0", "1.2.0", "2.0.0", "latest")
	reg.Inject(acctest.Fault{Path: acctest.TagsPath("team/app"), Kind: acctest.FaultTagPages, PageSize: 2})
	tags, err := listTags(t, reg)
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(tags, ","); got != "1.0.0,1.1.0,1.2.0,2.0.0,latest" {
		t.Fatalf("tags = %s", got)
	}
	if n := len(reg.Faulted()); n != 3 {
		t.Fatalf("pages read = %d, want 3 (2+2+1)", n)
	}
}

func TestListTags_linkLoopStops(t *testing.T) {
	reg, _ := tagFixture(t, "1.0.0", "1.1.0", "1.2.0", "2.0.0", "2.1.0")
	reg.Inject(acctest.Fault{Path: acctest.TagsPath("team/app"), Kind: acctest.FaultLinkLoop, PageSize: 2})
	_, err := listTags(t, reg)
	wantBound(t, err, "Registry "+reg.Host+" sent a `Link` to a tag-list page it had already sent (a pagination loop) while listing the tags of "+reg.Ref("team/app"))
	if n := len(reg.Faulted()); n > 3 {
		t.Fatalf("pages read = %d: the loop was followed", n)
	}
}

func TestListTags_floodOfTagsStopsAtMaxTags(t *testing.T) {
	reg, _ := tagFixture(t, "1.0.0")
	reg.Inject(acctest.Fault{Path: acctest.TagsPath("team/app"), Kind: acctest.FaultTagFlood, PageSize: 1000})
	_, err := listTags(t, reg)
	wantBound(t, err, fmt.Sprintf("Repository %s has more than %d tags", reg.Ref("team/app"), registry.MaxTags), "retention policy")
	if n := len(reg.Faulted()); n != registry.MaxTags/1000+1 {
		t.Fatalf("pages read = %d, want %d", n, registry.MaxTags/1000+1)
	}
}

func TestListTags_floodOfPagesStopsAtMaxPages(t *testing.T) {
	reg, _ := tagFixture(t, "1.0.0")
	reg.Inject(acctest.Fault{Path: acctest.TagsPath("team/app"), Kind: acctest.FaultTagFlood, PageSize: 1})
	_, err := listTags(t, reg)
	wantBound(t, err, fmt.Sprintf("sent more than %d pages of tags", registry.MaxTagPages))
	if n := len(reg.Faulted()); n != registry.MaxTagPages {
		t.Fatalf("pages read = %d, want %d", n, registry.MaxTagPages)
	}
}

func TestListTags_oversizedPageStops(t *testing.T) {
	reg, _ := tagFixture(t, "1.0.0")
	reg.Inject(acctest.Fault{Path: acctest.TagsPath("team/app"), Kind: acctest.FaultTagFlood, PageSize: 400000})
	_, err := listTags(t, reg)
	wantBound(t, err, "sent a tag-list page over 4 MiB")
}

func TestListTags_unpagedControl(t *testing.T) {
	reg, digests := tagFixture(t, "b", "a")
	tags, err := listTags(t, reg)
	if err != nil || strings.Join(tags, ",") != "a,b" {
		t.Fatalf("tags = %v, %v", tags, err)
	}
	ref, _ := registry.ParseReference(reg.Ref("team/app"))
	got, err := newClient(t).TagDigests(context.Background(), ref.Repository, []string{"b", "a"}, 2)
	if err != nil || got[0] != digests["b"] || got[1] != digests["a"] {
		t.Fatalf("digests = %v, %v; want b=%s a=%s", got, err, digests["b"], digests["a"])
	}
	if _, err := newClient(t).TagDigests(context.Background(), ref.Repository, []string{"a", "gone"}, 2); registry.KindOf(err) != registry.KindNotFound {
		t.Fatalf("a missing tag: %v (%v), want KindNotFound", err, registry.KindOf(err))
	}
}

func wantBound(t *testing.T, err error, parts ...string) {
	t.Helper()
	if !errors.Is(err, registry.ErrTagListBound) {
		t.Fatalf("err = %v, want ErrTagListBound", err)
	}
	for _, p := range parts {
		if !strings.Contains(err.Error(), p) {
			t.Errorf("message lacks %q:\n%s", p, err)
		}
	}
}
