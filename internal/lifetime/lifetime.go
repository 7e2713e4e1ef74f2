// Package lifetime reads the lifetimes and windows kubeaccess takes, in
// days (7d) or as Go durations (72h).
package lifetime

import (
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"
)

// maxDays is the most days a time.Duration holds.
const maxDays = int(math.MaxInt64 / int64(24*time.Hour))

// Parse reads a duration that may be given in days ("7d").
func Parse(s string) (time.Duration, error) {
	if days, ok := strings.CutSuffix(s, "d"); ok {
		n, err := strconv.Atoi(days)
		if err != nil || n < 0 {
			return 0, fmt.Errorf("%q is not a number of days", s)
		}
		if n > maxDays {
			return 0, fmt.Errorf("%q is more days than a duration can hold", s)
		}
		return time.Duration(n) * 24 * time.Hour, nil
	}
	d, err := time.ParseDuration(s)
	if err != nil || d < 0 {
		return 0, fmt.Errorf("%q is not a duration such as 7d or 72h", s)
	}
	return d, nil
}

// Format writes d as Parse reads it, in the unit a person would give:
// whole days as "7d", whole hours as "3h", else as a Go duration.
func Format(d time.Duration) string {
	switch {
	case d > 0 && d%(24*time.Hour) == 0:
		return strconv.FormatInt(int64(d/(24*time.Hour)), 10) + "d"
	case d > 0 && d%time.Hour == 0:
		return strconv.FormatInt(int64(d/time.Hour), 10) + "h"
	}
	return d.String()
}
