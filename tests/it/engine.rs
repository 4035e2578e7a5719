//! The apply engine's scheduling and failure policy, with a scripted transport (facts from a
//! captured fixture; steps succeed or fail as the test says). What these steps do on real hosts
//! is proven in lab_apply.rs; here: who stops, who goes on, and that the journal records but never skips.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Mutex;
use std::time::Duration;

use groundup::engine::{self, Journal, Outcome};
use groundup::exec::{ExecError, Output, Payload, Request, Transport};
use groundup::facts::HostFacts;
use groundup::inventory::{Host, Inventory};
use groundup::plan::{phases, Context, HostSteps, Phase, PlanError, Step};
use groundup::report::Reporter;

use crate::common::{fixture, n_hosts};

/// Facts from a fixture (hostname per host, the marker as last written); fails the steps whose
/// title contains `fail[host]`; records every step it runs.
struct Fake {
    os: &'static str,
    fail: BTreeMap<String, String>,
    markers: Mutex<BTreeMap<String, String>>,
    ran: Mutex<Vec<(String, String)>>,
    in_flight: std::sync::atomic::AtomicUsize,
    max_in_flight: std::sync::atomic::AtomicUsize,
}

impl Fake {
    fn new(os: &'static str, fail: &[(&str, &str)]) -> Fake {
        Fake {
            os,
            fail: fail.iter().map(|(h, s)| (h.to_string(), s.to_string())).collect(),
            markers: Mutex::new(BTreeMap::new()),
            ran: Mutex::new(Vec::new()),
            in_flight: Default::default(),
            max_in_flight: Default::default(),
        }
    }
    fn ran_on(&self, host: &str) -> Vec<String> {
        self.ran
            .lock()
            .unwrap()
            .iter()
            .filter(|(h, _)| h == host)
            .map(|(_, s)| s.clone())
            .collect()
    }
}

/// Replaces the one-line value of a facts section.
fn set_section(raw: &str, name: &str, value: &str) -> String {
    let mark = format!("@@groundup-fact:{name}\n");
    let (head, rest) = raw.split_once(&mark).unwrap();
    let rest = rest.split_once('\n').map(|(_, r)| r).unwrap_or("");
    format!("{head}{mark}{value}\n{rest}")
}

fn ok(stdout: String) -> Result<Output, ExecError> {
    Ok(Output {
        status: Some(0),
        stdout,
        stderr: String::new(),
        duration: Duration::ZERO,
    })
}

impl Transport for Fake {
    async fn run(&self, host: &Host, req: &Request) -> Result<Output, ExecError> {
        let name = host.name.to_string();
        if req.what == "gather facts" {
            // One fixture for every host: give each its own hostname and address.
            let i: u8 = name.trim_start_matches("h-").parse().unwrap_or(0);
            let now = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .as_secs_f64();
            let raw = fixture(&format!("facts/{}.txt", self.os));
            let raw = set_section(&raw, "hostname", &name);
            let mut text = set_section(&raw, "clock", &format!("{now:.6}"))
                .replace("10.77.0.101", &format!("10.77.0.{}", 101 + i));
            if let Some(m) = self.markers.lock().unwrap().get(&name) {
                text = text.replace("@@groundup-fact:marker\n", &format!("@@groundup-fact:marker\n{m}\n"));
            }
            return ok(text);
        }
        if req.what == "write the groundup marker" {
            if let Payload::Script(s) = &req.payload {
                let run = s
                    .split_whitespace()
                    .find(|w| w.starts_with("'20") || w.starts_with("20"))
                    .unwrap_or("")
                    .trim_matches('\'');
                self.markers.lock().unwrap().insert(name, format!("run={run} phase=x"));
            }
            return ok(String::new());
        }
        self.ran.lock().unwrap().push((name.clone(), req.what.clone()));
        use std::sync::atomic::Ordering::SeqCst;
        let now = self.in_flight.fetch_add(1, SeqCst) + 1;
        self.max_in_flight.fetch_max(now, SeqCst);
        tokio::time::sleep(Duration::from_millis(20)).await;
        self.in_flight.fetch_sub(1, SeqCst);
        if self.fail.get(&name).is_some_and(|f| req.what.contains(f.as_str())) {
            return Ok(Output {
                status: Some(100),
                stdout: String::new(),
                stderr: "E: scripted failure\n".into(),
                duration: Duration::ZERO,
            });
        }
        ok(String::new())
    }
}

fn cluster() -> Inventory {
    // h-0 control plane, h-1 and h-2 workers; the fixture's facts fit them (no pinned IPs).
    n_hosts(3, |_| String::new())
}

async fn apply(
    inv: &Inventory,
    t: &Fake,
    until: &str,
    journal: Journal,
    dir: &std::path::Path,
    resume: bool,
) -> Outcome {
    let cx = Context::new(inv).unwrap();
    let phases = phases::until(Some(until)).unwrap();
    let opts = engine::Options {
        parallel: 8,
        journal_path: dir.join("journal.json"),
        resume,
        keep_going: false,
        marker: true,
    };
    engine::run(&cx, &phases, &inv.hosts, t, &opts, journal, &Reporter::silent()).await
}

fn fresh(run: &str) -> Journal {
    Journal {
        runs: vec![run.into()],
        ..Journal::default()
    }
}

fn host<'a>(o: &'a Outcome, n: &str) -> &'a engine::HostOutcome {
    o.hosts.iter().find(|h| h.host == n).unwrap()
}

#[tokio::test]
async fn a_failed_worker_is_left_behind_while_the_others_finish() {
    let dir = tempfile::tempdir().unwrap();
    let t = Fake::new("debian-12-vm", &[("h-1", "apply sysctls")]);
    let o = apply(
        &cluster(),
        &t,
        "container-runtime",
        fresh("20261123T000000Z-1"),
        dir.path(),
        false,
    )
    .await;
    assert_eq!(o.exit_code, 1, "{o:#?}");
    assert_eq!(o.counts.failed, 1);
    assert!(o.stopped.is_none(), "a worker does not stop the run");
    let h1 = host(&o, "h-1");
    let f = h1.failed.as_ref().unwrap();
    assert_eq!((f.phase, f.stderr_tail.as_str()), ("prepare-os", "E: scripted failure"));
    assert_eq!(h1.not_reached, ["runtime-packages", "container-runtime"]);
    for n in ["h-0", "h-2"] {
        assert_eq!(host(&o, n).done.last().unwrap().phase, "container-runtime", "{n}");
    }
    assert!(
        t.ran_on("h-1").iter().all(|s| !s.contains("containerd")),
        "nothing after the failure on h-1"
    );
}

#[tokio::test]
async fn a_failed_control_plane_stops_every_host_after_its_phase() {
    let dir = tempfile::tempdir().unwrap();
    let t = Fake::new("debian-12-vm", &[("h-0", "load overlay")]);
    let o = apply(
        &cluster(),
        &t,
        "container-runtime",
        fresh("20261123T000000Z-2"),
        dir.path(),
        false,
    )
    .await;
    assert_eq!(o.exit_code, 1);
    assert!(o.stopped.as_deref().unwrap().contains("h-0"), "{:?}", o.stopped);
    for h in &o.hosts {
        assert!(
            h.not_reached.contains(&"runtime-packages"),
            "{}: {:?}",
            h.host,
            h.not_reached
        );
        assert!(h.done.iter().all(|d| d.phase != "runtime-packages"));
    }
    let ran: BTreeSet<String> = t.ran.lock().unwrap().iter().map(|(_, s)| s.clone()).collect();
    assert!(!ran.iter().any(|s| s.contains("install containerd")), "{ran:?}");
}

/// Issue 10, defect 3: the journal never decides what runs. This fake's facts never change, so
/// every step a host finished is planned again — and must run again, resumed or not (on real
/// hosts the facts show finished steps done; `lab_apply` proves that half).
#[tokio::test]
async fn resume_runs_whatever_fresh_facts_plan_and_notes_hosts_whose_marker_differs() {
    let dir = tempfile::tempdir().unwrap();
    let inv = cluster();
    let t = Fake::new("debian-12-vm", &[("h-2", "install containerd")]);
    let first = apply(
        &inv,
        &t,
        "container-runtime",
        fresh("20261123T000000Z-3"),
        dir.path(),
        false,
    )
    .await;
    assert_eq!(first.exit_code, 1);
    let journal = engine::journal::load(&dir.path().join("journal.json"))
        .unwrap()
        .unwrap();
    assert!(!journal.finished);
    let recorded = journal.hosts["h-0"].done.len();
    assert!(recorded > 0, "the journal records what ran");
    assert_eq!(journal.hosts["h-2"].failed.as_ref().unwrap().phase, "runtime-packages");

    let t2 = Fake::new("debian-12-vm", &[]);
    *t2.markers.lock().unwrap() = t.markers.lock().unwrap().clone();
    t2.markers.lock().unwrap().remove("h-1");
    let resumed = Journal::resume(journal, "20261123T000100Z-4".into(), vec![]);
    let o = apply(&inv, &t2, "container-runtime", resumed, dir.path(), true).await;
    assert_eq!((o.exit_code, o.counts.failed), (0, 0), "{o:#?}");
    assert_eq!(
        t2.ran_on("h-0"),
        t.ran_on("h-0"),
        "h-0: every step its facts still plan runs again, journal or not"
    );
    assert!(
        t2.ran_on("h-2").iter().any(|s| s.starts_with("install containerd")),
        "h-2 runs the step that failed"
    );
    assert!(
        o.notes.iter().any(|n| n.starts_with("h-1: its marker")),
        "{:?}",
        o.notes
    );
    let j = engine::journal::load(&dir.path().join("journal.json"))
        .unwrap()
        .unwrap();
    assert!(j.finished && j.runs.len() == 2);
}

#[tokio::test]
async fn a_failed_preflight_changes_nothing_anywhere() {
    let dir = tempfile::tempdir().unwrap();
    let t = Fake::new("centos-7", &[]);
    let o = apply(
        &cluster(),
        &t,
        "kube-packages",
        fresh("20261123T000000Z-5"),
        dir.path(),
        false,
    )
    .await;
    assert_eq!(o.exit_code, groundup::exit::PREFLIGHT);
    assert!(o.nothing_changed);
    assert!(
        t.ran.lock().unwrap().is_empty(),
        "no step ran: {:?}",
        t.ran.lock().unwrap()
    );
    assert!(host(&o, "h-0").failed.as_ref().unwrap().error.contains("CentOS"));
}

/// A phase of two steps per host, serial or not: what control-plane joins (issue 5) will use.
struct Probe(bool);

impl Phase for Probe {
    fn name(&self) -> &'static str {
        "probe"
    }
    fn serial(&self) -> bool {
        self.0
    }
    fn plan(&self, _: &Context, _: &Host, _: &HostFacts) -> Result<HostSteps, PlanError> {
        let mut hs = HostSteps::default();
        hs.change(Step::script("one", "probe one", "true"));
        hs.change(Step::script("two", "probe two", "true"));
        Ok(hs)
    }
}

#[tokio::test]
async fn a_serial_phase_never_overlaps_hosts_and_a_parallel_one_does() {
    let inv = n_hosts(5, |_| String::new());
    let cx = Context::new(&inv).unwrap();
    for serial in [true, false] {
        let dir = tempfile::tempdir().unwrap();
        let t = Fake::new("debian-12-vm", &[]);
        let probe = Probe(serial);
        let opts = engine::Options {
            parallel: 8,
            journal_path: dir.path().join("j.json"),
            resume: false,
            keep_going: false,
            marker: true,
        };
        let o = engine::run(
            &cx,
            &[&probe],
            &inv.hosts,
            &t,
            &opts,
            fresh("20261123T000000Z-9"),
            &Reporter::silent(),
        )
        .await;
        assert_eq!((o.exit_code, o.counts.changed), (0, 10));
        let max = t.max_in_flight.load(std::sync::atomic::Ordering::SeqCst);
        if serial {
            assert_eq!(max, 1, "serial: one host at a time");
            // Each host's two steps run back to back: the order is host by host.
            let order: Vec<String> = t.ran.lock().unwrap().iter().map(|(h, _)| h.clone()).collect();
            let mut dedup = order.clone();
            dedup.dedup();
            assert_eq!(dedup.len(), 5, "{order:?}");
        } else {
            assert!(max > 1, "parallel phases use the window (max {max})");
        }
    }
}

#[tokio::test]
async fn a_failed_cluster_check_is_reported_and_changes_nothing() {
    // Every host reports the same address: the node IPs collide (the VirtualBox NAT trap).
    struct Same(Fake);
    impl Transport for Same {
        async fn run(&self, host: &Host, req: &Request) -> Result<Output, ExecError> {
            let mut out = self.0.run(host, req).await?;
            out.stdout = out
                .stdout
                .replace("10.77.0.102", "10.77.0.101")
                .replace("10.77.0.103", "10.77.0.101");
            Ok(out)
        }
    }
    let dir = tempfile::tempdir().unwrap();
    let t = Same(Fake::new("debian-12-vm", &[]));
    let inv = cluster();
    let cx = Context::new(&inv).unwrap();
    let opts = engine::Options {
        parallel: 8,
        journal_path: dir.path().join("j.json"),
        resume: false,
        keep_going: false,
        marker: true,
    };
    let all = phases::until(None).unwrap();
    let o = engine::run(
        &cx,
        &all,
        &inv.hosts,
        &t,
        &opts,
        fresh("20261123T000000Z-7"),
        &Reporter::silent(),
    )
    .await;
    assert_eq!(o.exit_code, groundup::exit::PREFLIGHT);
    assert!(o.nothing_changed && t.0.ran.lock().unwrap().is_empty());
    assert!(
        o.notes
            .iter()
            .any(|n| n.contains("across the cluster") && n.contains("10.77.0.101")),
        "{:?}",
        o.notes
    );
}
