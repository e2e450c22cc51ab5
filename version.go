package usher

import (
	"fmt"
	"strconv"
	"strings"
)

// Version is a dotted version number of a grant or a checkout, like
// 2026.2 or 5.0.1, compared part by part as numbers. A missing part counts
// as 0, so 2026.2 equals 2026.2.0.
type Version []uint32

// maxVersionParts bounds the parts of a version number.
const maxVersionParts = 8

// ParseVersion reads a dotted version number: 1 to 8 decimal parts, each
// without leading zeros.
//
// Errors: EInvalid.
func ParseVersion(s string) (Version, error) {
	parts := strings.Split(s, ".")
	if s == "" || len(parts) > maxVersionParts {
		return nil, Errorf(EInvalid, "version %q is not valid: write 1 to %d numbers separated by dots, like 2026.2", s, maxVersionParts)
	}
	v := make(Version, len(parts))
	for i, p := range parts {
		n, err := strconv.ParseUint(p, 10, 32)
		if err != nil || strconv.FormatUint(n, 10) != p {
			return nil, Errorf(EInvalid, "version %q is not valid: each part must be a number without leading zeros, like 2026.2", s)
		}
		v[i] = uint32(n)
	}
	return v, nil
}

// Compare returns -1, 0 or +1 as v is lower than, equal to or higher than w.
func (v Version) Compare(w Version) int {
	for i := range max(len(v), len(w)) {
		a, b := v.part(i), w.part(i)
		switch {
		case a < b:
			return -1
		case a > b:
			return 1
		}
	}
	return 0
}

func (v Version) part(i int) uint32 {
	if i < len(v) {
		return v[i]
	}
	return 0
}

// String writes v with dots.
func (v Version) String() string {
	var b strings.Builder
	for i, p := range v {
		if i > 0 {
			b.WriteByte('.')
		}
		fmt.Fprint(&b, p)
	}
	return b.String()
}
