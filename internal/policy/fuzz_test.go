package policy

import (
	"errors"
	"math"
	"strconv"
	"strings"
	"testing"
	"time"
)

// Fuzz targets for the parsers. `go test` runs the seeds; explore with
// `go test ./internal/policy/ -run '^$' -fuzz FuzzResolveUser -fuzztime 30s`.

func FuzzResolveUser(f *testing.F) {
	const passwd = "root:x:0:0:root:/root:/bin/sh\napp:x:1000:1000::/app:/bin/sh\ntoor:x:0:0\nbad:x:abc:0\nbig:x:4294967296:0\n"
	const group = "root:x:0:\nstaff:x:50:app\n"
	for _, u := range []string{"", "0", "+0", "-0", "00", "root", "app", "toor", "bad", "big", "nobody", "1000", "+1000", "1000:0", "app:staff",
		":1000", ":", "0:0:x", "1000:1000:x", "-1", "2147483647", "2147483648", "99999999999999999999", " 1000", "app:", "1000:wheel", "1000:-1"} {
		f.Add(u, passwd, group)
	}
	f.Add("app", "app:x:0", "")
	f.Add("app", "app:x:-9223372036854775808:0", "")
	f.Fuzz(func(t *testing.T, user, passwdText, groupText string) {
		pw := &AccountFile{Found: true, Content: []byte(passwdText), Source: PasswdPath}
		gr := &AccountFile{Found: true, Content: []byte(groupText), Source: GroupPath}
		id, err := ResolveUser(user, pw, gr)
		userPart, rest, hasColon := strings.Cut(user, ":")
		extra := strings.Contains(rest, ":")
		n, atoiErr := strconv.Atoi(userPart)
		numeric := atoiErr == nil && n >= 0 && n <= math.MaxInt32

		// Invariant: the uid is one a runtime can run as.
		if err == nil && (id.UID < 0 || id.UID > math.MaxInt32) {
			t.Fatalf("USER %q: uid %d outside 0..2^31-1", user, id.UID)
		}
		// Invariant: a number is a uid, whatever /etc/passwd says, and
		// it is root iff Atoi reads it as 0.
		if numeric && !extra {
			group, _, _ := strings.Cut(rest, ":")
			_, gidErr := strconv.Atoi(group)
			if err == nil && id.UID != n {
				t.Fatalf("USER %q: uid %d, want %d", user, id.UID, n)
			}
			if err != nil && (!hasColon || gidErr == nil && !strings.HasPrefix(group, "-")) && len(group) < 10 {
				t.Fatalf("USER %q: a numeric user with a numeric (or no) group must resolve: %v", user, err)
			}
			idNoFiles, errNoFiles := ResolveUser(user, nil, gr)
			if (errNoFiles == nil) != (err == nil) || errNoFiles == nil && idNoFiles.UID != id.UID {
				t.Fatalf("USER %q: /etc/passwd changed a numeric verdict: %+v %v vs %+v %v", user, id, err, idNoFiles, errNoFiles)
			}
		}
		// Invariant: an empty user part (or no USER) is uid 0.
		if userPart == "" && !extra && (err == nil && id.UID != 0 || user == "" && err != nil) {
			t.Fatalf("USER %q: want uid 0, got %+v %v", user, id, err)
		}
		// Invariant: a name resolves only through an entry of that name;
		// without /etc/passwd it never resolves.
		if atoiErr != nil && !errors.Is(atoiErr, strconv.ErrRange) && userPart != "" && !extra {
			if err == nil && !passwdHasName(passwdText, userPart) {
				t.Fatalf("USER %q resolved to %+v without a passwd entry named %q", user, id, userPart)
			}
			if _, err := ResolveUser(user, &AccountFile{Source: PasswdPath}, gr); err == nil {
				t.Fatalf("USER %q resolved without an /etc/passwd", user)
			}
		}
		// Invariant: the verdict round-trips through the uid it names.
		if err == nil && !extra {
			again, err := ResolveUser(strconv.Itoa(id.UID), nil, nil)
			if err != nil || again.UID != id.UID {
				t.Fatalf("USER %q → uid %d, but USER %d → %+v %v", user, id.UID, id.UID, again, err)
			}
		}
	})
}

func passwdHasName(passwd, name string) bool {
	for _, l := range strings.Split(passwd, "\n") {
		if n, _, _ := strings.Cut(strings.TrimSpace(l), ":"); n == name {
			return true
		}
	}
	return false
}

func FuzzParseDuration(f *testing.F) {
	for _, s := range []string{"720h", "1h30m", "0", "-1h", "1d", "", "1.5h", "9223372036854775807ns", "9223372036854775808ns", "+5m", ".5s", "1h-1m"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		d, err := ParseDuration(s)
		std, stdErr := time.ParseDuration(s)
		if err != nil {
			if stdErr == nil && std > 0 {
				t.Fatalf("%q refused, yet Go reads it as the positive %s", s, std)
			}
			return
		}
		// Invariants: positive, what Go reads, and format → parse round-trips.
		if d <= 0 || d != std {
			t.Fatalf("%q → %s (Go: %s)", s, d, std)
		}
		again, err := ParseDuration(d.String())
		if err != nil || again != d {
			t.Fatalf("%q → %s → %q → %s, %v", s, d, d.String(), again, err)
		}
	})
}

func FuzzParseDate(f *testing.F) {
	for _, s := range []string{"2027-01-31", "2024-02-29", "2023-02-29", "2027-1-31", "27-01-31", "2027-01-31T00:00:00Z", " 2027-01-31", "+027-01-31", "0000-01-01", "0001-01-01", "9999-12-31", ""} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		d, err := ParseDate(s)
		if err != nil {
			return
		}
		// Invariants: only the canonical spelling, midnight UTC, and an
		// exception expiring that day applies through its last nanosecond.
		if d.Format(DateLayout) != s {
			t.Fatalf("%q accepted, but it formats as %q", s, d.Format(DateLayout))
		}
		if d.Location() != time.UTC || d.Hour() != 0 || d.Minute() != 0 || d.Second() != 0 || d.Nanosecond() != 0 {
			t.Fatalf("%q → %s, want midnight UTC", s, d)
		}
		again, err := ParseDate(d.Format(DateLayout))
		if err != nil || !again.Equal(d) {
			t.Fatalf("%q → %s → %s, %v", s, d, again, err)
		}
		e := Exception{Expires: d}
		if e.expired(d.Add(24*time.Hour-time.Nanosecond)) || !e.expired(d.AddDate(0, 0, 1)) {
			t.Fatalf("an exception expiring %s must apply through that day and stop the next", s)
		}
	})
}

func FuzzParseSeverity(f *testing.F) {
	for _, s := range append(SeverityNames, "high", " Critical ", "", "SEVERE", "crit", "ＨＩＧＨ", "hıgh") {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		sev, err := ParseSeverity(s)
		if err != nil {
			if sev != SeverityUnknown || severityOf(s) != SeverityUnknown {
				t.Fatalf("%q refused, yet reads as %s", s, sev)
			}
			return
		}
		// Invariants: a known name, case-insensitively; String round-trips,
		// and the order of the scale is the order of SeverityNames.
		if !strings.EqualFold(strings.TrimSpace(s), sev.String()) {
			t.Fatalf("%q → %s", s, sev)
		}
		again, err := ParseSeverity(sev.String())
		if err != nil || again != sev || SeverityNames[sev] != sev.String() {
			t.Fatalf("%q → %s → %s, %v", s, sev, again, err)
		}
	})
}

func FuzzTrustedRegistryPattern(f *testing.F) {
	for _, p := range [][2]string{
		{"registry.example.com", "registry.example.com/team/api"},
		{"registry.example.com", "registry.example.com.evil.io/api"},
		{"registry.example.com", "registry.example.com:5000/api"},
		{"registry.example.com/team", "registry.example.com/teamx/api"},
		{"registry.example.com/team/", "registry.example.com/team/api"},
		{"*.example.com/**", "a.example.com/x/y"},
		{"*.example.com/**", "example.com.evil.io/a"},
		{"registry.example.com/team/*", "registry.example.com/team/a/b"},
		{"Index.Docker.io/library", "docker.io/library/alpine"},
		{"r.example.com/a.b+c", "r.example.com/aXb+c"},
	} {
		f.Add(p[0], p[1])
	}
	f.Fuzz(func(t *testing.T, raw, name string) {
		p, err := compileNamePattern(raw, false)
		if err != nil {
			return
		}
		norm := normalizeRepoName(strings.TrimSpace(raw))
		if p.glob == nil {
			pre := strings.TrimSuffix(p.prefix, "/")
			// Invariants: a prefix matches itself and what lies under it,
			// ends at a path boundary, and a bare host never matches
			// another port of it.
			if !p.match(pre) || !p.match(pre+"/x") {
				t.Fatalf("%q does not match %q or what is under it", raw, pre)
			}
			if p.match(pre + "x") {
				t.Fatalf("%q matches %q across a name boundary", raw, pre+"x")
			}
			if !strings.Contains(pre, "/") && p.match(pre+":5000/x") {
				t.Fatalf("host %q matches another port of it", raw)
			}
			if p.match(name) && name != pre && !strings.HasPrefix(name, pre) {
				t.Fatalf("%q matches %q, which does not start with it", raw, name)
			}
			return
		}
		// Invariants for globs: the pattern with its stars filled in
		// matches; "*" never crosses "/", "**" may; and the match is whole.
		if !p.match(strings.ReplaceAll(norm, "*", "")) {
			t.Fatalf("%q does not match itself with empty stars (%q)", raw, strings.ReplaceAll(norm, "*", ""))
		}
		filled := strings.ReplaceAll(strings.ReplaceAll(norm, "**", "a/b"), "*", "c")
		if !p.match(filled) {
			t.Fatalf("%q does not match %q", raw, filled)
		}
		if !strings.Contains(norm, "**") {
			if p.match(name) && strings.Count(name, "/") != strings.Count(norm, "/") {
				t.Fatalf("%q matches %q: a single * crossed a /", raw, name)
			}
			if p.match(strings.ReplaceAll(norm, "*", "c/d")) && strings.Contains(norm, "*") {
				t.Fatalf("%q matches with a / in a single-segment star", raw)
			}
		}
		if p.match(filled+"/extra") && !strings.HasSuffix(norm, "**") && !strings.HasSuffix(norm, "*") {
			t.Fatalf("%q matches %q: the glob is not anchored at the end", raw, filled+"/extra")
		}
	})
}
