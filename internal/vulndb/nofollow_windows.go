//go:build windows

package vulndb

// oNoFollow is not needed on Windows: validate checks links with Lstat.
const oNoFollow = 0
