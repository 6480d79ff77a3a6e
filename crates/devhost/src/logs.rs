//! Guest stdout and stderr: each complete line goes to the host's own stdout
//! or stderr prefixed with the component id (`[intake] ...`), so the output
//! of concurrent instances never interleaves within a line.

use std::io::Write;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use tokio::io::AsyncWrite;
use wasmtime_wasi::cli::{IsTerminal, StdoutStream};

/// The two output streams of one component.
#[derive(Clone)]
pub struct ComponentOutput {
    prefix: Arc<str>,
}

impl ComponentOutput {
    pub fn new(component_id: &str) -> ComponentOutput {
        ComponentOutput {
            prefix: format!("[{component_id}] ").into(),
        }
    }

    pub fn stdout(&self) -> PrefixedStream {
        PrefixedStream {
            prefix: self.prefix.clone(),
            stderr: false,
        }
    }

    pub fn stderr(&self) -> PrefixedStream {
        PrefixedStream {
            prefix: self.prefix.clone(),
            stderr: true,
        }
    }
}

/// A WASI output stream that writes prefixed lines.
pub struct PrefixedStream {
    prefix: Arc<str>,
    stderr: bool,
}

impl IsTerminal for PrefixedStream {
    fn is_terminal(&self) -> bool {
        false
    }
}

impl StdoutStream for PrefixedStream {
    fn async_stream(&self) -> Box<dyn AsyncWrite + Send + Sync> {
        Box::new(LineWriter {
            prefix: self.prefix.clone(),
            stderr: self.stderr,
            pending: Vec::new(),
        })
    }
}

/// Buffers a partial line until its newline (or until the stream drops).
struct LineWriter {
    prefix: Arc<str>,
    stderr: bool,
    pending: Vec<u8>,
}

impl LineWriter {
    fn emit(&self, lines: &[u8]) {
        let mut out = Vec::with_capacity(lines.len() + 16);
        for line in lines.split_inclusive(|b| *b == b'\n') {
            out.extend_from_slice(self.prefix.as_bytes());
            out.extend_from_slice(line);
            if !line.ends_with(b"\n") {
                out.push(b'\n');
            }
        }
        // Output is best effort: a closed terminal must not fail the guest.
        if self.stderr {
            let _ = std::io::stderr().lock().write_all(&out);
        } else {
            let mut stdout = std::io::stdout().lock();
            let _ = stdout.write_all(&out);
            let _ = stdout.flush();
        }
    }
}

impl AsyncWrite for LineWriter {
    fn poll_write(
        mut self: Pin<&mut Self>,
        _: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        self.pending.extend_from_slice(buf);
        if let Some(last_newline) = self.pending.iter().rposition(|b| *b == b'\n') {
            let rest = self.pending.split_off(last_newline + 1);
            let complete = std::mem::replace(&mut self.pending, rest);
            self.emit(&complete);
        }
        Poll::Ready(Ok(buf.len()))
    }

    fn poll_flush(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Poll::Ready(Ok(()))
    }
}

impl Drop for LineWriter {
    fn drop(&mut self) {
        if !self.pending.is_empty() {
            let pending = std::mem::take(&mut self.pending);
            self.emit(&pending);
        }
    }
}

/// Prints a host line to stdout and flushes it at once (readiness lines are
/// read by other programs through a pipe).
pub fn announce(line: &str) {
    let mut stdout = std::io::stdout().lock();
    let _ = writeln!(stdout, "{line}");
    let _ = stdout.flush();
}
