package policy

import (
	"fmt"
	"time"
)

// DateLayout is how dates are written in configurations (`expires`) and
// messages: YYYY-MM-DD, a day in UTC.
const DateLayout = "2006-01-02"

// ParseDate reads a YYYY-MM-DD date as midnight UTC. Only the canonical
// spelling is accepted (what Format gives back), so a date that reads two
// ways is refused rather than guessed.
func ParseDate(s string) (time.Time, error) {
	t, err := time.Parse(DateLayout, s)
	if err != nil {
		return time.Time{}, fmt.Errorf("%q is not a date as YYYY-MM-DD: %w", s, err)
	}
	if t.Format(DateLayout) != s {
		return time.Time{}, fmt.Errorf("%q is not a date as YYYY-MM-DD (it reads as %s)", s, t.Format(DateLayout))
	}
	if t.IsZero() {
		// Go's zero time: an exception would read it as "no expiry set".
		return time.Time{}, fmt.Errorf("%q is not a usable date", s)
	}
	return t, nil
}

// ParseDuration reads a positive Go duration such as "720h" or "1h30m"
// (time.ParseDuration: no days; units ns, us, ms, s, m, h).
func ParseDuration(s string) (time.Duration, error) {
	d, err := time.ParseDuration(s)
	if err != nil {
		return 0, fmt.Errorf("%q is not a Go duration such as \"720h\": %w", s, err)
	}
	if d <= 0 {
		return 0, fmt.Errorf("%q is not a positive duration", s)
	}
	return d, nil
}
