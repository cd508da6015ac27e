//go:build !linux

package vulndb

// exchange reports that an atomic directory swap is not available here;
// the caller renames in two steps under its lock.
func exchange(a, b string) (bool, error) { return false, nil }
