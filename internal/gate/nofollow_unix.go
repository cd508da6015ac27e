//go:build unix

package gate

import "syscall"

// oNoFollow makes opening a plan record fail when it is a symbolic link.
const oNoFollow = syscall.O_NOFOLLOW
