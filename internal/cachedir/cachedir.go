// Package cachedir makes sure gotch's cache folder can be created before gotch's own
// init runs: that init calls log.Fatal when it cannot create $HOME/.cache/gotch, so an
// unwritable $HOME broke every command, even --help. Imported by the command ahead of
// anything that imports gotch. Go initialises, among the packages whose imports are
// ready, the one with the lexically smallest import path first (Go 1.21+), and
// "github.com/ssdrunner/…" sorts before "github.com/sugarme/gotch"; this package imports
// nothing but the standard library, so its init runs before gotch's.
package cachedir

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
)

// env is gotch's variable naming its cache folder.
const env = "GOTCH_CACHE"

var notice string

func init() {
	if os.Getenv(env) != "" {
		return
	}
	dir, msg := choose(os.Getenv("HOME"), os.TempDir(), os.Getuid())
	if msg != "" {
		os.Setenv(env, dir)
		notice = msg
	}
}

// choose returns gotch's default cache folder under home when it exists or can be made,
// else a folder under tmp with a notice saying why.
func choose(home, tmp string, uid int) (dir, msg string) {
	def := filepath.Join(home, ".cache", "gotch")
	if fi, err := os.Stat(def); err == nil && fi.IsDir() {
		return def, ""
	}
	err := os.MkdirAll(def, 0o755)
	if err == nil {
		return def, ""
	}
	dir = filepath.Join(tmp, "ssdrunner-gotch-cache-"+strconv.Itoa(uid))
	if err2 := os.MkdirAll(dir, 0o700); err2 != nil {
		return dir, fmt.Sprintf("cannot create gotch's cache folder (%v), nor %s (%v)", err, dir, err2)
	}
	return dir, fmt.Sprintf("cannot create gotch's cache folder (%v); using %s instead (set %s to choose)", err, dir, env)
}

// Notice says, when not empty, that the cache fell back to a temporary folder and why.
func Notice() string { return notice }
