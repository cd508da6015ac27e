package vulndb

import (
	"errors"
	"fmt"
	"strings"
	"time"
)

// Error kinds. Every error Ensure returns is an *Error whose Kind is one of
// these; test with errors.Is. An error can match several kinds: a failed
// download with no cached copy is ErrUnavailable and ErrMissing, and also
// matches the kind of each repository's failure (ErrCorrupt, ErrArtifact,
// ErrSchema).
var (
	// ErrMissing: there is no usable database in the cache and none could
	// be (or, with SkipUpdate, was allowed to be) downloaded.
	ErrMissing = errors.New("vulnerability database missing")
	// ErrUnavailable: no repository could be downloaded from.
	ErrUnavailable = errors.New("vulnerability database unavailable")
	// ErrStale: the database is older than MaxAge.
	ErrStale = errors.New("vulnerability database stale")
	// ErrCorrupt: an archive, metadata.json or the bolt file is unreadable.
	ErrCorrupt = errors.New("vulnerability database corrupt")
	// ErrSchema: the schema version is not trivy-db's db.SchemaVersion.
	ErrSchema = errors.New("vulnerability database schema version mismatch")
	// ErrArtifact: the repository holds something other than a Trivy DB
	// artifact (layer count or media type).
	ErrArtifact = errors.New("not a Trivy vulnerability database artifact")
	// ErrCacheDir: the cache directory cannot be used (no permission,
	// lock failure).
	ErrCacheDir = errors.New("vulnerability database cache unusable")
	// ErrFuture: the database says it was updated after now (beyond
	// MaxClockSkew). It would never look stale, so it is never used.
	ErrFuture = errors.New("vulnerability database from the future")
)

// Error is an error of this package: Message is a full sentence saying what
// happened and what to do.
type Error struct {
	Kind    error
	Message string
	// Err is the underlying error, if any.
	Err error
}

func (e *Error) Error() string { return e.Message }

// Unwrap exposes the kind and the underlying error to errors.Is / As.
func (e *Error) Unwrap() []error {
	if e.Err == nil {
		return []error{e.Kind}
	}
	return []error{e.Kind, e.Err}
}

func newError(kind error, err error, format string, args ...any) *Error {
	return &Error{Kind: kind, Err: err, Message: fmt.Sprintf(format, args...)}
}

// sentence makes an error text end with a full stop, so that it can be
// embedded in a longer message.
func sentence(err error) string {
	s := strings.TrimSpace(err.Error())
	if s == "" {
		return "unknown error."
	}
	if strings.HasSuffix(s, ".") {
		return s
	}
	return s + "."
}

// formatAge renders a duration rounded for humans: "4d6h", "5h", "42m".
func formatAge(d time.Duration) string {
	if d < 0 {
		return "-" + formatAge(-d)
	}
	switch {
	case d >= 24*time.Hour:
		h := int64(d.Round(time.Hour) / time.Hour)
		if h%24 == 0 {
			return fmt.Sprintf("%dd", h/24)
		}
		return fmt.Sprintf("%dd%dh", h/24, h%24)
	case d >= time.Hour:
		return fmt.Sprintf("%dh", int64(d.Round(time.Hour)/time.Hour))
	case d >= time.Minute:
		return fmt.Sprintf("%dm", int64(d.Round(time.Minute)/time.Minute))
	}
	return fmt.Sprintf("%ds", int64(d.Round(time.Second)/time.Second))
}

// formatDuration renders a configured duration the way a user writes it:
// "72h", "90m", "1h30m".
func formatDuration(d time.Duration) string {
	s := d.String()
	if strings.HasSuffix(s, "m0s") {
		s = strings.TrimSuffix(s, "0s")
	}
	if strings.HasSuffix(s, "h0m") {
		s = strings.TrimSuffix(s, "0m")
	}
	return s
}
