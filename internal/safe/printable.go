package safe

import (
	"strconv"
	"unicode"
)

// Printable returns s as it is when every character of it prints as
// itself, and quoted otherwise, so that a string someone else wrote (a
// record, a request) can neither move the cursor nor hide a character.
func Printable(s string) string {
	for _, r := range s {
		if !unicode.IsPrint(r) {
			return strconv.Quote(s)
		}
	}
	if s == "" {
		return `""`
	}
	return s
}
