//! Closed-loop load: `clients` tasks, each with its own connection, each starting its
//! next operation when the last one is answered. Bounded by a deadline and, when
//! given, a total count. Latencies go into HDR histograms (microseconds); results of a
//! warm-up period are dropped.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use hdrhistogram::Histogram;

use crate::http::Conn;

/// Longest latency a histogram records exactly (longer ones are clamped to it).
const HIST_MAX_US: u64 = 120_000_000;

/// How many error messages are kept as samples for the report.
const ERROR_SAMPLES: usize = 3;

/// One unit of work a simulated client repeats: a request, or a whole
/// submit-and-poll cycle. It reports one latency per metric it names.
pub trait Operation: Send + Sync + 'static {
    /// The names of the latencies `run` returns, in order (e.g. `["receipt", "result"]`).
    fn metrics(&self) -> &'static [&'static str];

    /// Does the work once; `seq` numbers the operations of the whole run from 0.
    fn run<'a>(
        &'a self,
        conn: &'a mut Conn,
        seq: u64,
    ) -> impl Future<Output = anyhow::Result<Vec<Duration>>> + Send + 'a;
}

/// How long and how hard.
#[derive(Debug, Clone, Copy)]
pub struct Shape {
    pub clients: usize,
    /// Operations finishing before this much time has passed are not recorded.
    pub warmup: Duration,
    /// Measured time after the warm-up; clients stop starting operations after it.
    pub measure: Duration,
    /// Stop after this many operations in all (warm-up included), if set.
    pub max_ops: Option<u64>,
}

/// What a run measured.
#[derive(Debug)]
pub struct LoadStats {
    /// One histogram per metric of the operation (microseconds).
    pub histograms: Vec<Histogram<u64>>,
    /// Operations that succeeded inside the measured window.
    pub ok: u64,
    /// Operations that failed inside the measured window.
    pub errors: u64,
    /// The first few error messages.
    pub error_samples: Vec<String>,
    /// From the end of the warm-up to the last measured operation's end.
    pub elapsed: Duration,
}

impl LoadStats {
    /// Successful operations per second of measured time.
    pub fn rate(&self) -> f64 {
        let secs = self.elapsed.as_secs_f64();
        if secs > 0.0 {
            self.ok as f64 / secs
        } else {
            0.0
        }
    }
}

struct ClientResult {
    histograms: Vec<Histogram<u64>>,
    ok: u64,
    errors: u64,
    error_samples: Vec<String>,
    last_end: Option<Instant>,
}

/// Runs `op` closed-loop against `addr` as `shape` says.
pub async fn run<O: Operation>(addr: SocketAddr, shape: Shape, op: Arc<O>) -> LoadStats {
    let start = Instant::now();
    let measure_from = start + shape.warmup;
    let stop_at = measure_from + shape.measure;
    let issued = Arc::new(AtomicU64::new(0));
    let metrics = op.metrics().len();

    let mut tasks = Vec::with_capacity(shape.clients);
    for _ in 0..shape.clients {
        let op = Arc::clone(&op);
        let issued = Arc::clone(&issued);
        tasks.push(tokio::spawn(async move {
            let mut conn = Conn::new(addr);
            let mut result = ClientResult {
                histograms: (0..metrics).map(|_| histogram()).collect(),
                ok: 0,
                errors: 0,
                error_samples: Vec::new(),
                last_end: None,
            };
            loop {
                if Instant::now() >= stop_at {
                    break;
                }
                let seq = issued.fetch_add(1, Ordering::Relaxed);
                if shape.max_ops.is_some_and(|max| seq >= max) {
                    break;
                }
                let outcome = op.run(&mut conn, seq).await;
                let end = Instant::now();
                if end < measure_from {
                    continue;
                }
                result.last_end = Some(end);
                match outcome {
                    Ok(latencies) => {
                        result.ok += 1;
                        for (h, d) in result.histograms.iter_mut().zip(latencies) {
                            h.saturating_record(u64::try_from(d.as_micros()).unwrap_or(u64::MAX));
                        }
                    }
                    Err(e) => {
                        result.errors += 1;
                        if result.error_samples.len() < ERROR_SAMPLES {
                            result.error_samples.push(format!("{e:#}"));
                        }
                        // Do not spin on a refused connection.
                        tokio::time::sleep(Duration::from_millis(1)).await;
                    }
                }
            }
            result
        }));
    }

    let mut stats = LoadStats {
        histograms: (0..metrics).map(|_| histogram()).collect(),
        ok: 0,
        errors: 0,
        error_samples: Vec::new(),
        elapsed: Duration::ZERO,
    };
    let mut last_end = measure_from;
    for task in tasks {
        match task.await {
            Ok(r) => {
                for (all, one) in stats.histograms.iter_mut().zip(&r.histograms) {
                    all.add(one).expect("histograms of one shape add up");
                }
                stats.ok += r.ok;
                stats.errors += r.errors;
                for sample in r.error_samples {
                    if stats.error_samples.len() < ERROR_SAMPLES {
                        stats.error_samples.push(sample);
                    }
                }
                if let Some(end) = r.last_end {
                    last_end = last_end.max(end);
                }
            }
            Err(e) => {
                stats.errors += 1;
                stats.error_samples.push(format!("client task failed: {e}"));
            }
        }
    }
    stats.elapsed = last_end.saturating_duration_since(measure_from);
    stats
}

/// A histogram of microseconds from 1 µs to two minutes, 3 significant digits.
pub fn histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, HIST_MAX_US, 3).expect("valid histogram bounds")
}
