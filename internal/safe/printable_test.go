package safe

import "testing"

func TestPrintable(t *testing.T) {
	for in, want := range map[string]string{
		"dave":           "dave",
		"zoë":            "zoë",
		"dave\u200b":     `"dave\u200b"`,
		"\x1b[2Jdave":    `"\x1b[2Jdave"`,
		`quote"d`:        `quote"d`,
		"":               `""`,
		"system:masters": "system:masters",
		"line\nbreak":    `"line\nbreak"`,
	} {
		if got := Printable(in); got != want {
			t.Errorf("Printable(%q) = %s, want %s", in, got, want)
		}
	}
}
