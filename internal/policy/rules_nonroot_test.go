package policy

import (
	"fmt"
	"strings"
	"testing"
)

// passwdFile is an /etc/passwd found in layer 1 with these lines.
func passwdFile(lines ...string) *AccountFile {
	return &AccountFile{Found: true, Content: []byte(strings.Join(lines, "\n") + "\n"), Source: "/etc/passwd (layer 1)"}
}

func groupFile(lines ...string) *AccountFile {
	return &AccountFile{Found: true, Content: []byte(strings.Join(lines, "\n") + "\n"), Source: "/etc/group (layer 1)"}
}

// Each row reads: USER (and the image's account files) → verdict.
func TestRequireNonRoot(t *testing.T) {
	on := Rules{RequireNonRoot: true}
	as := func(user string, passwd, group *AccountFile) func(*ImageFacts) {
		return func(f *ImageFacts) { f.User, f.Passwd, f.Group = user, passwd, group }
	}
	user := func(u string) func(*ImageFacts) { return as(u, nil, nil) }
	noFile := func(p string) *AccountFile { return &AccountFile{Source: p} }
	base := passwdFile("root:x:0:0:root:/root:/bin/sh", "nobody:x:65534:65534:nobody:/:/sbin/nologin")
	withApp := func(entry string) *AccountFile {
		return passwdFile("root:x:0:0:root:/root:/bin/sh", entry, "nobody:x:65534:65534:nobody:/:/sbin/nologin")
	}
	groups := groupFile("# comment", "root:x:0:", "staff:x:50:app")
	const (
		root       = "require_non_root [%s] runs as root (USER %q is uid 0: "
		cannot     = "require_non_root [%s] cannot vouch for USER %q as non-root: "
		notInImage = `the image has no /etc/passwd (after whiteouts), so the user "app" cannot be resolved to an id (the container would not start)`
	)
	rootLine := func(u, from string) string { return fmt.Sprintf(root, u, u) + from + ")" }
	cannotLine := func(u, why string) string { return fmt.Sprintf(cannot, u, u) + why }

	runRulesRows(t, []rulesRow{
		// Root, by number.
		{name: "rule off → USER root passes", facts: user("root")},
		{name: "no USER → root (runtimes default to uid 0)", facts: user(""), rules: on,
			want: []string{"require_non_root [] runs as root (no USER set: runtimes default to uid 0)"}},
		{name: "USER 0 → root", facts: user("0"), rules: on,
			want: []string{rootLine("0", `the number "0" in USER (a number is always a uid, never a name)`)}},
		{name: "USER +0 → root (Atoi reads the sign)", facts: user("+0"), rules: on,
			want: []string{rootLine("+0", `the number "+0" in USER (a number is always a uid, never a name)`)}},
		{name: "USER -0 → root", facts: user("-0"), rules: on,
			want: []string{rootLine("-0", `the number "-0" in USER (a number is always a uid, never a name)`)}},
		{name: "USER 000 → root (leading zeros)", facts: user("000"), rules: on,
			want: []string{rootLine("000", `the number "000" in USER (a number is always a uid, never a name)`)}},
		{name: "USER 0:0 → root", facts: user("0:0"), rules: on,
			want: []string{rootLine("0:0", `the number "0" in USER (a number is always a uid, never a name)`)}},
		{name: "USER 0:1000 → root (any group)", facts: user("0:1000"), rules: on,
			want: []string{rootLine("0:1000", `the number "0" in USER (a number is always a uid, never a name)`)}},
		{name: "USER :1000 → root (an empty user part keeps uid 0)", facts: user(":1000"), rules: on,
			want: []string{rootLine(":1000", "the user part of USER is empty, so runtimes keep the default uid 0")}},
		{name: "USER : → root", facts: user(":"), rules: on,
			want: []string{rootLine(":", "the user part of USER is empty, so runtimes keep the default uid 0")}},
		{name: "USER 0:0:x → root (runc reads uid 0; containerd refuses it)", facts: user("0:0:x"), rules: on,
			want: []string{rootLine("0:0:x", `USER has more than one ":"; runc reads the uid part "0" as uid 0 (containerd refuses the USER)`)}},

		// Root, by name.
		{name: "USER root → root, without /etc/passwd", facts: user("root"), rules: on,
			want: []string{rootLine("root", "the user root")}},
		{name: "USER root:wheel → root", facts: user("root:wheel"), rules: on,
			want: []string{rootLine("root:wheel", "the user root")}},
		{name: "USER root → root even when /etc/passwd gives root another uid", facts: as("root", passwdFile("root:x:1000:1000"), nil), rules: on,
			want: []string{rootLine("root", "the user root")}},
		{name: "USER app with /etc/passwd app:x:0:0 → root", facts: as("app", withApp("app:x:0:0::/app:/bin/sh"), nil), rules: on,
			want: []string{rootLine("app", `/etc/passwd (layer 1) line 2 "app:x:0:0::/app:/bin/sh"`)}},
		{name: "USER toor with /etc/passwd toor:x:0:0 → root", facts: as("toor", withApp("toor:x:0:0:toor:/root:/bin/sh"), nil), rules: on,
			want: []string{rootLine("toor", `/etc/passwd (layer 1) line 2 "toor:x:0:0:toor:/root:/bin/sh"`)}},
		{name: "USER app:staff with app:x:0:0 → root (the group does not help)", facts: as("app:staff", withApp("app:x:0:0"), groups), rules: on,
			want: []string{rootLine("app:staff", `/etc/passwd (layer 1) line 2 "app:x:0:0"`)}},
		{name: "USER app, first of two app entries wins → root", facts: as("app", passwdFile("app:x:0:0", "app:x:1000:1000"), nil), rules: on,
			want: []string{rootLine("app", `/etc/passwd (layer 1) line 1 "app:x:0:0"`)}},
		{name: "USER app with a non-numeric uid field → root (runtimes read it as 0)", facts: as("app", withApp("app:x:abc:1000"), nil), rules: on,
			want: []string{rootLine("app", `/etc/passwd (layer 1) line 2 "app:x:abc:1000", whose uid field "abc" is not a number: runc and containerd read that as uid 0`)}},
		{name: "USER app with uid field \" 1000\" → root (the space makes it no number)", facts: as("app", withApp("app:x: 1000:1000"), nil), rules: on,
			want: []string{rootLine("app", `/etc/passwd (layer 1) line 2 "app:x: 1000:1000", whose uid field " 1000" is not a number: runc and containerd read that as uid 0`)}},
		{name: "USER app with an empty uid field → root", facts: as("app", withApp("app:x::1000"), nil), rules: on,
			want: []string{rootLine("app", `/etc/passwd (layer 1) line 2 "app:x::1000", whose uid field "" is not a number: runc and containerd read that as uid 0`)}},
		{name: "USER app with an entry without a uid field → root", facts: as("app", withApp("app:x"), nil), rules: on,
			want: []string{rootLine("app", `/etc/passwd (layer 1) line 2 "app:x", which has no uid field: runc and containerd read that as uid 0`)}},
		{name: "USER app with uid 4294967296 → root (runtimes keep 32 bits)", facts: as("app", withApp("app:x:4294967296:0"), nil), rules: on,
			want: []string{rootLine("app", `/etc/passwd (layer 1) line 2 "app:x:4294967296:0", whose uid "4294967296" runtimes read as 4294967296 and truncate to 32 bits: uid 0`)}},
		{name: "USER app with a hugely negative uid → root (Atoi clamps, then 32 bits)", facts: as("app", withApp("app:x:-99999999999999999999:0"), nil), rules: on,
			want: []string{rootLine("app", `/etc/passwd (layer 1) line 2 "app:x:-99999999999999999999:0", whose uid "-99999999999999999999" runtimes read as -9223372036854775808 and truncate to 32 bits: uid 0`)}},

		// Cannot vouch: the name does not resolve, or runtimes refuse the USER.
		{name: "USER app, no /etc/passwd → cannot vouch", facts: as("app", noFile("/etc/passwd"), noFile("/etc/group")), rules: on,
			want: []string{cannotLine("app", notInImage)}},
		{name: "USER app, /etc/passwd never read → cannot vouch", facts: user("app"), rules: on,
			want: []string{cannotLine("app", `/etc/passwd was not read, so the user "app" cannot be resolved`)}},
		{name: "USER app, not in /etc/passwd → cannot vouch", facts: as("app", base, groups), rules: on,
			want: []string{cannotLine("app", `/etc/passwd (layer 1) has no user "app", so runtimes cannot resolve it (the container would not start)`)}},
		{name: "USER app, /etc/passwd is a directory → cannot vouch", facts: as("app", &AccountFile{Found: true, Problem: "it is a directory"}, nil), rules: on,
			want: []string{cannotLine("app", `/etc/passwd cannot be read (it is a directory), so the user "app" cannot be resolved`)}},
		{name: "USER app, a line longer than the runtimes' 64 KiB scanner → cannot vouch", facts: as("app", passwdFile(strings.Repeat("x", 70000), "app:x:1000:1000"), nil), rules: on,
			want: []string{cannotLine("app", `/etc/passwd (layer 1) cannot be read as runtimes read it (bufio.Scanner: token too long), so the user "app" cannot be resolved`)}},
		{name: "USER app with uid 4294967295 → cannot vouch (out of range)", facts: as("app", withApp("app:x:4294967295:0"), nil), rules: on,
			want: []string{cannotLine("app", `/etc/passwd (layer 1) line 2 "app:x:4294967295:0" gives user "app" the uid "4294967295", outside 0-2147483647 (runtimes would truncate it to 4294967295)`)}},
		{name: "USER app with uid -5 → cannot vouch", facts: as("app", withApp("app:x:-5:0"), nil), rules: on,
			want: []string{cannotLine("app", `/etc/passwd (layer 1) line 2 "app:x:-5:0" gives user "app" the uid "-5", outside 0-2147483647 (runtimes would truncate it to 4294967291)`)}},
		{name: "USER #app matches no comment: passwd has no comment syntax", facts: as("app", passwdFile("#app:x:1000:1000"), nil), rules: on,
			want: []string{cannotLine("app", `/etc/passwd (layer 1) has no user "app", so runtimes cannot resolve it (the container would not start)`)}},
		{name: "USER -1 → cannot vouch (runtimes refuse negative uids)", facts: user("-1"), rules: on,
			want: []string{cannotLine("-1", "uid -1 is outside 0-2147483647, which runc and containerd refuse")}},
		{name: "USER 2147483648 → cannot vouch (above 2^31-1)", facts: user("2147483648"), rules: on,
			want: []string{cannotLine("2147483648", "uid 2147483648 is outside 0-2147483647, which runc and containerd refuse")}},
		{name: "USER 99999999999999999999 → cannot vouch (too large for Atoi)", facts: user("99999999999999999999"), rules: on,
			want: []string{cannotLine("99999999999999999999", `uid "99999999999999999999" is a number too large for any runtime (containerd refuses it)`)}},
		{name: "USER \" 1000\" is a name, not a number → cannot vouch", facts: as(" 1000", base, nil), rules: on,
			want: []string{cannotLine(" 1000", `/etc/passwd (layer 1) has no user " 1000", so runtimes cannot resolve it (the container would not start)`)}},
		{name: "USER \" root \" is a name, not root → cannot vouch", facts: as(" root ", base, nil), rules: on,
			want: []string{cannotLine(" root ", `/etc/passwd (layer 1) has no user " root ", so runtimes cannot resolve it (the container would not start)`)}},
		{name: "USER of spaces is a name → cannot vouch", facts: as("  ", base, nil), rules: on,
			want: []string{cannotLine("  ", `/etc/passwd (layer 1) has no user "  ", so runtimes cannot resolve it (the container would not start)`)}},
		{name: "USER 1000:1000:x → cannot vouch (containerd refuses, runc ignores the rest)", facts: user("1000:1000:x"), rules: on,
			want: []string{cannotLine("1000:1000:x", `USER "1000:1000:x" has more than one ":", which containerd refuses and runc reads only up to the second ":"`)}},
		{name: "USER 1000:staff, no /etc/group → cannot vouch", facts: as("1000:staff", base, noFile("/etc/group")), rules: on,
			want: []string{cannotLine("1000:staff", `the image has no /etc/group (after whiteouts), so the group "staff" cannot be resolved to an id (the container would not start)`)}},
		{name: "USER 1000:wheel, not in /etc/group → cannot vouch", facts: as("1000:wheel", base, groups), rules: on,
			want: []string{cannotLine("1000:wheel", `/etc/group (layer 1) has no group "wheel", so runtimes cannot resolve it (the container would not start)`)}},
		{name: "USER 1000:-1 → cannot vouch (gid out of range)", facts: user("1000:-1"), rules: on,
			want: []string{cannotLine("1000:-1", "gid -1 is outside 0-2147483647, which runc and containerd refuse")}},
		{name: "Windows USER ContainerUser → cannot vouch", facts: func(f *ImageFacts) { f.User, f.Platform = "ContainerUser", "windows/amd64" }, rules: on,
			want: []string{cannotLine("ContainerUser", "on Windows, USER names a Windows account (such as ContainerUser or ContainerAdministrator), which imageguard cannot map to a uid")}},

		// Non-root.
		{name: "USER 1000 → non-root", facts: user("1000"), rules: on},
		{name: "USER +1000 → non-root", facts: user("+1000"), rules: on},
		{name: "USER 2147483647 → non-root (the largest uid runtimes take)", facts: user("2147483647"), rules: on},
		{name: "USER 65532:65532 → non-root", facts: user("65532:65532"), rules: on},
		{name: "USER 1000:0 → non-root (group 0 is not root)", facts: user("1000:0"), rules: on},
		{name: "USER 1000: → non-root (empty group part)", facts: user("1000:"), rules: on},
		{name: "USER 1000 with /etc/passwd 1000:x:0:0 → non-root (a number is a uid, never a name)", facts: as("1000", passwdFile("1000:x:0:0"), nil), rules: on},
		{name: "USER app with app:x:1000:0 → non-root (gid 0 is not root)", facts: as("app", withApp("app:x:1000:0::/app:/bin/sh"), nil), rules: on},
		{name: "USER app:staff with both files → non-root", facts: as("app:staff", withApp("app:x:1000:1000"), groups), rules: on},
		{name: "USER app:0 → non-root (group 0 is not root)", facts: as("app:0", withApp("app:x:1000:1000"), nil), rules: on},
		{name: "USER app with CRLF lines and padding in /etc/passwd → non-root", facts: as("app", &AccountFile{Found: true, Content: []byte("root:x:0:0\r\n\r\n   app:x:1000:1000:::\r\n"), Source: "/etc/passwd (layer 1)"}, nil), rules: on},
		{name: "USER nobody → non-root", facts: as("nobody", base, nil), rules: on},
	})
}

// ResolveUser names the uid and where it came from, for the messages and
// for callers that want the identity itself.
func TestResolveUserIdentity(t *testing.T) {
	groups := groupFile("root:x:0:", "staff:x:50:app")
	cases := []struct {
		user        string
		passwd      *AccountFile
		uid         int
		from, group string
	}{
		{user: "app:staff", passwd: passwdFile("app:x:1000:1000"), uid: 1000, from: `/etc/passwd (layer 1) line 1 "app:x:1000:1000"`, group: "gid 50 (group staff, /etc/group (layer 1) line 2)"},
		{user: "1000:0", uid: 1000, from: `the number "1000" in USER (a number is always a uid, never a name)`, group: `gid 0 (the number "0" in USER)`},
		{user: "00042", uid: 42, from: `the number "00042" in USER (a number is always a uid, never a name)`},
	}
	for _, c := range cases {
		id, err := ResolveUser(c.user, c.passwd, groups)
		if err != nil {
			t.Fatalf("USER %q: %v", c.user, err)
		}
		if id.UID != c.uid || id.From != c.from || id.Group != c.group {
			t.Errorf("USER %q = %+v, want uid %d from %q group %q", c.user, id, c.uid, c.from, c.group)
		}
	}
}

// The provider reads /etc/passwd and /etc/group only when a name could
// change the verdict.
func TestNeedsAccountFiles(t *testing.T) {
	on := Rules{RequireNonRoot: true}
	cases := []struct {
		user, platform string
		rules          Rules
		want           bool
	}{
		{"app", "linux/amd64", on, true},
		{"1000:staff", "linux/amd64", on, true},
		{"app:0", "linux/amd64", on, true},
		{" 1000", "linux/amd64", on, true}, // a name to the runtimes
		{"app", "linux/amd64", Rules{}, false},
		{"1000", "linux/amd64", on, false},
		{"1000:0", "linux/amd64", on, false},
		{"root", "linux/amd64", on, false},
		{"root:staff", "linux/amd64", on, false},
		{"+0:staff", "linux/amd64", on, false},
		{":staff", "linux/amd64", on, false},
		{"", "linux/amd64", on, false},
		{"app:staff:x", "linux/amd64", on, false},
		{"-1:staff", "linux/amd64", on, false},
		{"ContainerUser", "windows/amd64", on, false},
	}
	for _, c := range cases {
		if got := NeedsAccountFiles(c.rules, c.user, c.platform); got != c.want {
			t.Errorf("NeedsAccountFiles(%+v, %q, %q) = %v, want %v", c.rules.RequireNonRoot, c.user, c.platform, got, c.want)
		}
	}
}
