//! The sliding window, with a scripted transport: never more than `parallel` hosts in flight,
//! the window is actually filled, and a slow host does not hold back the rest (no batch-and-wait).

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::Duration;

use groundup::commands::exec::exec;
use groundup::exec::{ExecError, Output, Request, Transport};
use groundup::inventory::Host;
use groundup::report::Reporter;

use crate::common::n_hosts;

#[derive(Default)]
struct Scripted {
    in_flight: AtomicUsize,
    max_seen: AtomicUsize,
    finished: Mutex<Vec<String>>,
}

impl Transport for Scripted {
    async fn run(&self, host: &Host, _req: &Request) -> Result<Output, ExecError> {
        let now = self.in_flight.fetch_add(1, Ordering::SeqCst) + 1;
        self.max_seen.fetch_max(now, Ordering::SeqCst);
        let ms = if host.name.as_str() == "h-0" { 1000 } else { 10 };
        tokio::time::sleep(Duration::from_millis(ms)).await;
        self.in_flight.fetch_sub(1, Ordering::SeqCst);
        self.finished.lock().unwrap().push(host.name.to_string());
        Ok(Output {
            status: Some(0),
            stdout: host.name.to_string(),
            stderr: String::new(),
            duration: Duration::from_millis(ms),
        })
    }
}

#[tokio::test]
async fn the_window_is_filled_but_never_exceeded() {
    let inv = n_hosts(60, |_| String::new());
    for parallel in [1, 7, 30] {
        let t = Scripted::default();
        let results = exec(
            &inv.hosts,
            &t,
            &Request::script("t", "true"),
            parallel,
            &Reporter::silent(),
        )
        .await;
        assert_eq!(results.len(), 60);
        assert_eq!(t.max_seen.load(Ordering::SeqCst), parallel, "window {parallel}");
        let order: Vec<&str> = results.iter().map(|r| r.host.as_str()).collect();
        assert_eq!(
            order,
            inv.hosts.iter().map(|h| h.name.as_str()).collect::<Vec<_>>(),
            "results in inventory order"
        );
    }
}

#[tokio::test]
async fn a_slow_host_does_not_hold_back_the_others() {
    let inv = n_hosts(40, |_| String::new());
    let t = Scripted::default();
    exec(&inv.hosts, &t, &Request::script("t", "true"), 4, &Reporter::silent()).await;
    let finished = t.finished.lock().unwrap();
    let slow_at = finished.iter().position(|n| n == "h-0").unwrap();
    // 3 slots keep sliding for 1 s at ~10 ms a host; batch-and-wait would finish h-0 by the 4th.
    assert!(slow_at >= 30, "h-0 finished {slow_at}th; the window did not slide");
}
