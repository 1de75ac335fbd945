//! The bench curve as an SVG a user can open or share: output tokens/s
//! (left axis) and p95 latency (right axis) against concurrency (log scale),
//! with the knee marked. Plain SVG text, no dependencies.

use super::Step;
use std::fmt::Write;

const WIDTH: f64 = 760.0;
const HEIGHT: f64 = 420.0;
const LEFT: f64 = 70.0;
const RIGHT: f64 = 80.0;
const TOP: f64 = 50.0;
const BOTTOM: f64 = 60.0;

pub fn svg(title: &str, steps: &[Step], knee: Option<usize>) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{HEIGHT}" viewBox="0 0 {WIDTH} {HEIGHT}" font-family="Helvetica, Arial, sans-serif" font-size="12">"#
    );
    out.push_str(r#"<rect width="100%" height="100%" fill="white"/>"#);
    let _ = writeln!(out, r#"<text x="{LEFT}" y="24" font-size="15" font-weight="bold">{}</text>"#, escape(title));
    if steps.is_empty() {
        out.push_str("</svg>\n");
        return out;
    }
    let max_c = steps.iter().map(|s| s.concurrency).max().unwrap_or(1).max(2) as f64;
    let max_tok = steps.iter().map(|s| s.output_tokens_per_s).fold(0.0, f64::max).max(1e-9) * 1.1;
    let max_lat = steps.iter().map(|s| s.p95_ms as f64 / 1000.0).fold(0.0, f64::max).max(1e-9) * 1.1;
    let plot_w = WIDTH - LEFT - RIGHT;
    let plot_h = HEIGHT - TOP - BOTTOM;
    let x = |c: usize| LEFT + (c as f64).log2() / max_c.log2() * plot_w;
    let y_tok = |t: f64| TOP + plot_h - t / max_tok * plot_h;
    let y_lat = |l: f64| TOP + plot_h - l / max_lat * plot_h;
    // Axes and grid.
    let _ =
        writeln!(out, r##"<rect x="{LEFT}" y="{TOP}" width="{plot_w}" height="{plot_h}" fill="none" stroke="#999"/>"##);
    for i in 0..=4 {
        let frac = f64::from(i) / 4.0;
        let yy = TOP + plot_h - frac * plot_h;
        let _ = writeln!(
            out,
            r##"<line x1="{LEFT}" y1="{yy:.1}" x2="{:.1}" y2="{yy:.1}" stroke="#eee"/><text x="{:.1}" y="{:.1}" text-anchor="end" fill="#1f6feb">{:.0}</text><text x="{:.1}" y="{:.1}" fill="#d9480f">{:.1}</text>"##,
            LEFT + plot_w,
            LEFT - 6.0,
            yy + 4.0,
            frac * max_tok,
            LEFT + plot_w + 6.0,
            yy + 4.0,
            frac * max_lat
        );
    }
    for step in steps {
        let xx = x(step.concurrency);
        let _ = writeln!(
            out,
            r##"<text x="{xx:.1}" y="{:.1}" text-anchor="middle">{}</text>"##,
            TOP + plot_h + 18.0,
            step.concurrency
        );
    }
    axis_titles(&mut out, plot_w, plot_h);
    if let Some(knee) = knee {
        let xx = x(knee);
        let _ = writeln!(
            out,
            r##"<line x1="{xx:.1}" y1="{TOP}" x2="{xx:.1}" y2="{:.1}" stroke="#2b8a3e" stroke-dasharray="5,4"/><text x="{:.1}" y="{:.1}" fill="#2b8a3e">knee: {knee}</text>"##,
            TOP + plot_h,
            xx + 5.0,
            TOP + 14.0
        );
    }
    for (color, points) in [
        ("#1f6feb", steps.iter().map(|s| (x(s.concurrency), y_tok(s.output_tokens_per_s))).collect::<Vec<_>>()),
        ("#d9480f", steps.iter().map(|s| (x(s.concurrency), y_lat(s.p95_ms as f64 / 1000.0))).collect()),
    ] {
        let path: Vec<String> = points.iter().map(|(a, b)| format!("{a:.1},{b:.1}")).collect();
        let _ =
            writeln!(out, r##"<polyline points="{}" fill="none" stroke="{color}" stroke-width="2"/>"##, path.join(" "));
        for (a, b) in points {
            let _ = writeln!(out, r##"<circle cx="{a:.1}" cy="{b:.1}" r="3.5" fill="{color}"/>"##);
        }
    }
    out.push_str("</svg>\n");
    out
}

/// The three axes' titles.
fn axis_titles(out: &mut String, plot_w: f64, plot_h: f64) {
    let _ = writeln!(
        out,
        r##"<text x="{:.1}" y="{:.1}" text-anchor="middle">concurrency (calls in flight)</text>"##,
        LEFT + plot_w / 2.0,
        HEIGHT - 18.0
    );
    let _ = writeln!(
        out,
        r##"<text transform="translate(18,{:.1}) rotate(-90)" text-anchor="middle" fill="#1f6feb">output tokens/s</text>"##,
        TOP + plot_h / 2.0
    );
    let _ = writeln!(
        out,
        r##"<text transform="translate({:.1},{:.1}) rotate(90)" text-anchor="middle" fill="#d9480f">p95 latency (s)</text>"##,
        WIDTH - 18.0,
        TOP + plot_h / 2.0
    );
}

fn escape(text: &str) -> String {
    text.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;")
}
