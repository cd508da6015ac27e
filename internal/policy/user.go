package policy

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
)

// How a config's User is read. This follows the two readers a container
// actually goes through:
//   - containerd (pkg/oci WithUser, WithUserID, WithUsername; Kubernetes'
//     CRI and nerdctl) and runc's user package (moby/sys/user GetExecUser;
//     Docker) split "user[:group]" at ":" without trimming, and read each
//     part with strconv.Atoi: "+0", "00" and "-0" are uid 0, " 0" is not a
//     number but a name.
//   - A number is always an id, never a name; ids must be 0..2^31-1 (both
//     refuse others). A number too long for Atoi is refused by containerd
//     (runc would look it up as a name).
//   - A name is looked up in the final filesystem's /etc/passwd (or
//     /etc/group): the first entry with that exact name wins; no file, or
//     no entry, and the container does not start.
//   - In a passwd entry the uid field goes through Atoi with its error
//     ignored: a missing or non-numeric uid field is uid 0. Runtimes then
//     keep the low 32 bits of the id.
//   - An empty user part (":1000") keeps the default uid, 0.
//
// Where the two disagree (more than one ":", which containerd refuses and
// runc ignores), imageguard does not vouch for the USER.

// Paths of the account files a USER name is resolved through.
const (
	PasswdPath = "/etc/passwd"
	GroupPath  = "/etc/group"
)

// maxID is the largest uid or gid runc and containerd accept.
const maxID = math.MaxInt32

// AccountFile is an image's /etc/passwd or /etc/group, read from its final
// filesystem (layers applied in order, whiteouts honoured, symlinks
// followed).
type AccountFile struct {
	// Found: the file exists and was read.
	Found bool
	// Content is the file's bytes.
	Content []byte
	// Source says where the content came from, for messages, e.g.
	// "/etc/passwd (layer 2)".
	Source string
	// Problem says why a file that exists could not be read (a directory,
	// a dangling symlink, too large); empty otherwise.
	Problem string
}

// idKind is how one part of USER reads.
type idKind int

const (
	idEmpty  idKind = iota // ""
	idNumber               // a decimal id in 0..maxID
	idName                 // anything Atoi does not read as a number
	idBad                  // a number runtimes refuse
)

// idPart is the user or group part of USER.
type idPart struct {
	raw  string
	kind idKind
	id   int    // for idNumber
	why  string // for idBad
}

func parseIDPart(s, what string) idPart {
	p := idPart{raw: s}
	if s == "" {
		return p
	}
	v, err := strconv.Atoi(s)
	switch {
	case err == nil && v >= 0 && v <= maxID:
		p.kind, p.id = idNumber, v
	case err == nil:
		p.kind, p.why = idBad, fmt.Sprintf("%s %d is outside 0-%d, which runc and containerd refuse", what, v, maxID)
	case errors.Is(err, strconv.ErrRange):
		p.kind, p.why = idBad, fmt.Sprintf("%s %q is a number too large for any runtime (containerd refuses it)", what, s)
	default:
		p.kind = idName
	}
	return p
}

// userSpec is a config's User split as the runtimes split it.
type userSpec struct {
	raw      string
	user     idPart
	group    idPart
	hasGroup bool
	// extra: more than one ":" (containerd refuses; runc ignores the rest).
	extra bool
}

func parseUserSpec(s string) userSpec {
	u := userSpec{raw: s}
	parts := strings.Split(s, ":")
	u.user = parseIDPart(parts[0], "uid")
	if len(parts) > 1 {
		u.hasGroup = true
		u.group = parseIDPart(parts[1], "gid")
	}
	u.extra = len(parts) > 2
	return u
}

// Identity is the uid a runtime runs a config's User as, and where the uid
// came from.
type Identity struct {
	UID int
	// From says where the uid came from, e.g. "the number in USER" or
	// `/etc/passwd (layer 1) line 3 "toor:x:0:0:…"`.
	From string
	// Group, when USER names a group, says how it resolved, e.g. "gid 50
	// (group staff, /etc/group (layer 1) line 4)". A gid never makes a
	// USER root: group 0 grants no root privileges by itself.
	Group string
}

// Root reports whether the identity is uid 0.
func (id Identity) Root() bool { return id.UID == 0 }

// ResolveUser reads a config's User as containerd and runc do: which uid
// the container runs as, or why no uid can be vouched for (the runtimes
// would refuse to start it, or disagree). passwd and group are the image's
// final /etc/passwd and /etc/group; nil when not looked up, which is only
// right for a USER without names.
func ResolveUser(user string, passwd, group *AccountFile) (Identity, error) {
	spec := parseUserSpec(user)
	if user == "" {
		return Identity{UID: 0, From: "no USER set: runtimes default to uid 0"}, nil
	}
	if spec.extra {
		if spec.user.kind == idEmpty || spec.user.kind == idNumber && spec.user.id == 0 {
			return Identity{UID: 0, From: fmt.Sprintf("USER has more than one \":\"; runc reads the uid part %q as uid 0 (containerd refuses the USER)", spec.user.raw)}, nil
		}
		return Identity{}, fmt.Errorf("USER %q has more than one \":\", which containerd refuses and runc reads only up to the second \":\"", user)
	}
	var id Identity
	switch spec.user.kind {
	case idBad:
		return Identity{}, errors.New(spec.user.why)
	case idEmpty:
		id = Identity{UID: 0, From: "the user part of USER is empty, so runtimes keep the default uid 0"}
	case idNumber:
		id = Identity{UID: spec.user.id, From: fmt.Sprintf("the number %q in USER (a number is always a uid, never a name)", spec.user.raw)}
	case idName:
		var err error
		if id, err = lookupPasswd(spec.user.raw, passwd); err != nil {
			return Identity{}, err
		}
	}
	if spec.hasGroup {
		g, err := resolveGroup(spec.group, group)
		if err != nil {
			return id, err
		}
		id.Group = g
	}
	return id, nil
}

// lookupPasswd resolves a user name as ParsePasswdFilter and GetExecUser do.
func lookupPasswd(name string, passwd *AccountFile) (Identity, error) {
	if err := usable(passwd, PasswdPath, "user", name); err != nil {
		return Identity{}, err
	}
	e, line, ok, err := findPasswdEntry(passwd.Content, name)
	if err != nil {
		return Identity{}, fmt.Errorf("%s cannot be read as runtimes read it (%v), so the user %q cannot be resolved", passwd.Source, err, name)
	}
	if !ok {
		return Identity{}, fmt.Errorf("%s has no user %q, so runtimes cannot resolve it (the container would not start)", passwd.Source, name)
	}
	where := fmt.Sprintf("%s line %d %q", passwd.Source, line, truncate(e.line, 80))
	if !e.hasUID {
		return Identity{UID: 0, From: where + ", which has no uid field: runc and containerd read that as uid 0"}, nil
	}
	// As ParsePasswdFilter: Atoi with its error ignored (0 for a syntax
	// error, the clamped value for a range error), then the runtimes keep
	// the low 32 bits.
	v, err := strconv.Atoi(e.uid)
	switch {
	case err != nil && !errors.Is(err, strconv.ErrRange):
		return Identity{UID: 0, From: fmt.Sprintf("%s, whose uid field %q is not a number: runc and containerd read that as uid 0", where, e.uid)}, nil
	case err == nil && v >= 0 && v <= maxID:
		return Identity{UID: v, From: where}, nil
	case uint32(v) == 0:
		return Identity{UID: 0, From: fmt.Sprintf("%s, whose uid %q runtimes read as %d and truncate to 32 bits: uid 0", where, e.uid, v)}, nil
	}
	return Identity{}, fmt.Errorf("%s gives user %q the uid %q, outside 0-%d (runtimes would truncate it to %d)", where, name, e.uid, maxID, uint32(v))
}

// usable says why an account file cannot answer for a name, or nil.
func usable(f *AccountFile, path, what, name string) error {
	switch {
	case f == nil:
		return fmt.Errorf("%s was not read, so the %s %q cannot be resolved", path, what, name)
	case f.Problem != "":
		return fmt.Errorf("%s cannot be read (%s), so the %s %q cannot be resolved", path, f.Problem, what, name)
	case !f.Found:
		return fmt.Errorf("the image has no %s (after whiteouts), so the %s %q cannot be resolved to an id (the container would not start)", path, what, name)
	}
	return nil
}

// passwdEntry is the part of an /etc/passwd line the rule needs.
type passwdEntry struct {
	line   string
	uid    string
	hasUID bool
}

// findPasswdEntry scans passwd as moby/sys/user ParsePasswdFilter does
// (lines trimmed, blank lines skipped, fields split at ":", no comment
// syntax, a scanner error fails the whole read) and returns the first
// entry named name with its 1-based line number.
func findPasswdEntry(content []byte, name string) (passwdEntry, int, bool, error) {
	s := bufio.NewScanner(bytes.NewReader(content))
	var found passwdEntry
	foundLine, ok := 0, false
	for n := 1; s.Scan(); n++ {
		line := bytes.TrimSpace(s.Bytes())
		if len(line) == 0 || ok {
			continue
		}
		fields := strings.Split(string(line), ":")
		if fields[0] != name {
			continue
		}
		found, foundLine, ok = passwdEntry{line: string(line)}, n, true
		if len(fields) > 2 {
			found.uid, found.hasUID = fields[2], true
		}
	}
	if err := s.Err(); err != nil {
		return passwdEntry{}, 0, false, err
	}
	return found, foundLine, ok, nil
}

// resolveGroup reads the group part of USER. Its id never decides the
// rule, but a name that does not resolve means the runtimes refuse the
// USER, and then nothing is vouched for.
func resolveGroup(p idPart, group *AccountFile) (string, error) {
	switch p.kind {
	case idEmpty:
		return "", nil
	case idBad:
		return "", errors.New(p.why)
	case idNumber:
		return fmt.Sprintf("gid %d (the number %q in USER)", p.id, p.raw), nil
	}
	if err := usable(group, GroupPath, "group", p.raw); err != nil {
		return "", err
	}
	gid, line, ok := findGroupEntry(group.Content, p.raw)
	if !ok {
		return "", fmt.Errorf("%s has no group %q, so runtimes cannot resolve it (the container would not start)", group.Source, p.raw)
	}
	return fmt.Sprintf("gid %s (group %s, %s line %d)", gid, p.raw, group.Source, line), nil
}

// findGroupEntry scans group as ParseGroupFilter does (lines trimmed,
// blank lines and "#" comments skipped) for the first entry named name;
// it returns the entry's gid field.
func findGroupEntry(content []byte, name string) (gid string, line int, ok bool) {
	for n, raw := range strings.Split(string(content), "\n") {
		l := strings.TrimSpace(raw)
		if l == "" || l[0] == '#' {
			continue
		}
		fields := strings.Split(l, ":")
		if fields[0] != name {
			continue
		}
		if len(fields) > 2 {
			gid = fields[2]
		}
		return gid, n + 1, true
	}
	return "", 0, false
}

// NeedsAccountFiles reports whether judging user under rules needs the
// image's /etc/passwd and /etc/group: require_non_root is on and USER holds
// a name that could change the verdict (not for "root", uid 0 or an empty
// user part, which fail anyway, and not on Windows, whose accounts live
// elsewhere).
func NeedsAccountFiles(rules Rules, user, platform string) bool {
	if !rules.RequireNonRoot || isWindows(platform) {
		return false
	}
	spec := parseUserSpec(user)
	if spec.extra || spec.user.kind == idBad || spec.user.kind == idEmpty || spec.user.raw == "root" ||
		(spec.user.kind == idNumber && spec.user.id == 0) {
		return false
	}
	return spec.user.kind == idName || spec.group.kind == idName
}

func isWindows(platform string) bool {
	return strings.HasPrefix(strings.ToLower(platform), "windows")
}
