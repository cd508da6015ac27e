package scan_test

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aquasecurity/trivy-db/pkg/metadata"
	"github.com/aquasecurity/trivy/pkg/types"

	"github.com/imageguard/terraform-provider-imageguard/internal/scan"
)

func TestCheckServerURL(t *testing.T) {
	cases := []struct {
		name, url string
		// shown must appear in the message, hidden must not.
		shown  []string
		hidden []string
	}{
		{"plain https → accepted", "https://trivy.example.com:4954", nil, nil},
		{"user:password → token", "https://scanuser:pa55w0rd-9e1f@trivy.example.com:4954",
			[]string{"carries credentials", "https://***@trivy.example.com:4954", "`token`"}, []string{"pa55w0rd-9e1f", "scanuser"}},
		{"token as user → token", "https://tok3n-e8a1@trivy.example.com",
			[]string{"carries credentials", "`token`"}, []string{"tok3n-e8a1"}},
		{"unparsable with password → redacted", "https://u:p%zz-b7c3@trivy.example.com",
			[]string{"is not an http(s) URL", "https://***@trivy.example.com"}, []string{"p%zz-b7c3"}},
		{"not http → rejected", "ftp://trivy.example.com", []string{"is not an http(s) URL"}, nil},
		{"token in the query → custom_headers", "https://trivy.example.com/?access_token=q-7d2e",
			[]string{"has a query or fragment", "https://trivy.example.com/", "`custom_headers`"}, []string{"q-7d2e"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := scan.CheckServerURL(tc.url)
			_, nerr := scan.NewServer(scan.ServerOptions{URL: tc.url})
			if tc.shown == nil {
				if err != nil || nerr != nil {
					t.Fatalf("rejected: %v / %v", err, nerr)
				}
				return
			}
			for _, e := range []error{err, nerr} {
				if e == nil {
					t.Fatal("accepted")
				}
				for _, s := range tc.shown {
					if !strings.Contains(e.Error(), s) {
						t.Errorf("message lacks %q: %v", s, e)
					}
				}
				for _, s := range tc.hidden {
					if strings.Contains(e.Error(), s) {
						t.Errorf("message shows %q: %v", s, e)
					}
				}
			}
		})
	}
}

// versionHandler answers /version like `trivy server`, with the database
// updated at *updated.
func versionHandler(updated *atomic.Pointer[time.Time]) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/version" {
			http.NotFound(w, r)
			return
		}
		u := *updated.Load()
		_ = json.NewEncoder(w).Encode(types.VersionInfo{Version: "0.74.0", VulnerabilityDB: &metadata.Metadata{Version: 2, UpdatedAt: u, NextUpdate: u.Add(24 * time.Hour)}})
	}
}

// The token never follows a redirect: the server's redirect is an error
// that names the status and the target (without its query), and the
// target sees no request.
func TestServerRefusesRedirects(t *testing.T) {
	var updated atomic.Pointer[time.Time]
	now := time.Now().Add(-time.Hour)
	updated.Store(&now)
	var targetHits, leaked atomic.Int64
	target := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		targetHits.Add(1)
		if r.Header.Get("Trivy-Token") != "" || r.Header.Get("Authorization") != "" {
			leaked.Add(1)
		}
		versionHandler(&updated)(w, r)
	}))
	defer target.Close()
	redirect := atomic.Bool{}
	front := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if redirect.Load() {
			http.Redirect(w, r, target.URL+r.URL.Path+"?X-Sig=qs-secret-41d0", http.StatusTemporaryRedirect)
			return
		}
		versionHandler(&updated)(w, r)
	}))
	defer front.Close()
	const token = "tok-5e9a02"
	srv, err := scan.NewServer(scan.ServerOptions{URL: front.URL, Token: token, CustomHeaders: map[string]string{"Authorization": "Bearer gw-77c1"}, MaxAge: 72 * time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := srv.DB(context.Background()); err != nil {
		t.Fatalf("control without a redirect: %v", err)
	}
	redirect.Store(true)
	_, err = srv.DB(context.Background())
	var re *scan.RedirectError
	if !errors.As(err, &re) {
		t.Fatalf("want a redirect error, got %v", err)
	}
	for _, s := range []string{"answered GET /version with 307 Temporary Redirect", "redirecting to " + target.URL + "/version", "never follows a redirect", "`url`"} {
		if !strings.Contains(err.Error(), s) {
			t.Errorf("message lacks %q: %v", s, err)
		}
	}
	for _, s := range []string{"qs-secret-41d0", token, "gw-77c1"} {
		if strings.Contains(err.Error(), s) {
			t.Errorf("message shows %q: %v", s, err)
		}
	}
	if targetHits.Load() != 0 || leaked.Load() != 0 {
		t.Fatalf("the redirect target saw %d requests (%d with the token or Authorization)", targetHits.Load(), leaked.Load())
	}
}

// The server's database is checked on every call, not once per process:
// it may go stale while the provider runs.
func TestServerDatabaseCheckedEveryTime(t *testing.T) {
	var updated atomic.Pointer[time.Time]
	fresh := time.Now().Add(-time.Hour)
	updated.Store(&fresh)
	hs := httptest.NewServer(versionHandler(&updated))
	defer hs.Close()
	srv, err := scan.NewServer(scan.ServerOptions{URL: hs.URL, MaxAge: 72 * time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	db, err := srv.DB(context.Background())
	if err != nil || !db.UpdatedAt.Equal(fresh) {
		t.Fatalf("fresh database: %v %v", db, err)
	}
	stale := time.Now().Add(-100 * time.Hour)
	updated.Store(&stale)
	if _, err := srv.DB(context.Background()); err == nil || !strings.Contains(err.Error(), "older than max_age (72h0m0s)") {
		t.Fatalf("a database gone stale was accepted: %v", err)
	}
	future := time.Now().Add(30 * 24 * time.Hour)
	updated.Store(&future)
	if _, err := srv.DB(context.Background()); err == nil || !strings.Contains(err.Error(), "a database from the future is never trusted") {
		t.Fatalf("a database dated a month ahead was accepted: %v", err)
	}
}

// A Trivy server that accepts the connection and never answers holds the
// plan no longer than the read's deadline (the provider's `timeout`), and
// the error names the server.
func TestServerThatHangsEndsAtTheDeadline(t *testing.T) {
	hung := httptest.NewServer(http.HandlerFunc(func(_ http.ResponseWriter, r *http.Request) {
		<-r.Context().Done()
	}))
	defer hung.Close()
	srv, err := scan.NewServer(scan.ServerOptions{URL: hung.URL, Token: "tok-3f1c", MaxAge: 72 * time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err = srv.DB(ctx)
	if err == nil {
		t.Fatal("a server that never answers passed the database check")
	}
	if waited := time.Since(start); waited > 10*time.Second {
		t.Fatalf("a hanging server held the check for %s", waited)
	}
	t.Logf("error: %v", err)
	for _, s := range []string{"the Trivy server " + hung.URL + " did not answer within the provider's `timeout`", "does not fall back"} {
		if !strings.Contains(err.Error(), s) {
			t.Errorf("message lacks %q: %v", s, err)
		}
	}
	if strings.Contains(err.Error(), "tok-3f1c") {
		t.Errorf("message shows the token: %v", err)
	}
}
