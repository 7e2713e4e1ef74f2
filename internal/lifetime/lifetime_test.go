package lifetime

import (
	"testing"
	"time"
)

func TestParse(t *testing.T) {
	for in, want := range map[string]time.Duration{"7d": 7 * 24 * time.Hour, "72h": 72 * time.Hour, "90m": 90 * time.Minute, "0d": 0} {
		if got, err := Parse(in); err != nil || got != want {
			t.Errorf("Parse(%q) = %s, %v; want %s", in, got, err, want)
		}
	}
	for _, bad := range []string{"d", "-1d", "7x", "seven days", "-5h"} {
		if _, err := Parse(bad); err == nil {
			t.Errorf("Parse(%q) accepted", bad)
		}
	}
}

func TestFormatReadsBack(t *testing.T) {
	for d, want := range map[time.Duration]string{7 * 24 * time.Hour: "7d", 3 * time.Hour: "3h", 90 * time.Minute: "1h30m0s", 0: "0s"} {
		got := Format(d)
		if got != want {
			t.Errorf("Format(%s) = %q, want %q", d, got, want)
		}
		if back, err := Parse(got); err != nil || back != d {
			t.Errorf("Parse(Format(%s)) = %s, %v", d, back, err)
		}
	}
}
