//! A webhook receiver on loopback (`tests/webhooks/receiver.py`) that checks every
//! delivery's signature with the `standardwebhooks` package, not our code.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use serde_json::Value;

/// How long a test waits for deliveries.
pub const DELIVERY_TIMEOUT: Duration = Duration::from_secs(60);

/// The receiver process; killed when dropped.
pub struct Receiver {
    child: Child,
    pub port: u16,
    ip: String,
}

impl Receiver {
    pub fn start(secret: &str, port: u16) -> Receiver {
        Receiver::start_on("127.0.0.1", secret, port)
    }

    /// A receiver listening on `ip` (another loopback address, say).
    pub fn start_on(ip: &str, secret: &str, port: u16) -> Receiver {
        let python = testkit::workspace_root().join(".venv/bin/python");
        assert!(
            python.exists(),
            "{} is missing: run `make setup` (it installs the standardwebhooks package)",
            python.display()
        );
        let script = testkit::workspace_root().join("tests/webhooks/receiver.py");
        let mut child = Command::new(python)
            .arg(script)
            .arg(secret)
            .arg(port.to_string())
            .arg(ip)
            .stdout(Stdio::piped())
            .spawn()
            .expect("start the receiver");
        let mut line = String::new();
        BufReader::new(child.stdout.take().expect("its stdout"))
            .read_line(&mut line)
            .expect("the receiver's first line");
        let port = line
            .trim()
            .strip_prefix("listening ")
            .and_then(|p| p.parse().ok())
            .unwrap_or_else(|| panic!("the receiver said {line:?}"));
        Receiver {
            child,
            port,
            ip: ip.to_owned(),
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}:{}{path}", self.ip, self.port)
    }

    /// Every delivery the receiver has seen.
    pub fn log(&self) -> Vec<Value> {
        let url = self.url("/_log");
        let body = ureq::get(&url)
            .call()
            .unwrap_or_else(|e| panic!("GET {url}: {e}"))
            .into_body()
            .read_to_string()
            .expect("the log");
        serde_json::from_str(&body).expect("the log is JSON")
    }

    /// The deliveries of job `id`'s event, once `n` of them have arrived.
    pub fn deliveries(&self, id: &str, n: usize) -> Vec<Value> {
        let msg_id = format!("msg_{id}");
        testkit::wait_until_seen(
            DELIVERY_TIMEOUT,
            &format!("{n} deliveries of {msg_id}"),
            || {
                let seen: Vec<Value> = self
                    .log()
                    .into_iter()
                    .filter(|d| d["webhook_id"] == msg_id.as_str())
                    .collect();
                if seen.len() >= n { Ok(seen) } else { Err(seen) }
            },
        )
    }
}

impl Drop for Receiver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
