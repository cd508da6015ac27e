//go:build windows

package gate

// oNoFollow is not defined on Windows: Load refuses links with Lstat first.
const oNoFollow = 0
