//go:build unix

package vulndb

import "syscall"

// oNoFollow makes opening a cache file fail when it is a symbolic link.
const oNoFollow = syscall.O_NOFOLLOW
