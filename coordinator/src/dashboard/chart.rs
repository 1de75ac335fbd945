//! The time series as a small SVG bar chart, drawn here so the page needs
//! no charting library (and no CDN): one bar per point over a light grid,
//! the axis labels in the page's font.

use std::fmt::Write;

const WIDTH: f64 = 640.0;
const HEIGHT: f64 = 180.0;
const LEFT: f64 = 56.0;
const RIGHT: f64 = 12.0;
const TOP: f64 = 12.0;
const BOTTOM: f64 = 26.0;

/// A chart of `values` (one per point, `point_s` seconds apart, the first
/// starting at `first_ms`), labelled `unit`.
pub fn svg(values: &[f64], first_ms: u64, point_s: u64, unit: &str) -> String {
    let mut out = String::new();
    let _ = write!(
        out,
        r#"<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {WIDTH} {HEIGHT}" role="img" aria-label="{unit}" font-size="11" font-family="system-ui, sans-serif">"#
    );
    let (plot_w, plot_h) = (WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM);
    let max = values.iter().copied().fold(0.0, f64::max);
    let top = nice_ceiling(max);
    for step in 0..=4 {
        let y = TOP + plot_h * f64::from(step) / 4.0;
        let value = top * f64::from(4 - step) / 4.0;
        let _ = write!(
            out,
            r##"<line x1="{LEFT}" y1="{y:.1}" x2="{:.1}" y2="{y:.1}" stroke="#e3e6ea"/><text x="{:.1}" y="{:.1}" text-anchor="end" fill="#667">{}</text>"##,
            LEFT + plot_w,
            LEFT - 6.0,
            y + 4.0,
            short(value)
        );
    }
    if values.is_empty() {
        let _ = write!(
            out,
            r##"<text x="{:.1}" y="{:.1}" text-anchor="middle" fill="#667">nothing mined yet</text>"##,
            LEFT + plot_w / 2.0,
            TOP + plot_h / 2.0
        );
    } else {
        // One bar per point: a young run's single minute shows too.
        let slot = plot_w / values.len() as f64;
        let bar = (slot * 0.8).max(0.5);
        for (i, v) in values.iter().enumerate() {
            let height = plot_h * if top > 0.0 { v / top } else { 0.0 };
            let _ = write!(
                out,
                r##"<rect x="{:.1}" y="{:.1}" width="{bar:.1}" height="{height:.1}" fill="#2f6fdb"/>"##,
                LEFT + slot * i as f64 + (slot - bar) / 2.0,
                TOP + plot_h - height
            );
        }
        let span_s = point_s * (values.len() as u64).saturating_sub(1);
        let _ = write!(
            out,
            r##"<text x="{LEFT}" y="{:.1}" fill="#667">{}</text><text x="{:.1}" y="{:.1}" text-anchor="end" fill="#667">{} later ({}s a point)</text>"##,
            HEIGHT - 8.0,
            clock(first_ms),
            LEFT + plot_w,
            HEIGHT - 8.0,
            duration(span_s),
            point_s
        );
    }
    let _ = write!(
        out,
        r##"<text x="{:.1}" y="{:.1}" fill="#334" font-weight="600">{unit}</text></svg>"##,
        LEFT + 6.0,
        TOP + 12.0
    );
    out
}

/// 1, 2 or 5 times a power of ten at or above `value` (at least 1).
fn nice_ceiling(value: f64) -> f64 {
    if value <= 1.0 {
        return 1.0;
    }
    let power = 10f64.powf(value.log10().floor());
    [1.0, 2.0, 5.0, 10.0].iter().map(|m| m * power).find(|v| *v >= value).unwrap_or(10.0 * power)
}

fn short(value: f64) -> String {
    match value {
        v if v >= 1e6 => format!("{:.1}M", v / 1e6),
        v if v >= 1e3 => format!("{:.1}k", v / 1e3),
        v if v >= 10.0 || v == 0.0 => format!("{v:.0}"),
        v => format!("{v:.2}"),
    }
}

/// `HH:MM` UTC of a unix time.
fn clock(unix_ms: u64) -> String {
    let minutes = unix_ms / 60_000;
    format!("{:02}:{:02} UTC", (minutes / 60) % 24, minutes % 60)
}

fn duration(seconds: u64) -> String {
    match seconds {
        s if s >= 86_400 => format!("{:.1} d", s as f64 / 86_400.0),
        s if s >= 3_600 => format!("{:.1} h", s as f64 / 3_600.0),
        s => format!("{} min", s / 60),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_chart_has_a_bar_per_point_and_scales_to_a_round_top() {
        let chart = svg(&[0.0, 3.0, 7.2, 5.0], 0, 60, "segments/s");
        assert!(chart.starts_with("<svg") && chart.ends_with("</svg>"));
        assert_eq!(chart.matches("<rect").count(), 4);
        assert!(chart.contains(r#"height="0.0""#), "the empty minute is a bar of no height");
        assert_eq!(nice_ceiling(7.2), 10.0);
        assert_eq!(nice_ceiling(130.0), 200.0);
        assert!(svg(&[], 0, 60, "x").contains("nothing mined yet"));
    }
}
