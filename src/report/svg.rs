//! Charts as inline SVG, built from data with explicit scales: line charts (with threshold lines)
//! and stacked bar charts. Every chart is an `<svg class="chart">` with a `<title>`, axes with
//! "nice" ticks, a legend, and a `<title>` on every point so values show on hover.

use std::fmt::Write as _;

/// Escape text for XML/HTML.
pub fn escape(text: &str) -> String {
    text.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;")
}

/// One line (or one bar segment series) of a chart.
#[derive(Debug, Clone)]
pub struct Series {
    /// Legend label.
    pub name: String,
    /// (year, value); None leaves a gap.
    pub points: Vec<(i32, Option<f64>)>,
    /// CSS colour.
    pub color: &'static str,
}

/// A horizontal reference line (a threshold).
#[derive(Debug, Clone)]
pub struct Threshold {
    /// Its value.
    pub value: f64,
    /// Its label (`标准 0.65`).
    pub label: String,
    /// CSS colour.
    pub color: &'static str,
}

/// How values are shown on the axis and in tooltips.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ValueFormat {
    /// Whole numbers with thousands separators.
    Integer,
    /// Three decimals (coefficients).
    Decimal3,
    /// Fractions shown as percentages with one decimal.
    Percent,
    /// Money in 万元 (the values are 元), each tick marked 万.
    TenThousandYuan,
    /// Money in tens of thousands (the values are 元), unmarked: the chart's title names the unit.
    TenThousands,
    /// Two decimals.
    Decimal2,
}

impl ValueFormat {
    /// Format a value for people.
    pub fn format(self, v: f64) -> String {
        match self {
            ValueFormat::Integer => group_thousands(v.round() as i64),
            ValueFormat::Decimal3 => format!("{v:.3}"),
            ValueFormat::Decimal2 => format!("{v:.2}"),
            ValueFormat::Percent => format!("{:.1}%", v * 100.0),
            ValueFormat::TenThousandYuan => format!("{}万", ten_thousands(v)),
            ValueFormat::TenThousands => ten_thousands(v),
        }
    }
}

/// An amount in tens of thousands with one decimal, grouped, the decimal left out when it is
/// zero: 34,582.5; a round axis tick reads 2,000.
fn ten_thousands(v: f64) -> String {
    let text = format!("{:.1}", v.abs() / 10_000.0);
    let sign = if v < 0.0 && text != "0.0" { "-" } else { "" };
    let (whole, tenths) = text.split_once('.').unwrap_or((&text, "0"));
    let whole = group_thousands(whole.parse().unwrap_or(0));
    if tenths == "0" { format!("{sign}{whole}") } else { format!("{sign}{whole}.{tenths}") }
}

/// `12515` → `12,515`.
pub fn group_thousands(n: i64) -> String {
    let digits = n.unsigned_abs().to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    if n < 0 { format!("-{out}") } else { out }
}

/// "Nice" axis ticks covering [lo, hi]: about five steps of 1, 2 or 5 × 10ⁿ.
pub fn nice_ticks(lo: f64, hi: f64) -> Vec<f64> {
    let (lo, hi) = if (hi - lo).abs() < f64::EPSILON { (lo - 1.0, hi + 1.0) } else { (lo, hi) };
    let raw = (hi - lo) / 5.0;
    let exponent = raw.log10().floor() as i32;
    let magnitude = 10f64.powi(exponent);
    let multiple = [1.0, 2.0, 5.0, 10.0].into_iter().find(|m| m * magnitude >= raw).unwrap_or(10.0);
    let step = multiple * magnitude;
    // Tick k is k × multiple × 10^exponent, computed so that 0.3 prints as 0.3 (not 0.30000000000000004).
    let at = |k: f64| if exponent < 0 { k * multiple / 10f64.powi(-exponent) } else { k * step };
    let first = (lo / step).floor();
    let mut ticks = Vec::new();
    // Until a tick reaches the top value: the highest point must sit inside the plot, not above it.
    for k in 0..13 {
        let tick = at(first + k as f64);
        ticks.push(tick);
        if tick >= hi - step * 1e-9 {
            break;
        }
    }
    ticks
}

const WIDTH: f64 = 530.0;
const HEIGHT: f64 = 300.0;
const LEFT: f64 = 72.0;
const RIGHT: f64 = 16.0;
const TOP: f64 = 48.0;
const BOTTOM: f64 = 36.0;

struct Frame {
    years: (i32, i32),
    ticks: Vec<f64>,
}

impl Frame {
    /// Inner padding so the first and last year (and their bars) are not on the axes.
    const PAD: f64 = 24.0;

    fn x(&self, year: f64) -> f64 {
        let (a, b) = self.years;
        let inner = WIDTH - LEFT - RIGHT - 2.0 * Self::PAD;
        if a == b {
            LEFT + Self::PAD + inner / 2.0
        } else {
            LEFT + Self::PAD + (year - a as f64) / (b - a) as f64 * inner
        }
    }

    fn y(&self, v: f64) -> f64 {
        let (lo, hi) = (self.ticks[0], *self.ticks.last().unwrap_or(&1.0));
        let span = if hi > lo { hi - lo } else { 1.0 };
        TOP + (1.0 - (v - lo) / span) * (HEIGHT - TOP - BOTTOM)
    }
}

fn open_svg(out: &mut String, id: &str, title: &str) {
    let _ = write!(
        out,
        r#"<svg class="chart" id="{id}" role="img" aria-label="{t}" viewBox="0 0 {WIDTH} {HEIGHT}" width="{WIDTH}" height="{HEIGHT}" xmlns="http://www.w3.org/2000/svg"><title>{t}</title><text class="chart-title" x="{LEFT}" y="18">{t}</text>"#,
        t = escape(title)
    );
}

fn axes(out: &mut String, frame: &Frame, format: ValueFormat, x_labels: &[i32]) {
    for t in &frame.ticks {
        let y = frame.y(*t);
        let _ = write!(
            out,
            r#"<line class="grid" x1="{LEFT}" x2="{:.1}" y1="{y:.1}" y2="{y:.1}"/><text class="tick" x="{:.1}" y="{:.1}" text-anchor="end">{}</text>"#,
            WIDTH - RIGHT,
            LEFT - 6.0,
            y + 4.0,
            escape(&format.format(*t))
        );
    }
    let every = (x_labels.len() / 10).max(1);
    for (i, year) in x_labels.iter().enumerate() {
        if i % every != 0 && i + 1 != x_labels.len() {
            continue;
        }
        let _ = write!(
            out,
            r#"<text class="tick" x="{:.1}" y="{:.1}" text-anchor="middle">{year}</text>"#,
            frame.x(*year as f64),
            HEIGHT - BOTTOM + 18.0
        );
    }
    let _ = write!(out, r#"<line class="axis" x1="{LEFT}" x2="{LEFT}" y1="{TOP}" y2="{:.1}"/>"#, HEIGHT - BOTTOM);
    let _ = write!(
        out,
        r#"<line class="axis" x1="{LEFT}" x2="{:.1}" y1="{:.1}" y2="{:.1}"/>"#,
        WIDTH - RIGHT,
        HEIGHT - BOTTOM,
        HEIGHT - BOTTOM
    );
}

fn legend(out: &mut String, entries: &[(&str, &str, bool)]) {
    let mut x = LEFT;
    for (name, color, dashed) in entries {
        let dash = if *dashed { r#" stroke-dasharray="5 3""# } else { "" };
        let _ = write!(
            out,
            r#"<line x1="{x:.1}" x2="{:.1}" y1="34" y2="34" stroke="{color}" stroke-width="3"{dash}/><text class="legend" x="{:.1}" y="38">{}</text>"#,
            x + 18.0,
            x + 22.0,
            escape(name)
        );
        x += 30.0 + name.chars().map(|c| if c.is_ascii() { 6.5 } else { 12.0 }).sum::<f64>();
    }
}

/// A line chart over years.
#[derive(Debug, Clone)]
pub struct LineChart {
    /// Element id (unique in the page).
    pub id: String,
    /// Title shown above the chart.
    pub title: String,
    /// The lines.
    pub series: Vec<Series>,
    /// Threshold lines.
    pub thresholds: Vec<Threshold>,
    /// How values read.
    pub format: ValueFormat,
    /// Start the value axis at zero.
    pub from_zero: bool,
}

impl LineChart {
    /// Whether there is anything to draw.
    pub fn has_data(&self) -> bool {
        self.series.iter().any(|s| s.points.iter().any(|(_, v)| v.is_some()))
    }

    /// The chart as an SVG element.
    pub fn svg(&self) -> String {
        let values: Vec<f64> = self
            .series
            .iter()
            .flat_map(|s| s.points.iter().filter_map(|(_, v)| *v))
            .chain(self.thresholds.iter().map(|t| t.value))
            .collect();
        let years: Vec<i32> = {
            let mut y: Vec<i32> = self.series.iter().flat_map(|s| s.points.iter().map(|(y, _)| *y)).collect();
            y.sort();
            y.dedup();
            y
        };
        let lo = values.iter().copied().fold(f64::INFINITY, f64::min);
        let hi = values.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        let (lo, hi) = if values.is_empty() { (0.0, 1.0) } else { (if self.from_zero { lo.min(0.0) } else { lo }, hi) };
        let frame =
            Frame { years: (*years.first().unwrap_or(&0), *years.last().unwrap_or(&0)), ticks: nice_ticks(lo, hi) };
        let mut out = String::new();
        open_svg(&mut out, &self.id, &self.title);
        axes(&mut out, &frame, self.format, &years);
        for t in &self.thresholds {
            let y = frame.y(t.value);
            let _ = write!(
                out,
                r#"<line class="threshold" x1="{LEFT}" x2="{:.1}" y1="{y:.1}" y2="{y:.1}" stroke="{}" stroke-dasharray="5 3"/><text class="threshold-label" x="{:.1}" y="{:.1}" text-anchor="end" fill="{}">{}</text>"#,
                WIDTH - RIGHT,
                t.color,
                WIDTH - RIGHT - 2.0,
                y - 4.0,
                t.color,
                escape(&t.label)
            );
        }
        for s in &self.series {
            let mut d = String::new();
            let mut pen_down = false;
            for (year, value) in &s.points {
                match value {
                    Some(v) => {
                        let _ = write!(
                            d,
                            "{}{:.1},{:.1} ",
                            if pen_down { "L" } else { "M" },
                            frame.x(*year as f64),
                            frame.y(*v)
                        );
                        pen_down = true;
                    }
                    None => pen_down = false,
                }
            }
            let _ = write!(
                out,
                r#"<path class="series" d="{}" stroke="{}" fill="none" stroke-width="2.5"/>"#,
                d.trim_end(),
                s.color
            );
            for (year, value) in &s.points {
                if let Some(v) = value {
                    let _ = write!(
                        out,
                        r#"<circle cx="{:.1}" cy="{:.1}" r="3.5" fill="{}"><title>{} {year}: {}</title></circle>"#,
                        frame.x(*year as f64),
                        frame.y(*v),
                        s.color,
                        escape(&s.name),
                        escape(&self.format.format(*v))
                    );
                }
            }
        }
        // Thresholds are labelled on their own lines, so the legend names only the series (and fits).
        let entries: Vec<(&str, &str, bool)> = self.series.iter().map(|s| (s.name.as_str(), s.color, false)).collect();
        legend(&mut out, &entries);
        out.push_str("</svg>");
        out
    }
}

/// A stacked bar chart over years (investment by category).
#[derive(Debug, Clone)]
pub struct BarChart {
    /// Element id.
    pub id: String,
    /// Title.
    pub title: String,
    /// One series per stacked segment.
    pub series: Vec<Series>,
    /// How values read.
    pub format: ValueFormat,
}

impl BarChart {
    /// Whether there is anything to draw.
    pub fn has_data(&self) -> bool {
        self.series.iter().any(|s| s.points.iter().any(|(_, v)| v.is_some_and(|v| v > 0.0)))
    }

    /// The chart as an SVG element.
    pub fn svg(&self) -> String {
        let mut years: Vec<i32> = self.series.iter().flat_map(|s| s.points.iter().map(|(y, _)| *y)).collect();
        years.sort();
        years.dedup();
        let total = |year: i32| -> f64 {
            self.series.iter().filter_map(|s| s.points.iter().find(|(y, _)| *y == year).and_then(|(_, v)| *v)).sum()
        };
        let hi = years.iter().map(|y| total(*y)).fold(0.0, f64::max);
        let frame = Frame {
            years: (*years.first().unwrap_or(&0), *years.last().unwrap_or(&0)),
            ticks: nice_ticks(0.0, hi.max(1.0)),
        };
        let mut out = String::new();
        open_svg(&mut out, &self.id, &self.title);
        axes(&mut out, &frame, self.format, &years);
        let slot = (WIDTH - LEFT - RIGHT) / (years.len().max(1) as f64 + 1.0);
        for year in &years {
            let mut base = 0.0;
            for s in &self.series {
                let Some(v) = s.points.iter().find(|(y, _)| y == year).and_then(|(_, v)| *v).filter(|v| *v > 0.0)
                else {
                    continue;
                };
                let (top, bottom) = (frame.y(base + v), frame.y(base));
                let _ = write!(
                    out,
                    r#"<rect class="bar" x="{:.1}" y="{top:.1}" width="{:.1}" height="{:.1}" fill="{}"><title>{} {year}: {}</title></rect>"#,
                    frame.x(*year as f64) - slot * 0.35,
                    slot * 0.7,
                    (bottom - top).max(0.5),
                    s.color,
                    escape(&s.name),
                    escape(&self.format.format(v))
                );
                base += v;
            }
        }
        let entries: Vec<(&str, &str, bool)> = self
            .series
            .iter()
            .filter(|s| s.points.iter().any(|(_, v)| v.is_some_and(|v| v > 0.0)))
            .map(|s| (s.name.as_str(), s.color, false))
            .collect();
        legend(&mut out, &entries);
        out.push_str("</svg>");
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ticks_are_round_numbers_covering_the_range() {
        assert_eq!(nice_ticks(0.0, 12515.0), vec![0.0, 5000.0, 10000.0, 15000.0]);
        assert_eq!(nice_ticks(0.34, 0.55), vec![0.3, 0.35, 0.4, 0.45, 0.5, 0.55]);
        // The top value is inside the last tick, not above it (the enrolment total of 2009).
        assert_eq!(nice_ticks(0.0, 16_300.0), vec![0.0, 5000.0, 10000.0, 15000.0, 20000.0]);
        let t = nice_ticks(5.0, 5.0);
        assert!(t.first().unwrap() <= &5.0 && t.last().unwrap() >= &5.0);
    }

    #[test]
    fn a_line_chart_has_its_lines_points_threshold_and_escaped_text() {
        let chart = LineChart {
            id: "cv".into(),
            title: "综合差异系数 <小学>".into(),
            series: vec![Series {
                name: "小学".into(),
                points: vec![(2016, Some(0.58)), (2017, None), (2018, Some(0.548))],
                color: "#1f77b4",
            }],
            thresholds: vec![Threshold { value: 0.65, label: "标准 0.65".into(), color: "#d62728" }],
            format: ValueFormat::Decimal3,
            from_zero: false,
        };
        let svg = chart.svg();
        assert!(svg.starts_with("<svg class=\"chart\" id=\"cv\""));
        assert!(svg.contains("&lt;小学&gt;"));
        assert_eq!(svg.matches("<circle").count(), 2);
        assert_eq!(svg.matches(" M").count() + svg.matches("\"M").count(), 2, "a gap starts a new segment: {svg}");
        assert!(svg.contains("class=\"threshold\"") && svg.contains("标准 0.65"));
        assert!(svg.contains("小学 2018: 0.548"));
    }

    #[test]
    fn numbers_read_as_people_write_them() {
        assert_eq!(group_thousands(887483), "887,483");
        assert_eq!(ValueFormat::Percent.format(0.984), "98.4%");
        assert_eq!(ValueFormat::TenThousandYuan.format(71_080_000.0), "7,108万");
        assert_eq!(ValueFormat::TenThousandYuan.format(345_825_000.0), "34,582.5万");
        assert_eq!(ValueFormat::TenThousandYuan.format(-15_000.0), "-1.5万");
        assert_eq!(ValueFormat::TenThousands.format(345_825_000.0), "34,582.5");
    }
}
