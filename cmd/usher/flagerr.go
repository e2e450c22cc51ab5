package main

import (
	"flag"
	"fmt"
	"strings"
)

// flagError explains a flag the command could not parse: the error, the
// defined flag nearest to a misspelt one, and where to find every flag.
func flagError(fs *flag.FlagSet, err error) error {
	hint := fmt.Sprintf("run usher %s --help for every flag", fs.Name())
	if name, ok := strings.CutPrefix(err.Error(), "flag provided but not defined: "); ok {
		name = strings.TrimLeft(name, "-")
		if near := nearestFlag(fs, name); near != "" {
			return usageErrorf("unknown flag --%s: did you mean --%s? %s", name, near, hint)
		}
		return usageErrorf("unknown flag --%s: %s", name, hint)
	}
	return usageErrorf("%v: %s", err, hint)
}

// nearestFlag returns the defined flag closest to name by edit distance,
// or "" when none is close enough to be what was meant.
func nearestFlag(fs *flag.FlagSet, name string) string {
	best, bestDist := "", max(2, len(name)/3)+1
	fs.VisitAll(func(f *flag.Flag) {
		if d := editDistance(name, f.Name); d < bestDist {
			best, bestDist = f.Name, d
		}
	})
	return best
}

// editDistance is the Levenshtein distance between a and b.
func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}
