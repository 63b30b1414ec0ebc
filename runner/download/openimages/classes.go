package openimages

import (
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
)

// Group filters of a class: which of its boxes the selection keeps, by IsGroupOf (a box
// around several objects of the class, e.g. a crowd).
const (
	GroupAll     = ""       // keep every image of the class
	GroupOnly    = "group"  // drop the images where the class has a single-object box
	GroupExclude = "~group" // drop the images where the class has a group box
)

// ClassSpec is one entry of the class list: Name[:group_filter[:percentage]].
type ClassSpec struct {
	Name string
	// Group is GroupAll, GroupOnly or GroupExclude.
	Group string
	// Fraction is the share of the class's annotation rows whose images are kept (the
	// reference's "percentage", a number in [0, 1]; see Select for how it is drawn).
	Fraction float64
}

// String writes the spec back in the syntax of ParseClasses.
func (c ClassSpec) String() string {
	s := c.Name
	if c.Group != GroupAll || c.Fraction != 1 {
		s += ":" + c.Group
	}
	if c.Fraction != 1 {
		s += ":" + strconv.FormatFloat(c.Fraction, 'g', -1, 64)
	}
	return s
}

// ParseClasses parses the class list of --classes, as the reference's --class_names:
// comma-separated entries Name[:group_filter[:percentage]], each part trimmed of spaces;
// group_filter is empty, "group" or "~group"; percentage is a fraction in [0, 1] ("0.3") or
// a percentage ("30%"), 1 when empty. Where the reference silently selects nothing or fails
// later (an empty or repeated name, an unknown group filter, a share outside [0, 1], a
// fourth part), this is an error naming the entry.
func ParseClasses(s string) ([]ClassSpec, error) {
	if strings.TrimSpace(s) == "" {
		return nil, errors.New(`no class given (e.g. --classes "Handgun,Shotgun")`)
	}
	var out []ClassSpec
	seen := map[string]bool{}
	for i, entry := range strings.Split(s, ",") {
		entry = strings.TrimSpace(entry)
		fail := func(format string, args ...any) error {
			return fmt.Errorf("class %d %q: %s (syntax: Name[:group|~group[:fraction]])", i+1, entry, fmt.Sprintf(format, args...))
		}
		parts := strings.Split(entry, ":")
		for k := range parts {
			parts[k] = strings.TrimSpace(parts[k])
		}
		c := ClassSpec{Name: parts[0], Fraction: 1}
		switch {
		case c.Name == "":
			return nil, fail("empty class name")
		case len(parts) > 3:
			return nil, fail("%d parts separated by ':', at most 3", len(parts))
		case seen[c.Name]:
			return nil, fail("%q is listed twice", c.Name)
		}
		seen[c.Name] = true
		if len(parts) >= 2 {
			switch parts[1] {
			case GroupAll, GroupOnly, GroupExclude:
				c.Group = parts[1]
			default:
				return nil, fail(`group filter %q: want "group" (keep only group boxes), "~group" (no group boxes) or nothing`, parts[1])
			}
		}
		if len(parts) == 3 && parts[2] != "" {
			f, err := parseFraction(parts[2])
			if err != nil {
				return nil, fail("%v", err)
			}
			c.Fraction = f
		}
		out = append(out, c)
	}
	return out, nil
}

func parseFraction(s string) (float64, error) {
	num, pct := strings.CutSuffix(s, "%")
	f, err := strconv.ParseFloat(strings.TrimSpace(num), 64)
	if err != nil || math.IsNaN(f) || math.IsInf(f, 0) {
		return 0, fmt.Errorf("percentage %q is not a number", s)
	}
	if pct {
		f /= 100
	}
	if f < 0 || f > 1 {
		if !pct && f > 1 && f <= 100 {
			return 0, fmt.Errorf("percentage %s is outside [0, 1]: it is a fraction (0.3 keeps 30 %%; or write %s%%)", s, s)
		}
		return 0, fmt.Errorf("percentage %s is outside [0, 1] (0%%–100%%)", s)
	}
	return f, nil
}
