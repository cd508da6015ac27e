package scan

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
)

// Everything in the cache directory decides whether images pass: cached
// reports, Trivy's layer cache and the vulnerability database. A directory
// another user can write lets that user plant a report that passes an image,
// so the directory must be the current user's and writable by nobody else,
// and files in it are never read through symbolic links.

// PrepareCacheDir creates dir (mode 0700) when it is missing and checks that
// it can be trusted: a directory owned by the current user that neither its
// group nor others can write. The error says how to fix it.
func PrepareCacheDir(dir string) error {
	fi, err := os.Stat(dir)
	if errors.Is(err, os.ErrNotExist) {
		if err := os.MkdirAll(dir, 0o700); err != nil {
			return fmt.Errorf("the cache directory %s cannot be created (%v): choose a directory you own with `cache_dir` or IMAGEGUARD_CACHE_DIR", dir, rootCause(err))
		}
		fi, err = os.Stat(dir)
	}
	if err != nil {
		return fmt.Errorf("the cache directory %s cannot be read (%v): choose a directory you own with `cache_dir` or IMAGEGUARD_CACHE_DIR", dir, rootCause(err))
	}
	if !fi.IsDir() {
		return fmt.Errorf("the cache directory %s is not a directory: choose a directory you own with `cache_dir` or IMAGEGUARD_CACHE_DIR", dir)
	}
	return trustedDir(dir, fi)
}

// trustedDir checks the owner and mode of a cache directory.
func trustedDir(dir string, fi os.FileInfo) error {
	if uid, ok := ownerOf(fi); ok && uid != currentUID() {
		return fmt.Errorf("the cache directory %s is owned by uid %d, not by the user running Terraform (uid %d): its owner could plant cached reports or a database that make images pass. "+
			"Use a directory you own (set `cache_dir` or IMAGEGUARD_CACHE_DIR), or take this one over: `chown %d %s && chmod 700 %s`",
			dir, uid, currentUID(), currentUID(), dir, dir)
	}
	if perm := fi.Mode().Perm(); groupOrOtherWritable(perm) {
		return fmt.Errorf("the cache directory %s is writable by its group or by others (mode %04o): they could plant cached reports or a database that make images pass. "+
			"Run `chmod 700 %s`, or set `cache_dir` (or IMAGEGUARD_CACHE_DIR) to a directory only you can write",
			dir, perm, dir)
	}
	return nil
}

// UntrustedCacheFileError is a cache file imageguard refuses to read: a
// symbolic link, not a regular file, someone else's, writable by others, or
// a report that does not belong to the scan asking for it.
type UntrustedCacheFileError struct {
	Path   string
	Reason string
}

func (e *UntrustedCacheFileError) Error() string {
	return fmt.Sprintf("the cached file %s %s, so it was not trusted. Delete it (`rm %s`) and plan again; if you did not create it, check who else can write to the cache directory",
		e.Path, e.Reason, e.Path)
}

// checkSubdir makes sure a directory inside the cache directory is a real
// directory (not a link to somewhere else) with the cache directory's trust.
func checkSubdir(dir string) error {
	fi, err := os.Lstat(dir)
	if err != nil {
		return err
	}
	if fi.Mode()&os.ModeSymlink != 0 {
		return &UntrustedCacheFileError{Path: dir, Reason: "is a symbolic link (cache files are never read through links)"}
	}
	if !fi.IsDir() {
		return &UntrustedCacheFileError{Path: dir, Reason: "is not a directory"}
	}
	if uid, ok := ownerOf(fi); ok && uid != currentUID() {
		return &UntrustedCacheFileError{Path: dir, Reason: fmt.Sprintf("is owned by uid %d, not by the current user (uid %d)", uid, currentUID())}
	}
	if groupOrOtherWritable(fi.Mode().Perm()) {
		return &UntrustedCacheFileError{Path: dir, Reason: fmt.Sprintf("is writable by its group or by others (mode %04o)", fi.Mode().Perm())}
	}
	return nil
}

// readTrusted reads a cache file without following a symbolic link, and
// only if it is a regular file of the current user that nobody else can
// write. A missing file is os.ErrNotExist.
func readTrusted(p string, limit int64) ([]byte, error) {
	f, err := openNoFollow(p)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil, err
		}
		if isSymlinkErr(p, err) {
			return nil, &UntrustedCacheFileError{Path: p, Reason: "is a symbolic link (cache files are never read through links)"}
		}
		return nil, err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, err
	}
	if !fi.Mode().IsRegular() {
		return nil, &UntrustedCacheFileError{Path: p, Reason: "is not a regular file"}
	}
	if uid, ok := ownerOf(fi); ok && uid != currentUID() {
		return nil, &UntrustedCacheFileError{Path: p, Reason: fmt.Sprintf("is owned by uid %d, not by the current user (uid %d)", uid, currentUID())}
	}
	if groupOrOtherWritable(fi.Mode().Perm()) {
		return nil, &UntrustedCacheFileError{Path: p, Reason: fmt.Sprintf("is writable by its group or by others (mode %04o)", fi.Mode().Perm())}
	}
	// One read into a buffer of the file's size (plus one byte to see it
	// end), not ReadAll's growing copies.
	buf := bytes.NewBuffer(make([]byte, 0, min(fi.Size(), limit)+1))
	_, err = buf.ReadFrom(io.LimitReader(f, limit))
	return buf.Bytes(), err
}

// isSymlinkErr tells whether opening p without following links failed
// because p is a link (ELOOP on Unix).
func isSymlinkErr(p string, _ error) bool {
	fi, err := os.Lstat(p)
	return err == nil && fi.Mode()&os.ModeSymlink != 0
}
