package main

import (
	"fmt"
	"image/color"
	"math"
	"os"
	"path/filepath"
	"slices"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/plotutil"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
	"gonum.org/v1/plot/vg/vgimg"
	"gonum.org/v1/plot/vg/vgsvg"

	"github.com/paddock-sh/paddock/bench/internal/report"
)

// palette tells up to ten series apart.
var palette = []color.Color{
	color.RGBA{R: 0x1f, G: 0x77, B: 0xb4, A: 0xff}, // blue
	color.RGBA{R: 0xff, G: 0x7f, B: 0x0e, A: 0xff}, // orange
	color.RGBA{R: 0x2c, G: 0xa0, B: 0x2c, A: 0xff}, // green
	color.RGBA{R: 0xd6, G: 0x27, B: 0x28, A: 0xff}, // red
	color.RGBA{R: 0x94, G: 0x67, B: 0xbd, A: 0xff}, // purple
	color.RGBA{R: 0x8c, G: 0x56, B: 0x4b, A: 0xff}, // brown
	color.RGBA{R: 0xe3, G: 0x77, B: 0xc2, A: 0xff}, // pink
	color.RGBA{R: 0x7f, G: 0x7f, B: 0x7f, A: 0xff}, // grey
	color.RGBA{R: 0xbc, G: 0xbd, B: 0x22, A: 0xff}, // olive
	color.RGBA{R: 0x17, G: 0xbe, B: 0xcf, A: 0xff}, // cyan
}

func colorOf(i int) color.Color { return palette[i%len(palette)] }

// refStyles tell reference lines apart: the first (a baseline) grey and
// dashed, the next (targets) red, dotted.
var refStyles = []draw.LineStyle{
	{Color: color.Gray{Y: 80}, Width: vg.Points(1.2), Dashes: []vg.Length{vg.Points(5), vg.Points(3)}},
	{Color: color.RGBA{R: 0xc0, A: 0xff}, Width: vg.Points(1.2), Dashes: []vg.Length{vg.Points(2), vg.Points(2)}},
}

// render draws one plot of a benchmark's Result at path: SVG, or PNG for
// a path ending in .png. The legend gets a column of its own on the
// right, so it never hides a bar.
func render(p report.Plot, path string) error {
	pl := plot.New()
	pl.Title.Text = p.Title
	pl.X.Label.Text = p.XLabel
	pl.Y.Label.Text = p.YLabel
	pl.Y.Tick.Marker = plot.DefaultTicks{}
	pl.Add(plotter.NewGrid())
	leg := plot.NewLegend()
	leg.Top, leg.Left = true, true
	leg.TextStyle.Font.Size = vg.Points(9)
	var err error
	switch p.Kind {
	case report.Bars:
		err = bars(pl, &leg, p, false)
	case report.HBars:
		err = bars(pl, &leg, p, true)
	case report.Lines:
		err = lines(pl, &leg, p)
	default:
		err = fmt.Errorf("plot %s: unknown kind %q", p.Name, p.Kind)
	}
	if err != nil {
		return err
	}
	w, h := 12*vg.Inch, 5*vg.Inch
	if p.Kind == report.HBars {
		h = vg.Length(1.4+0.4*float64(categoryCount(p))) * vg.Inch
	}
	legW := 3.9 * vg.Inch
	var c vg.CanvasWriterTo
	if filepath.Ext(path) == ".png" {
		c = vgimg.PngCanvas{Canvas: vgimg.New(w, h)}
	} else {
		c = vgsvg.New(w, h)
	}
	dc := draw.New(c)
	pl.Draw(draw.Crop(dc, 0, -legW, 0, 0))
	leg.Draw(draw.Crop(dc, w-legW+vg.Points(8), 0, 0, -vg.Points(20)))
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if _, err := c.WriteTo(f); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// categories are the X values of a Bars plot, in first-seen order.
func categories(p report.Plot) []string {
	var cats []string
	for _, s := range p.Series {
		for _, pt := range s.Points {
			if !slices.Contains(cats, pt.X) {
				cats = append(cats, pt.X)
			}
		}
	}
	return cats
}

func categoryCount(p report.Plot) int { return len(categories(p)) }

// bars draws every series as bars grouped by category, each with a
// whisker from its p10 to its p90, rising from the plot's base.
func bars(pl *plot.Plot, leg *plot.Legend, p report.Plot, horizontal bool) error {
	cats := categories(p)
	if len(cats) == 0 {
		return fmt.Errorf("plot %s: no points", p.Name)
	}
	n := len(p.Series)
	width := 0.8 / float64(n) // in category units
	base := p.Base
	for i, s := range p.Series {
		set := &barSet{base: base, horizontal: horizontal, color: colorOf(i)}
		for _, pt := range s.Points {
			c := slices.Index(cats, pt.X)
			if horizontal {
				c = len(cats) - 1 - c // the first category on top
			}
			pos := float64(c) - 0.4 + width*(float64(i)+0.5)
			set.bars = append(set.bars, bar{pos: pos, half: width * 0.45, val: pt.Median, lo: pt.P10, hi: pt.P90})
		}
		pl.Add(set)
		if n > 1 || s.Name != "" {
			leg.Add(s.Name, set)
		}
	}
	lo, hi := -0.5, float64(len(cats))-0.5
	for i, r := range p.Refs {
		if err := refLine(pl, leg, i, r, lo, hi, horizontal); err != nil {
			return err
		}
	}
	if horizontal {
		rev := slices.Clone(cats)
		slices.Reverse(rev)
		pl.NominalY(rev...)
		pl.Y.Min, pl.Y.Max = lo, hi
	} else {
		pl.NominalX(cats...)
		pl.X.Min, pl.X.Max = lo, hi
	}
	return nil
}

type bar struct{ pos, half, val, lo, hi float64 }

// barSet is one series of bars in data coordinates, so that bars and
// their whiskers line up whatever the canvas size.
type barSet struct {
	bars       []bar
	base       float64
	color      color.Color
	horizontal bool
}

func (b *barSet) Plot(c draw.Canvas, pl *plot.Plot) {
	trX, trY := pl.Transforms(&c)
	pt := func(pos, v float64) vg.Point {
		if b.horizontal {
			return vg.Point{X: trX(v), Y: trY(pos)}
		}
		return vg.Point{X: trX(pos), Y: trY(v)}
	}
	outline := draw.LineStyle{Color: color.Gray{Y: 60}, Width: vg.Points(0.5)}
	whisker := draw.LineStyle{Color: color.Black, Width: vg.Points(1)}
	for _, r := range b.bars {
		poly := []vg.Point{pt(r.pos-r.half, b.base), pt(r.pos-r.half, r.val), pt(r.pos+r.half, r.val), pt(r.pos+r.half, b.base)}
		c.FillPolygon(b.color, c.ClipPolygonXY(poly))
		c.StrokeLines(outline, c.ClipLinesXY(append(poly, poly[0]))...)
		if r.hi > r.lo {
			c.StrokeLines(whisker, c.ClipLinesXY([]vg.Point{pt(r.pos, r.lo), pt(r.pos, r.hi)})...)
			for _, v := range []float64{r.lo, r.hi} {
				c.StrokeLines(whisker, c.ClipLinesXY([]vg.Point{pt(r.pos-r.half/2, v), pt(r.pos+r.half/2, v)})...)
			}
		}
	}
}

func (b *barSet) DataRange() (xmin, xmax, ymin, ymax float64) {
	pmin, pmax, vmin, vmax := math.Inf(1), math.Inf(-1), b.base, b.base
	for _, r := range b.bars {
		pmin, pmax = min(pmin, r.pos-r.half), max(pmax, r.pos+r.half)
		vmin, vmax = min(vmin, r.val, r.lo), max(vmax, r.val, r.hi)
	}
	if b.horizontal {
		return vmin, vmax, pmin, pmax
	}
	return pmin, pmax, vmin, vmax
}

// Thumbnail draws the legend's swatch.
func (b *barSet) Thumbnail(c *draw.Canvas) {
	pts := []vg.Point{{X: c.Min.X, Y: c.Min.Y}, {X: c.Min.X, Y: c.Max.Y}, {X: c.Max.X, Y: c.Max.Y}, {X: c.Max.X, Y: c.Min.Y}}
	c.FillPolygon(b.color, c.ClipPolygonY(pts))
}

// refLine draws a dashed reference line across the categories (a
// vertical one for horizontal bars) and names it in the legend.
func refLine(pl *plot.Plot, leg *plot.Legend, i int, r report.Ref, lo, hi float64, vertical bool) error {
	xys := plotter.XYs{{X: lo, Y: r.Y}, {X: hi, Y: r.Y}}
	if vertical {
		xys = plotter.XYs{{X: r.Y, Y: lo}, {X: r.Y, Y: hi}}
	}
	l, err := plotter.NewLine(xys)
	if err != nil {
		return err
	}
	l.LineStyle = refStyles[min(i, len(refStyles)-1)]
	pl.Add(l)
	if r.Label != "" {
		leg.Add(r.Label, l)
	}
	return nil
}

// lines draws every series as a line through its points (numeric X),
// with p10–p90 whiskers.
func lines(pl *plot.Plot, leg *plot.Legend, p report.Plot) error {
	xmin, xmax := math.Inf(1), math.Inf(-1)
	for i, s := range p.Series {
		if len(s.Points) == 0 {
			continue
		}
		// Shift each series a little sideways so that whiskers at the
		// same X do not hide each other.
		shift := 0.025 * (float64(i) - float64(len(p.Series)-1)/2)
		var xys plotter.XYs
		var errs plotter.YErrors
		for _, pt := range s.Points {
			x := pt.N + shift*pt.N
			if !p.LogX {
				x = pt.N + shift
			}
			xys = append(xys, plotter.XY{X: x, Y: pt.Median})
			errs = append(errs, struct{ Low, High float64 }{pt.Median - pt.P10, pt.P90 - pt.Median})
			xmin, xmax = min(xmin, pt.N), max(xmax, pt.N)
		}
		l, sc, err := plotter.NewLinePoints(xys)
		if err != nil {
			return err
		}
		col := colorOf(i)
		l.Color, sc.Color = col, col
		l.Width = vg.Points(1.5)
		sc.Shape = plotutil.Shape(i)
		eb, err := plotter.NewYErrorBars(errorPoints{xys, errs})
		if err != nil {
			return err
		}
		eb.Color = col
		pl.Add(l, sc, eb)
		leg.Add(s.Name, l, sc)
	}
	if math.IsInf(xmin, 1) {
		return fmt.Errorf("plot %s: no points", p.Name)
	}
	if p.LogX {
		pl.X.Scale = plot.LogScale{}
		pl.X.Tick.Marker = numberTicks(p)
		xmin, xmax = xmin/1.3, xmax*1.3
	}
	for i, r := range p.Refs {
		if err := refLine(pl, leg, i, r, xmin, xmax, false); err != nil {
			return err
		}
	}
	pl.X.Min, pl.X.Max = xmin, xmax
	return nil
}

// errorPoints pairs points with their error bars for plotter.YErrorBars.
type errorPoints struct {
	plotter.XYs
	plotter.YErrors
}

// numberTicks marks exactly the X values the series have.
func numberTicks(p report.Plot) plot.Ticker {
	var xs []float64
	for _, s := range p.Series {
		for _, pt := range s.Points {
			if !slices.Contains(xs, pt.N) {
				xs = append(xs, pt.N)
			}
		}
	}
	slices.Sort(xs)
	var ticks []plot.Tick
	for _, x := range xs {
		ticks = append(ticks, plot.Tick{Value: x, Label: fmt.Sprintf("%g", x)})
	}
	return plot.ConstantTicks(ticks)
}
