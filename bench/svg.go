package bench

import (
	"fmt"
	"html"
	"io"
	"math"
	"slices"
	"strings"
)

// chart is one panel: a figure of each configuration at each player count.
type chart struct {
	title string
	unit  string
	value func(r *Result) (float64, bool)
}

var svgCharts = []chart{
	{"Server CPU per Gbit delivered", "CPU-seconds / Gbit", func(r *Result) (float64, bool) {
		return r.CPUPerGbit, r.Bytes > 0
	}},
	{"Server system calls per GB delivered", "syscalls / GB", func(r *Result) (float64, bool) {
		return r.SyscallsPerGB, r.Syscalls.Counted && r.Bytes > 0
	}},
}

var svgPalette = []string{"#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf"}

const (
	panelW, panelH = 520, 340
	marginL        = 70
	marginB        = 50
	marginT        = 40
	legendW        = 170
)

// WriteSVG draws the results as grouped bar charts, one panel per figure:
// player counts along x, one bar per configuration. It needs no library.
func WriteSVG(w io.Writer, results []Result) error {
	var configs []string
	var players []int
	for _, r := range results {
		if !slices.Contains(configs, r.Config) {
			configs = append(configs, r.Config)
		}
		if !slices.Contains(players, r.Players) {
			players = append(players, r.Players)
		}
	}
	slices.Sort(players)
	width := len(svgCharts)*panelW + legendW
	var b strings.Builder
	fmt.Fprintf(&b, `<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" font-family="sans-serif" font-size="12">`+"\n", width, panelH)
	fmt.Fprintf(&b, `<rect width="%d" height="%d" fill="white"/>`+"\n", width, panelH)
	for i, c := range svgCharts {
		drawPanel(&b, float64(i*panelW), c, results, configs, players)
	}
	lx := len(svgCharts)*panelW + 10
	for i, name := range configs {
		y := marginT + i*20
		fmt.Fprintf(&b, `<rect x="%d" y="%d" width="12" height="12" fill="%s"/>`, lx, y, svgPalette[i%len(svgPalette)])
		fmt.Fprintf(&b, `<text x="%d" y="%d">%s</text>`+"\n", lx+18, y+11, html.EscapeString(name))
	}
	b.WriteString("</svg>\n")
	_, err := io.WriteString(w, b.String())
	return err
}

func drawPanel(b *strings.Builder, x0 float64, c chart, results []Result, configs []string, players []int) {
	top := 0.0
	for i := range results {
		if v, ok := c.value(&results[i]); ok && results[i].Error == "" {
			top = max(top, v)
		}
	}
	step := niceStep(top / 5)
	top = math.Max(step*math.Ceil(top/step), step)
	plotW := float64(panelW - marginL - 20)
	plotH := float64(panelH - marginT - marginB)
	px, py := x0+marginL, float64(marginT)
	fmt.Fprintf(b, `<text x="%.0f" y="20" font-size="14" font-weight="bold">%s</text>`+"\n", px, html.EscapeString(c.title))
	for v := 0.0; v <= top*1.0001; v += step {
		y := py + plotH - v/top*plotH
		fmt.Fprintf(b, `<line x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f" stroke="#ddd"/>`, px, y, px+plotW, y)
		fmt.Fprintf(b, `<text x="%.1f" y="%.1f" text-anchor="end">%s</text>`+"\n", px-6, y+4, formatTick(v))
	}
	fmt.Fprintf(b, `<text transform="translate(%.0f,%.0f) rotate(-90)" text-anchor="middle">%s</text>`+"\n",
		x0+16, py+plotH/2, html.EscapeString(c.unit))
	group := plotW / float64(len(players))
	bar := group * 0.8 / float64(len(configs))
	for gi, n := range players {
		gx := px + float64(gi)*group + group*0.1
		fmt.Fprintf(b, `<text x="%.1f" y="%.1f" text-anchor="middle">%d players</text>`+"\n", gx+group*0.4, py+plotH+20, n)
		for ci, name := range configs {
			for i := range results {
				r := &results[i]
				v, ok := c.value(r)
				if r.Config != name || r.Players != n || !ok || r.Error != "" {
					continue
				}
				h := v / top * plotH
				fmt.Fprintf(b, `<rect x="%.1f" y="%.1f" width="%.1f" height="%.1f" fill="%s"><title>%s @%d: %s</title></rect>`+"\n",
					gx+float64(ci)*bar, py+plotH-h, bar*0.9, h, svgPalette[ci%len(svgPalette)], html.EscapeString(name), n, formatTick(v))
			}
		}
	}
	fmt.Fprintf(b, `<line x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f" stroke="black"/>`+"\n", px, py+plotH, px+plotW, py+plotH)
}

// niceStep rounds a raw tick step up to 1, 2 or 5 times a power of ten.
func niceStep(raw float64) float64 {
	if raw <= 0 || math.IsNaN(raw) || math.IsInf(raw, 0) {
		return 1
	}
	p := math.Pow(10, math.Floor(math.Log10(raw)))
	for _, m := range []float64{1, 2, 5, 10} {
		if m*p >= raw {
			return m * p
		}
	}
	return 10 * p
}

func formatTick(v float64) string {
	switch {
	case v >= 1e6:
		return fmt.Sprintf("%.3gM", v/1e6)
	case v >= 1e3:
		return fmt.Sprintf("%.3gk", v/1e3)
	}
	return fmt.Sprintf("%.3g", v)
}
