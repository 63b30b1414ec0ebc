package report

import (
	"fmt"
	"html"
	"math"
	"strconv"
	"strings"
)

// page builds an HTML document that is also well-formed XML (every element closed, every
// attribute quoted, only XML's own entities), needs nothing from a network, and reads without
// JavaScript (which only sorts tables).
type page struct {
	b strings.Builder
}

const pageCSS = `
body{font:15px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,"Helvetica Neue",Arial,sans-serif;color:#222;margin:0 auto;padding:16px 24px 48px;max-width:1200px}
h1{font-size:24px;margin:8px 0 4px}h2{font-size:19px;margin:32px 0 8px;border-bottom:1px solid #ddd;padding-bottom:4px}h3{font-size:16px;margin:20px 0 6px}
.sub{color:#666;margin:0 0 16px}
table{border-collapse:collapse;margin:8px 0 16px;font-variant-numeric:tabular-nums}
th,td{padding:3px 10px;border-bottom:1px solid #e6e6e6;text-align:left;vertical-align:top}
td.n,th.n{text-align:right}
table.facts th{font-weight:600;color:#444;white-space:nowrap}
table.sortable th{cursor:pointer;user-select:none;background:#f4f5f7}
table.sortable th[aria-sort=ascending]::after{content:" \25B2"}table.sortable th[aria-sort=descending]::after{content:" \25BC"}
.scroll{max-height:640px;overflow:auto;display:inline-block;border:1px solid #eee}
.scroll table{margin:0}.scroll th{position:sticky;top:0}
figure{margin:12px 0 24px}figure svg{max-width:100%;height:auto;display:block}
figcaption{color:#555;font-size:13px;margin-top:4px}
.status{display:inline-block;padding:1px 8px;border-radius:10px;font-size:13px;font-weight:600;color:#fff;background:#777}
.status.finished{background:#2a7d3a}.status.failed{background:#b3261e}.status.interrupted{background:#b06d00}.status.progress{background:#3a76af}
.note{background:#fff8e1;border-left:4px solid #e0a800;padding:6px 10px;margin:8px 0}
.err{background:#fdecea;border-left:4px solid #b3261e;padding:6px 10px;margin:8px 0;white-space:pre-wrap}
pre{background:#f6f8fa;padding:10px;overflow:auto;font-size:13px;line-height:1.35}
details{margin:8px 0}summary{cursor:pointer;color:#1f5f99}
.muted{color:#777}
`

// sortJS sorts a table.sortable by the clicked column: numbers (a cell's data-v, else its
// text) numerically, other text alphabetically; a second click reverses.
const sortJS = `//<![CDATA[
document.querySelectorAll("table.sortable").forEach(function (t) {
  var hs = t.tHead.rows[0].cells;
  Array.prototype.forEach.call(hs, function (th, i) {
    th.title = "sort by this column";
    th.addEventListener("click", function () {
      var up = th.getAttribute("aria-sort") !== "ascending";
      Array.prototype.forEach.call(hs, function (h) { h.removeAttribute("aria-sort"); });
      th.setAttribute("aria-sort", up ? "ascending" : "descending");
      var key = function (r) { var c = r.cells[i]; return c.hasAttribute("data-v") ? c.getAttribute("data-v") : c.textContent; };
      var rows = Array.prototype.slice.call(t.tBodies[0].rows);
      rows.sort(function (a, b) {
        var x = key(a), y = key(b), nx = parseFloat(x), ny = parseFloat(y);
        var c = (isNaN(nx) || isNaN(ny)) ? x.localeCompare(y) : nx - ny;
        return up ? c : -c;
      });
      rows.forEach(function (r) { t.tBodies[0].appendChild(r); });
    });
  });
});
//]]>`

func (p *page) start(title string) {
	p.b.WriteString("<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\"/>\n")
	p.b.WriteString("<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\"/>\n")
	p.b.WriteString("<meta name=\"generator\" content=\"ssdrunner\"/>\n")
	fmt.Fprintf(&p.b, "<title>%s</title>\n<style>%s</style>\n</head>\n<body>\n", esc(title), pageCSS)
}

func (p *page) end() string {
	fmt.Fprintf(&p.b, "<script>\n%s\n</script>\n</body>\n</html>\n", sortJS)
	return p.b.String()
}

// raw appends markup as is.
func (p *page) raw(format string, args ...any) { fmt.Fprintf(&p.b, format, args...) }

// h2 starts a section.
func (p *page) h2(id, title string) {
	fmt.Fprintf(&p.b, "<h2 id=\"%s\">%s</h2>\n", esc(id), esc(title))
}

// para writes a paragraph of plain text with class cls ("" for none).
func (p *page) para(cls, text string) {
	if cls != "" {
		fmt.Fprintf(&p.b, "<p class=\"%s\">%s</p>\n", cls, esc(text))
		return
	}
	fmt.Fprintf(&p.b, "<p>%s</p>\n", esc(text))
}

// facts writes a two-column table of label and value (values are plain text).
func (p *page) facts(rows [][2]string) {
	p.b.WriteString("<table class=\"facts\"><tbody>\n")
	for _, r := range rows {
		fmt.Fprintf(&p.b, "<tr><th>%s</th><td>%s</td></tr>\n", esc(r[0]), esc(r[1]))
	}
	p.b.WriteString("</tbody></table>\n")
}

// cell is one table cell: its text, and for numbers the value to sort by.
type cell struct {
	text string
	num  bool
	v    float64
}

func txt(s string) cell { return cell{text: s} }

// numCell is a number shown as text; NaN shows as "–" and sorts first.
func numCell(text string, v float64) cell {
	if math.IsNaN(v) {
		return cell{text: "–", num: true, v: math.Inf(-1)}
	}
	return cell{text: text, num: true, v: v}
}

// table writes a table; sortable ones sort by clicking a heading, and scroll tall ones
// scroll inside a box with the heading kept in view.
func (p *page) table(head []string, numeric []bool, rows [][]cell, sortable, scroll bool) {
	if scroll {
		p.b.WriteString("<div class=\"scroll\">")
	}
	if sortable {
		p.b.WriteString("<table class=\"sortable\">")
	} else {
		p.b.WriteString("<table>")
	}
	p.b.WriteString("<thead><tr>")
	for i, h := range head {
		if i < len(numeric) && numeric[i] {
			fmt.Fprintf(&p.b, "<th class=\"n\">%s</th>", esc(h))
		} else {
			fmt.Fprintf(&p.b, "<th>%s</th>", esc(h))
		}
	}
	p.b.WriteString("</tr></thead>\n<tbody>\n")
	for _, r := range rows {
		p.b.WriteString("<tr>")
		for _, c := range r {
			if c.num {
				v := "-1e308"
				if !math.IsInf(c.v, -1) {
					v = strconv.FormatFloat(c.v, 'g', -1, 64)
				}
				fmt.Fprintf(&p.b, "<td class=\"n\" data-v=\"%s\">%s</td>", v, esc(c.text))
			} else {
				fmt.Fprintf(&p.b, "<td>%s</td>", esc(c.text))
			}
		}
		p.b.WriteString("</tr>\n")
	}
	p.b.WriteString("</tbody></table>")
	if scroll {
		p.b.WriteString("</div>")
	}
	p.b.WriteString("\n")
}

// figure inlines a drawn chart with a caption linking its PNG and SVG files.
func (p *page) figure(d drawn) {
	fmt.Fprintf(&p.b, "<figure id=\"%s\">%s<figcaption>%s · <a href=\"%s\">PNG</a> · <a href=\"%s\">SVG</a></figcaption></figure>\n",
		esc("chart-"+d.name), d.inline, esc(d.title), esc(d.png), esc(d.svg))
}

// pre writes preformatted text inside a closed details element.
func (p *page) details(summary, text string) {
	fmt.Fprintf(&p.b, "<details><summary>%s</summary><pre>%s</pre></details>\n", esc(summary), esc(text))
}

func esc(s string) string { return html.EscapeString(s) }

// md escapes text for a Markdown table cell.
func md(s string) string {
	s = strings.ReplaceAll(s, "|", `\|`)
	s = strings.ReplaceAll(s, "\n", " ")
	return s
}

// mdTable writes a Markdown table.
func mdTable(b *strings.Builder, head []string, numeric []bool, rows [][]string) {
	b.WriteString("|")
	for _, h := range head {
		fmt.Fprintf(b, " %s |", md(h))
	}
	b.WriteString("\n|")
	for i := range head {
		if i < len(numeric) && numeric[i] {
			b.WriteString(" ---: |")
		} else {
			b.WriteString(" --- |")
		}
	}
	b.WriteString("\n")
	for _, r := range rows {
		b.WriteString("|")
		for _, c := range r {
			fmt.Fprintf(b, " %s |", md(c))
		}
		b.WriteString("\n")
	}
	b.WriteString("\n")
}

// Number formats.

func fmtAP(v float64) string {
	if math.IsNaN(v) {
		return "–"
	}
	return strconv.FormatFloat(v, 'f', 3, 64)
}

func fmtLoss(v float64) string {
	if math.IsNaN(v) {
		return "–"
	}
	return strconv.FormatFloat(v, 'f', 4, 64)
}

func fmtG(v float64) string {
	if math.IsNaN(v) {
		return "–"
	}
	return strconv.FormatFloat(v, 'g', 4, 64)
}

// fmtDuration writes seconds as "1 h 02 min", "8 min 47 s" or "12.3 s".
func fmtDuration(s float64) string {
	switch {
	case s <= 0 || math.IsNaN(s):
		return "–"
	case s < 60:
		return fmt.Sprintf("%.1f s", s)
	case s < 3600:
		return fmt.Sprintf("%d min %02d s", int(s)/60, int(s)%60)
	}
	return fmt.Sprintf("%d h %02d min", int(s)/3600, (int(s)%3600)/60)
}

// fmtCount writes n with thin groups of three digits: 1,234,567.
func fmtCount(n int64) string {
	s := strconv.FormatInt(n, 10)
	neg := strings.HasPrefix(s, "-")
	s = strings.TrimPrefix(s, "-")
	var out []string
	for len(s) > 3 {
		out = append([]string{s[len(s)-3:]}, out...)
		s = s[:len(s)-3]
	}
	out = append([]string{s}, out...)
	r := strings.Join(out, ",")
	if neg {
		r = "-" + r
	}
	return r
}
