package report

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// sortHarness is a minimal DOM for sortJS: one table of three rows (class, AP), clicked on
// its AP heading twice and then on its class heading; it prints the row order after each.
const sortHarness = `
function el(attrs, text) {
  return { a: attrs || {}, textContent: text || "",
    hasAttribute: function (k) { return k in this.a; }, getAttribute: function (k) { return k in this.a ? this.a[k] : null; },
    setAttribute: function (k, v) { this.a[k] = String(v); }, removeAttribute: function (k) { delete this.a[k]; },
    addEventListener: function (_, f) { this.click = f; } };
}
var ths = [el({}, "class"), el({}, "AP")];
function row(name, ap) { var r = el(); r.cells = [el({}, name), el({"data-v": ap}, ap)]; r.name = name; return r; }
var body = { rows: [row("cat", "0.5"), row("ant", "0.25"), row("dog", "-1e308")],
  appendChild: function (r) { this.rows.splice(this.rows.indexOf(r), 1); this.rows.push(r); } };
var table = { tHead: { rows: [{ cells: ths }] }, tBodies: [body] };
var document = { querySelectorAll: function () { return [table]; } };
SCRIPT
function order() { return body.rows.map(function (r) { return r.name; }).join(","); }
ths[1].click(); console.log(order() + " " + ths[1].getAttribute("aria-sort"));
ths[1].click(); console.log(order() + " " + ths[1].getAttribute("aria-sort"));
ths[0].click(); console.log(order() + " " + ths[0].getAttribute("aria-sort") + " " + ths[1].getAttribute("aria-sort"));
`

// TestSortScript runs the page's table-sorting script under Node (skipped without it) on a
// stand-in DOM: numbers sort by value (a missing one, "–", first), text alphabetically, and
// a second click reverses.
func TestSortScript(t *testing.T) {
	node, err := exec.LookPath("node")
	if err != nil {
		t.Skip("node not found: the sorting script is not run")
	}
	path := filepath.Join(t.TempDir(), "sort.js")
	src := strings.Replace(sortHarness, "SCRIPT", sortJS, 1) // as the page has it, CDATA comments included
	if err := os.WriteFile(path, []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(node, path).CombinedOutput()
	if err != nil {
		t.Fatalf("node: %v\n%s", err, out)
	}
	want := "dog,ant,cat ascending\ncat,ant,dog descending\nant,cat,dog ascending null\n"
	if string(out) != want {
		t.Errorf("sort order:\n%s\nwant:\n%s", out, want)
	}
}
