package policy

import (
	"fmt"
	"time"
)

// ---- max_size / max_layers ----

func checkSize(facts ImageFacts, rules Rules, add func(Violation)) {
	if rules.MaxSize > 0 && facts.Size > rules.MaxSize {
		add(Violation{
			Rule:     RuleMaxSize,
			Subject:  "size",
			Found:    "compressed size " + formatBytes(facts.Size),
			Requires: "at most " + formatBytes(rules.MaxSize) + " (max_size)",
			Fix:      "shrink the image: a smaller base (distroless, alpine, scratch), a multi-stage build, no build tools or caches in the final stage",
		})
	}
	if rules.MaxLayers > 0 && facts.Layers > rules.MaxLayers {
		add(Violation{
			Rule:     RuleMaxLayers,
			Subject:  "layers",
			Found:    fmt.Sprintf("%d layers", facts.Layers),
			Requires: fmt.Sprintf("at most %d layers (max_layers)", rules.MaxLayers),
			Fix:      "combine RUN steps, or use a multi-stage build that copies only the results into the final stage",
		})
	}
}

func formatBytes(n int64) string {
	const mib = 1 << 20
	switch {
	case n >= 1<<30:
		return fmt.Sprintf("%.1f GiB (%d bytes)", float64(n)/(1<<30), n)
	case n >= mib:
		return fmt.Sprintf("%.1f MiB (%d bytes)", float64(n)/mib, n)
	case n >= 1<<10:
		return fmt.Sprintf("%.1f KiB (%d bytes)", float64(n)/(1<<10), n)
	}
	return fmt.Sprintf("%d bytes", n)
}

// ---- max_image_age ----

func checkAge(facts ImageFacts, rules Rules, now time.Time, add func(Violation)) {
	if rules.MaxImageAge <= 0 {
		return
	}
	requires := "built within the last " + formatDuration(rules.MaxImageAge) + " (max_image_age)"
	// Reproducible builds set created to the epoch (or leave it unset): the
	// age is unknown, and unknown does not pass.
	if facts.Created.IsZero() || !facts.Created.After(time.Unix(0, 0)) {
		created := "unset"
		if !facts.Created.IsZero() {
			created = facts.Created.UTC().Format(time.RFC3339)
		}
		add(Violation{
			Rule:     RuleMaxImageAge,
			Subject:  "created",
			Found:    fmt.Sprintf("no usable creation time (created is %s, as reproducible builds often set it), so the age cannot be judged", created),
			Requires: requires,
			Fix:      "rebuild with SOURCE_DATE_EPOCH set to the commit time, or add an exception for max_image_age with a reason and an expiry",
		})
		return
	}
	age := now.Sub(facts.Created)
	if age <= rules.MaxImageAge {
		return
	}
	add(Violation{
		Rule:     RuleMaxImageAge,
		Subject:  "created",
		Found:    fmt.Sprintf("built %s, %s ago", facts.Created.UTC().Format(time.RFC3339), formatDuration(age)),
		Requires: requires,
		Fix:      "rebuild the image (picking up base image and package updates) and deploy the new digest",
	})
}

// formatDuration says a duration in days and hours when it is that long.
func formatDuration(d time.Duration) string {
	if d < 24*time.Hour {
		return d.String()
	}
	days := d / (24 * time.Hour)
	hours := (d % (24 * time.Hour)) / time.Hour
	if hours == 0 {
		return fmt.Sprintf("%dd", days)
	}
	return fmt.Sprintf("%dd%dh", days, hours)
}
