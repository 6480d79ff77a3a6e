//! `thumbnail` inside the request against submit and poll.

use super::*;

/// A PNG that takes real work to decode and resize: `w` x `h`, a gradient with texture.
fn test_image(w: u32, h: u32) -> anyhow::Result<Vec<u8>> {
    let img = image::RgbImage::from_fn(w, h, |x, y| {
        // Blocky texture: real pixels to decode and filter, yet small as a PNG.
        let texture = (((x / 16) ^ (y / 16)) & 0x0f) as u8;
        image::Rgb([
            (x * 255 / w) as u8 ^ texture,
            (y * 255 / h) as u8,
            ((x + y) * 127 / (w + h)) as u8 + texture,
        ])
    });
    let mut out = Cursor::new(Vec::new());
    img.write_to(&mut out, image::ImageFormat::Png)
        .context("encode the test PNG")?;
    Ok(out.into_inner())
}

/// Async versus sync: the same `thumbnail` done in the request and as a job.
pub fn sync_vs_async(ctx: &Ctx<'_>, report: &mut Report) {
    let plan = ctx.plan;
    let (w, h, box_side) = (1024, 768, 256);
    let png = match test_image(w, h) {
        Ok(png) => png,
        Err(e) => {
            report.problems.push(Problem {
                scenario: "sync vs async: make the image".into(),
                error: format!("{e:#}"),
            });
            return;
        }
    };
    report.plan.thumbnail_description = format!(
        "Input: a {w}×{h} PNG ({} KiB) resized to fit {box_side}×{box_side}",
        png.len() / 1024
    );
    let input = json!({
        "image": base64::engine::general_purpose::STANDARD.encode(&png),
        "width": box_side,
        "height": box_side,
    });
    let sync_body = Bytes::from(input.to_string());
    let async_body = Bytes::from(json!({"kind": "thumbnail", "input": input}).to_string());
    if async_body.len() > 1024 * 1024 {
        report.problems.push(Problem {
            scenario: "sync vs async: make the image".into(),
            error: format!(
                "the submission is {} bytes, over the intake's default max_body_bytes",
                async_body.len()
            ),
        });
        return;
    }

    let mut app = None;
    let mut workers = Vec::new();
    step(
        report,
        "sync vs async: start intake + bench-sync and workers",
        |_| {
            let started = ctx.stack.http(&["intake", "bench-sync"])?;
            for n in 1..=plan.sync_workers {
                workers.push(ctx.stack.worker(n, true)?);
            }
            // One request first, so a broken component is one clear problem.
            let probe = ctx.rt.block_on(async {
                Conn::new(started.addr)
                    .post_json("/sync/thumbnail", sync_body.clone())
                    .await?
                    .expect(200)
            })?;
            eprintln!("bench:   sync thumbnail: {} bytes", probe.body.len());
            app = Some(started);
            Ok(())
        },
    );
    let Some(app) = app else { return };
    let names: Vec<String> = (1..=workers.len()).map(|i| format!("worker {i}")).collect();
    let mut runtimes = vec![("runtime", &app.app)];
    runtimes.extend(names.iter().map(String::as_str).zip(&workers));
    let parties = ctx.stack.parties(&runtimes);

    for &clients in &plan.sync_levels {
        let shape = Shape {
            clients,
            warmup: ctx.plan.warmup,
            measure: plan.sync_measure,
            max_ops: None,
        };
        step(
            report,
            &format!("sync vs async: sync @ {clients} clients"),
            |report| {
                ctx.stack.flush()?;
                let op = Arc::new(Call::post("/sync/thumbnail", sync_body.clone(), 200));
                let (stats, cpu) = measured(ctx, &parties, app.addr, shape, op);
                push_sync(report, plan::MODE_SYNC, clients, &stats, 0, cpu);
                Ok(())
            },
        );
        step(
            report,
            &format!("sync vs async: submit and poll @ {clients} clients"),
            |report| {
                ctx.stack.flush()?;
                let op = Arc::new(SubmitAndPoll {
                    body: async_body.clone(),
                    poll: Duration::from_millis(plan.poll_ms),
                });
                let probe =
                    EchoProbe::start(app.addr, Duration::from_millis(plan.poll_ms), echo_body());
                let (stats, cpu) = measured(ctx, &parties, app.addr, shape, op);
                let probe = probe.stop();
                push_sync(report, plan::MODE_RECEIPT, clients, &stats, 0, cpu.clone());
                push_sync(report, plan::MODE_RESULT, clients, &stats, 1, cpu);
                push_sync(
                    report,
                    plan::MODE_ECHO_PROBE,
                    clients,
                    &probe,
                    0,
                    CpuCost::default(),
                );
                Ok(())
            },
        );
    }
    let _ = ctx.stack.flush();
    drop(workers);
    drop(app);
}

fn push_sync(
    report: &mut Report,
    mode: &str,
    clients: usize,
    stats: &LoadStats,
    metric: usize,
    cpu: CpuCost,
) {
    let row = SyncRow {
        mode: mode.to_owned(),
        clients,
        seconds: stats.elapsed.as_secs_f64(),
        ops: stats.ok,
        errors: stats.errors,
        ops_per_s: stats.rate(),
        latency: Latency::of(&stats.histograms[metric]),
        cpu,
        // Both metrics of an operation share its errors: list them once.
        error_samples: if metric == 0 {
            stats.error_samples.clone()
        } else {
            Vec::new()
        },
    };
    eprintln!(
        "bench:   {mode}: {:.1} ops/s, p50 {:.2} ms, p99 {:.2} ms, {} errors",
        row.ops_per_s, row.latency.p50_ms, row.latency.p99_ms, row.errors
    );
    report.sync_async.push(row);
}
