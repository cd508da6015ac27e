package acctest

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"sort"
	"strconv"
	"strings"
)

// TagsPath matches the tag-list requests of repo.
func TagsPath(repo string) string {
	return "^/v2/" + regexp.QuoteMeta(repo) + "/tags/list$"
}

// serveTagPages answers a tag-list request under one of the tag-list
// faults: FaultTagPages pages the honest list (by `n` and `last`, which
// go-containerregistry's registry understands) and links the next page;
// FaultLinkLoop does the same but links every page to the second one;
// FaultTagFlood makes up a full page of tags and links another, forever.
func serveTagPages(w http.ResponseWriter, req *http.Request, f Fault, honest http.Handler) {
	size := f.PageSize
	if size <= 0 {
		size = 2
	}
	link := func(q url.Values) {
		w.Header().Set("Link", fmt.Sprintf(`<%s?%s>; rel="next"`, req.URL.Path, q.Encode()))
	}
	if f.Kind == FaultTagFlood {
		page, _ := strconv.Atoi(req.URL.Query().Get("page"))
		tags := make([]string, size)
		for i := range tags {
			tags[i] = fmt.Sprintf("flood-%d-%d", page, i)
		}
		link(url.Values{"page": {strconv.Itoa(page + 1)}})
		writeTags(w, strings.TrimSuffix(strings.TrimPrefix(req.URL.Path, "/v2/"), "/tags/list"), tags)
		return
	}
	// The whole honest list, paged here: go-containerregistry's registry
	// sends the first page again for a `last` past the end.
	whole := req.Clone(req.Context())
	whole.URL.RawQuery = ""
	rec := httptest.NewRecorder()
	honest.ServeHTTP(rec, whole)
	var body struct {
		Name string   `json:"name"`
		Tags []string `json:"tags"`
	}
	if rec.Code != http.StatusOK || json.Unmarshal(rec.Body.Bytes(), &body) != nil {
		copyHeader(w.Header(), rec.Header())
		w.WriteHeader(rec.Code)
		_, _ = w.Write(rec.Body.Bytes())
		return
	}
	sort.Strings(body.Tags)
	last := req.URL.Query().Get("last")
	rest := body.Tags[sort.SearchStrings(body.Tags, last):]
	if len(rest) > 0 && rest[0] == last {
		rest = rest[1:]
	}
	page := rest[:min(size, len(rest))]
	switch {
	case f.Kind == FaultLinkLoop && len(body.Tags) > 0:
		// every page links to the page after the first one
		link(url.Values{"n": {strconv.Itoa(size)}, "last": {body.Tags[0]}})
	case len(rest) > size:
		link(url.Values{"n": {strconv.Itoa(size)}, "last": {page[len(page)-1]}})
	}
	writeTags(w, body.Name, page)
}

func writeTags(w http.ResponseWriter, repo string, tags []string) {
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(map[string]any{"name": repo, "tags": tags})
}
