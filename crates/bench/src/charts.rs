//! PNG charts of a [`Report`], drawn with plotters' bitmap backend and encoded with
//! the `image` crate. Text needs a TrueType font: the first of [`FONTS`] found (or
//! `$BENCH_FONT`); without one the charts are skipped and the report says why.

use std::path::{Path, PathBuf};

use anyhow::{Context, anyhow};
use plotters::prelude::*;
use plotters::style::FontStyle;

use crate::plan;
use crate::report::{Latency, Report};

/// Fonts tried in order (Debian: fonts-dejavu-core, fonts-liberation).
const FONTS: &[&str] = &[
    "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf",
    "/usr/share/fonts/truetype/liberation/LiberationSans-Regular.ttf",
    "/usr/share/fonts/truetype/liberation2/LiberationSans-Regular.ttf",
    "/usr/share/fonts/TTF/DejaVuSans.ttf",
];
const FONT: &str = "sans-serif";

const SERIES: [RGBColor; 6] = [
    RGBColor(31, 119, 180),
    RGBColor(255, 127, 14),
    RGBColor(44, 160, 44),
    RGBColor(214, 39, 40),
    RGBColor(148, 103, 189),
    RGBColor(140, 86, 75),
];

/// Registers a font for plotters' text once.
fn register_font() -> anyhow::Result<()> {
    static DONE: std::sync::OnceLock<Result<(), String>> = std::sync::OnceLock::new();
    DONE.get_or_init(|| {
        let candidates: Vec<PathBuf> = std::env::var_os("BENCH_FONT")
            .map(PathBuf::from)
            .into_iter()
            .chain(FONTS.iter().map(PathBuf::from))
            .collect();
        let path = candidates.iter().find(|p| p.is_file()).ok_or_else(|| {
            format!(
                "no TrueType font found (tried {candidates:?}); install fonts-dejavu-core or set BENCH_FONT"
            )
        })?;
        let bytes = std::fs::read(path).map_err(|e| format!("read {}: {e}", path.display()))?;
        // plotters keeps fonts for the life of the process.
        let bytes: &'static [u8] = Box::leak(bytes.into_boxed_slice());
        plotters::style::register_font(FONT, FontStyle::Normal, bytes)
            .map_err(|_| format!("{} is not a usable font", path.display()))
    })
    .clone()
    .map_err(|e| anyhow!(e))
}

/// Draws into an RGB buffer and saves it as PNG.
fn render(
    path: &Path,
    size: (u32, u32),
    draw: impl FnOnce(DrawingArea<BitMapBackend<'_>, plotters::coord::Shift>) -> anyhow::Result<()>,
) -> anyhow::Result<()> {
    let mut buf = vec![255u8; (size.0 * size.1 * 3) as usize];
    {
        let root = BitMapBackend::with_buffer(&mut buf, size).into_drawing_area();
        root.fill(&WHITE).map_err(|e| anyhow!("{e}"))?;
        draw(root.clone())?;
        root.present().map_err(|e| anyhow!("{e}"))?;
    }
    let img = image::RgbImage::from_raw(size.0, size.1, buf).context("chart buffer size")?;
    img.save(path)
        .with_context(|| format!("write {}", path.display()))
}

/// One line of a line chart: a name and (x index, y) points.
struct Line {
    name: String,
    points: Vec<(f64, f64)>,
    dashed: bool,
    /// Index into [`SERIES`].
    color: usize,
}

/// A line chart over categorical x values (`levels`) with a log-scale y axis in ms.
fn line_panel(
    area: &DrawingArea<BitMapBackend<'_>, plotters::coord::Shift>,
    title: &str,
    x_desc: &str,
    levels: &[usize],
    lines: &[Line],
) -> anyhow::Result<()> {
    let ys = lines
        .iter()
        .flat_map(|l| l.points.iter().map(|p| p.1))
        .filter(|y| *y > 0.0);
    let (lo, hi) = ys.fold((f64::MAX, 0.0f64), |(lo, hi), y| (lo.min(y), hi.max(y)));
    if hi <= 0.0 {
        area.titled(&format!("{title}: no data"), (FONT, 18))
            .map_err(|e| anyhow!("{e}"))?;
        return Ok(());
    }
    let (lo, hi) = (lo / 1.6, hi * 1.6);
    let n = levels.len().max(1);
    let mut chart = ChartBuilder::on(area)
        .caption(title, (FONT, 18))
        .margin(12)
        .x_label_area_size(40)
        .y_label_area_size(60)
        .build_cartesian_2d(-0.3f64..(n as f64 - 0.7), (lo..hi).log_scale())
        .map_err(|e| anyhow!("{e}"))?;
    chart
        .configure_mesh()
        .x_labels(n)
        .x_label_formatter(&|x| {
            let i = x.round();
            if (x - i).abs() < 0.01 && i >= 0.0 {
                levels
                    .get(i as usize)
                    .map(|l| l.to_string())
                    .unwrap_or_default()
            } else {
                String::new()
            }
        })
        .y_label_formatter(&|y| format_ms(*y))
        .x_desc(x_desc)
        .y_desc("latency, ms (log)")
        .label_style((FONT, 13))
        .draw()
        .map_err(|e| anyhow!("{e}"))?;
    for line in lines {
        let color = SERIES[line.color % SERIES.len()];
        let style = color.stroke_width(2);
        let points: Vec<(f64, f64)> = line.points.iter().copied().filter(|p| p.1 > 0.0).collect();
        if line.dashed {
            chart
                .draw_series(DashedLineSeries::new(points.clone(), 6, 4, style))
                .map_err(|e| anyhow!("{e}"))?
                .label(&line.name)
                .legend(move |(x, y)| {
                    // Two short strokes: a dashed line in the legend.
                    EmptyElement::at((x, y))
                        + PathElement::new(vec![(0, 0), (8, 0)], color.stroke_width(2))
                        + PathElement::new(vec![(12, 0), (20, 0)], color.stroke_width(2))
                });
        } else {
            chart
                .draw_series(LineSeries::new(points.clone(), style))
                .map_err(|e| anyhow!("{e}"))?
                .label(&line.name)
                .legend(move |(x, y)| {
                    PathElement::new(vec![(x, y), (x + 20, y)], color.stroke_width(2))
                });
        }
        chart
            .draw_series(points.iter().map(|p| Circle::new(*p, 4, color.filled())))
            .map_err(|e| anyhow!("{e}"))?;
    }
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::UpperLeft)
        .background_style(WHITE.mix(0.85))
        .border_style(BLACK)
        .label_font((FONT, 13))
        .draw()
        .map_err(|e| anyhow!("{e}"))?;
    Ok(())
}

fn format_ms(ms: f64) -> String {
    if ms >= 100.0 {
        format!("{ms:.0}")
    } else if ms >= 1.0 {
        format!("{ms:.1}")
    } else {
        format!("{ms:.2}")
    }
}

fn percentile_lines(points: &[(f64, Latency)]) -> Vec<Line> {
    type Pick = fn(&Latency) -> f64;
    let series: [(&str, Pick); 3] = [
        ("p50", |l| l.p50_ms),
        ("p99", |l| l.p99_ms),
        ("p99.9", |l| l.p999_ms),
    ];
    series
        .iter()
        .enumerate()
        .map(|(i, (name, get))| Line {
            name: (*name).to_owned(),
            points: points.iter().map(|(x, l)| (*x, get(l))).collect(),
            dashed: false,
            color: i,
        })
        .collect()
}

/// Writes every chart the report has data for beside `stem` and returns their file names.
pub fn write_all(report: &Report, dir: &Path, stem: &str) -> anyhow::Result<Vec<String>> {
    register_font()?;
    let mut written = Vec::new();
    let mut failures = Vec::new();
    let mut attempt = |name: String, f: &dyn Fn(&Path) -> anyhow::Result<()>| {
        let path = dir.join(&name);
        match f(&path) {
            Ok(()) => written.push(name),
            Err(e) => failures.push(format!("{name}: {e:#}")),
        }
    };
    if !report.load.is_empty() {
        attempt(format!("{stem}-latency.png"), &|p| latency_chart(report, p));
    }
    if !report.sync_async.is_empty() {
        attempt(format!("{stem}-sync-async.png"), &|p| sync_chart(report, p));
    }
    if !report.e2e.is_empty() {
        attempt(format!("{stem}-throughput.png"), &|p| {
            throughput_chart(report, p)
        });
    }
    if failures.is_empty() {
        Ok(written)
    } else {
        Err(anyhow!(
            "charts written: {written:?}; failed: {}",
            failures.join("; ")
        ))
    }
}

/// Latency percentiles by concurrency: one panel per request of the load scenarios.
fn latency_chart(report: &Report, path: &Path) -> anyhow::Result<()> {
    let levels = &report.plan.levels;
    let targets = [
        ("acknowledgement", plan::ECHO_TARGET),
        ("acknowledgement", plan::HASH_TARGET),
        ("floor", plan::HEALTH_TARGET),
        ("floor", plan::NOOP_TARGET),
    ];
    render(path, (1400, 1000), |root| {
        let root = root
            .titled(
                &format!(
                    "Latency by concurrency ({}, {})",
                    report.runtime, report.date
                ),
                (FONT, 22),
            )
            .map_err(|e| anyhow!("{e}"))?;
        let panels = root.split_evenly((2, 2));
        for (area, (scenario, target)) in panels.iter().zip(targets) {
            let points: Vec<(f64, Latency)> = levels
                .iter()
                .enumerate()
                .filter_map(|(i, c)| {
                    report
                        .load
                        .iter()
                        .find(|r| r.scenario == scenario && r.target == target && r.clients == *c)
                        .map(|r| (i as f64, r.latency))
                })
                .collect();
            let rps: Vec<String> = levels
                .iter()
                .filter_map(|c| {
                    report
                        .load
                        .iter()
                        .find(|r| r.target == target && r.clients == *c)
                        .map(|r| format!("{:.0}", r.rps))
                })
                .collect();
            let title = format!("{target} ({scenario}) req/s: {}", rps.join(" / "));
            line_panel(
                area,
                &title,
                "concurrent clients",
                levels,
                &percentile_lines(&points),
            )?;
        }
        Ok(())
    })
}

/// Sync versus async thumbnail: latency a client waits, by concurrency.
fn sync_chart(report: &Report, path: &Path) -> anyhow::Result<()> {
    let levels = &report.plan.sync_levels;
    let mut lines = Vec::new();
    for (color, mode) in [plan::MODE_SYNC, plan::MODE_RECEIPT, plan::MODE_RESULT]
        .into_iter()
        .enumerate()
    {
        for (pct, dashed) in [("p50", false), ("p99", true)] {
            let points = levels
                .iter()
                .enumerate()
                .filter_map(|(i, c)| {
                    report
                        .sync_async
                        .iter()
                        .find(|r| r.mode == mode && r.clients == *c)
                        .map(|r| {
                            (
                                i as f64,
                                if dashed {
                                    r.latency.p99_ms
                                } else {
                                    r.latency.p50_ms
                                },
                            )
                        })
                })
                .collect();
            lines.push(Line {
                name: format!("{mode} {pct}"),
                points,
                dashed,
                color,
            });
        }
    }
    render(path, (1100, 700), |root| {
        line_panel(
            &root,
            &format!(
                "thumbnail: in the request (sync) vs submit-and-poll (async), {} {}",
                report.runtime, report.date
            ),
            "concurrent clients",
            levels,
            &lines,
        )
    })
}

/// Jobs per second by number of worker processes, per kind.
fn throughput_chart(report: &Report, path: &Path) -> anyhow::Result<()> {
    render(path, (1100, 600), |root| {
        let root = root
            .titled(
                &format!(
                    "End to end: jobs/s by worker processes ({}, {})",
                    report.runtime, report.date
                ),
                (FONT, 20),
            )
            .map_err(|e| anyhow!("{e}"))?;
        let panels = root.split_evenly((1, 2));
        for (area, kind) in panels.iter().zip(["echo", "hash"]) {
            // Of the backlog rounds, the median one (the report lists them all).
            let shown = report.shown_backlog_round();
            let rows: Vec<_> = report
                .e2e
                .iter()
                .filter(|r| r.kind == kind && (!r.backlog || r.round == shown))
                .collect();
            let top = rows
                .iter()
                .map(|r| r.jobs_per_s.max(r.drain_per_s))
                .fold(0.0, f64::max);
            let top = if top > 0.0 { top * 1.2 } else { 1.0 };
            let n = rows.len().max(1);
            let mut chart = ChartBuilder::on(area)
                .caption(
                    format!(
                        "{kind} ({} jobs): blue end to end, orange drain",
                        rows.first().map_or(0, |r| r.jobs)
                    ),
                    (FONT, 18),
                )
                .margin(14)
                .x_label_area_size(40)
                .y_label_area_size(60)
                .build_cartesian_2d(0f64..n as f64, 0f64..top)
                .map_err(|e| anyhow!("{e}"))?;
            chart
                .configure_mesh()
                .disable_x_mesh()
                .x_labels(n * 2 + 1)
                .x_label_formatter(&|x| {
                    let i = (x - 0.5).round();
                    if (x - 0.5 - i).abs() < 0.01 && i >= 0.0 {
                        rows.get(i as usize)
                            .map(|r| {
                                let backlog = if r.backlog { ", backlog" } else { "" };
                                format!("{} worker(s){backlog}", r.workers)
                            })
                            .unwrap_or_default()
                    } else {
                        String::new()
                    }
                })
                .y_desc("jobs per second")
                .y_label_formatter(&|y| format!("{y:.0}"))
                .label_style((FONT, 13))
                .draw()
                .map_err(|e| anyhow!("{e}"))?;
            for (i, row) in rows.iter().enumerate() {
                let x = i as f64;
                for (j, (value, color)) in
                    [(row.jobs_per_s, SERIES[0]), (row.drain_per_s, SERIES[1])]
                        .into_iter()
                        .enumerate()
                {
                    let x0 = x + 0.15 + j as f64 * 0.35;
                    let x1 = x0 + 0.3;
                    chart
                        .draw_series(std::iter::once(Rectangle::new(
                            [(x0, 0.0), (x1, value)],
                            color.filled(),
                        )))
                        .map_err(|e| anyhow!("{e}"))?;
                    chart
                        .draw_series(std::iter::once(Text::new(
                            format!("{value:.0}/s"),
                            (x0, value + top * 0.02),
                            (FONT, 13),
                        )))
                        .map_err(|e| anyhow!("{e}"))?;
                }
            }
        }
        Ok(())
    })
}
