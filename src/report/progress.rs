//! Renders work events to stderr: indicatif spinners per host, plain lines, or JSON lines.

use std::collections::HashMap;
use std::time::Duration;

use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};
use tokio::sync::mpsc::UnboundedReceiver;

use super::{Event, ProgressMode};

pub async fn render(mode: ProgressMode, mut rx: UnboundedReceiver<Event>) {
    match mode {
        ProgressMode::Bars => bars(&mut rx).await,
        ProgressMode::Json => {
            while let Some(e) = rx.recv().await {
                if let Ok(line) = serde_json::to_string(&e) {
                    eprintln!("{line}");
                }
            }
        }
        _ => {
            while let Some(e) = rx.recv().await {
                match e {
                    Event::Phase { title, hosts } => {
                        eprintln!("==> {title} ({hosts} host{})", if hosts == 1 { "" } else { "s" })
                    }
                    Event::HostStart { .. } => {}
                    Event::HostDone { host, ok, detail } => {
                        eprintln!("{host}: {} {detail}", if ok { "ok" } else { "FAILED" })
                    }
                }
            }
        }
    }
}

async fn bars(rx: &mut UnboundedReceiver<Event>) {
    let multi = MultiProgress::with_draw_target(ProgressDrawTarget::stderr());
    let style = ProgressStyle::with_template("{spinner} {prefix:>16} {wide_msg}")
        .unwrap_or_else(|_| ProgressStyle::default_spinner());
    let mut bars: HashMap<String, ProgressBar> = HashMap::new();
    while let Some(e) = rx.recv().await {
        match e {
            Event::Phase { title, .. } => {
                let _ = multi.println(format!("==> {title}"));
            }
            Event::HostStart { host, what } => {
                // apply sends one start per step: the host keeps its one bar.
                if let Some(bar) = bars.get(&host) {
                    bar.set_message(what);
                    continue;
                }
                let bar = multi.add(
                    ProgressBar::new_spinner()
                        .with_style(style.clone())
                        .with_prefix(host.clone()),
                );
                bar.enable_steady_tick(Duration::from_millis(120));
                bar.set_message(what);
                bars.insert(host, bar);
            }
            Event::HostDone { host, ok, detail } => {
                if let Some(bar) = bars.remove(&host) {
                    bar.finish_with_message(format!("{} {detail}", if ok { "ok" } else { "FAILED" }));
                }
            }
        }
    }
}
