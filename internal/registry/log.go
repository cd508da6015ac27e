package registry

import (
	"net/http"
	"strings"
	"time"

	"github.com/hashicorp/terraform-plugin-log/tflog"
)

// LogSubsystem is the tflog subsystem of registry requests: with TF_LOG
// at debug, every request a plan makes is one line with its method,
// registry, repository, kind, status, bytes and duration. Never a header,
// a query or a credential.
const LogSubsystem = "registry"

// logRequest sends req through rt and logs it.
func logRequest(rt http.RoundTripper, req *http.Request) (*http.Response, error) {
	start := time.Now()
	resp, err := rt.RoundTrip(req)
	repo, kind := describePath(req.URL.Path)
	fields := map[string]any{
		"method":      req.Method,
		"registry":    req.URL.Host,
		"repository":  repo,
		"kind":        kind,
		"duration_ms": time.Since(start).Milliseconds(),
	}
	if err != nil {
		fields["error"] = err.Error()
		tflog.SubsystemDebug(req.Context(), LogSubsystem, "registry request failed", fields)
		return resp, err
	}
	fields["status"] = resp.StatusCode
	fields["bytes"] = resp.ContentLength
	tflog.SubsystemDebug(req.Context(), LogSubsystem, "registry request", fields)
	return resp, nil
}

// describePath reads /v2/<repository>/<kind>/<reference> from a registry
// URL path; other paths (token endpoints) are logged as their kind only.
func describePath(p string) (repo, kind string) {
	if !strings.HasPrefix(p, "/v2/") {
		return "", "auth"
	}
	rest := strings.TrimPrefix(p, "/v2/")
	for _, k := range []string{"/manifests/", "/blobs/", "/tags/", "/referrers/"} {
		if i := strings.LastIndex(rest, k); i >= 0 {
			return rest[:i], strings.Trim(k, "/") + " " + rest[i+len(k):]
		}
	}
	return "", "ping"
}
