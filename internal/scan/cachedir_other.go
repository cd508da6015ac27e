//go:build !unix

package scan

import "os"

// Windows has no uid and no group/other mode bits: directory ACLs are the
// user's to manage there, and links are checked with Lstat.
func ownerOf(os.FileInfo) (int, bool) { return 0, false }

func currentUID() int { return -1 }

func groupOrOtherWritable(os.FileMode) bool { return false }

func openNoFollow(p string) (*os.File, error) {
	if fi, err := os.Lstat(p); err == nil && fi.Mode()&os.ModeSymlink != 0 {
		return nil, &os.PathError{Op: "open", Path: p, Err: errSymlink}
	}
	return os.Open(p)
}

var errSymlink = symlinkError{}

type symlinkError struct{}

func (symlinkError) Error() string { return "is a symbolic link" }
