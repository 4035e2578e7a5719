//! Facts: what a host is, read in one round trip. Owns the delimited facts script and the pure
//! parsers that turn each section of its output into typed values; tested on captured output per
//! distribution (tests/fixtures/facts/). Reads only; never changes a host.

mod cluster;
pub mod leftovers;
mod network;
mod os;
mod packages;
mod ports;
pub mod state;
mod system;

use std::collections::BTreeMap;
use std::time::{SystemTime, UNIX_EPOCH};

use serde::Serialize;

pub use network::{DefaultRoute, Interface};
pub use os::{OsFamily, OsRelease, Support};
pub use packages::PackageManager;
pub use ports::Listener;
pub use state::{Membership, Service, State};
pub use system::{CgroupVersion, Memory};

use crate::exec::{ExecError, Output, Request, Transport};
use crate::inventory::Host;

const MARK: &str = "@@groundup-fact:";

/// The facts script: each section prints a marker line, then its command's output.
/// Every command tolerates failure so one missing tool never hides the rest.
pub fn script() -> String {
    let sections: &[(&str, &str)] = &[
        (
            "os-release",
            "cat /etc/os-release 2>/dev/null || cat /usr/lib/os-release",
        ),
        ("uname", "uname -m; uname -r"),
        ("nproc", "nproc"),
        ("meminfo", "cat /proc/meminfo"),
        ("swaps", "cat /proc/swaps"),
        ("hostname", "hostname"),
        ("addresses", "ip -o addr show"),
        ("default-route", "ip -o route show default; ip -o -6 route show default"),
        ("cgroup", "stat -fc %T /sys/fs/cgroup"),
        ("init", "cat /proc/1/comm"),
        ("package-manager", "command -v apt-get dnf yum"),
        ("packages", packages::QUERY),
        ("listening", "ss -Htlnp"),
        ("user", "id -un"),
        ("clock", "date +%s.%N"),
        // The resolv.conf kubelet hands to CoreDNS (systemd-resolved's upstream one when it runs,
        // as kubeadm picks it) and its nameserver lines.
        (
            "resolv",
            "f=/etc/resolv.conf; if systemctl is-active -q systemd-resolved && [ -f /run/systemd/resolve/resolv.conf ]; \
             then f=/run/systemd/resolve/resolv.conf; fi; echo \"$f $(grep -cE '^[[:space:]]*nameserver[[:space:]]' $f)\"",
        ),
    ];
    let mut s = String::from("export LC_ALL=C PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin\n");
    let state = state::sections();
    let all = sections.iter().map(|(n, c)| (*n, c.to_string())).chain(state);
    for (name, cmd) in all {
        s.push_str(&format!("echo '{MARK}{name}'\n{{ {cmd}; }} 2>/dev/null || true\n"));
    }
    s
}

/// Splits the script's output into sections by marker.
pub fn sections(out: &str) -> BTreeMap<String, String> {
    let mut map = BTreeMap::new();
    let mut current: Option<(String, String)> = None;
    for line in out.lines() {
        if let Some(name) = line.strip_prefix(MARK) {
            if let Some((k, v)) = current.take() {
                map.insert(k, v);
            }
            current = Some((name.trim().to_string(), String::new()));
        } else if let Some((_, v)) = current.as_mut() {
            v.push_str(line);
            v.push('\n');
        }
    }
    if let Some((k, v)) = current {
        map.insert(k, v);
    }
    map
}

#[derive(Debug, Clone, Serialize)]
pub struct Facts {
    pub os: OsRelease,
    pub support: Support,
    pub arch: String,
    pub kernel: String,
    pub cpus: u32,
    pub memory: Memory,
    /// Active swap devices from /proc/swaps.
    pub swap_devices: Vec<String>,
    pub hostname: String,
    pub interfaces: Vec<Interface>,
    pub default_routes: Vec<DefaultRoute>,
    pub cgroup: CgroupVersion,
    pub init: String,
    pub package_manager: Option<PackageManager>,
    /// Installed container runtime and Kubernetes packages: name → version.
    pub packages: BTreeMap<String, String>,
    /// Of those, the ones dpkg holds (`apt-mark hold`).
    pub held: std::collections::BTreeSet<String>,
    pub listening: Vec<Listener>,
    /// The user the facts script ran as (root when sudo works).
    pub user: String,
    /// Seconds since the epoch on the host when the script ran.
    pub clock: Option<f64>,
    /// The resolv.conf kubelet will use and how many nameservers it lists (`None`: not gathered).
    pub resolv: Option<(String, u32)>,
    /// What groundup manages: modules, sysctls, services, managed files, artifacts.
    pub state: State,
}

/// Parses the whole facts script output. Pure.
pub fn parse(out: &str) -> Facts {
    let s = sections(out);
    let get = |k: &str| s.get(k).map(String::as_str).unwrap_or("");
    let os = os::parse_os_release(get("os-release"));
    let (arch, kernel) = system::parse_uname(get("uname"));
    Facts {
        support: os::support(&os),
        os,
        arch,
        kernel,
        cpus: get("nproc").trim().parse().unwrap_or(0),
        memory: system::parse_meminfo(get("meminfo")),
        swap_devices: system::parse_swaps(get("swaps")),
        hostname: get("hostname").trim().to_string(),
        interfaces: network::parse_addresses(get("addresses")),
        default_routes: network::parse_default_routes(get("default-route")),
        cgroup: system::parse_cgroup(get("cgroup")),
        init: get("init").trim().to_string(),
        package_manager: packages::parse_manager(get("package-manager")),
        packages: packages::parse_packages(get("packages")),
        held: packages::parse_held(get("packages")),
        listening: ports::parse_ss(get("listening")),
        user: get("user").trim().to_string(),
        clock: get("clock").trim().parse().ok(),
        resolv: get("resolv")
            .split_once(' ')
            .and_then(|(f, n)| Some((f.to_string(), n.trim().parse().ok()?))),
        state: state::parse(|k| get(k).to_string()),
    }
}

/// Facts of one host plus how far its clock is from this machine's.
#[derive(Debug, Clone, Serialize)]
pub struct HostFacts {
    pub facts: Facts,
    /// Host clock minus this machine's clock (seconds): the host's time is read at the end of the
    /// script and compared with the moment its output arrived here, so the error is at most the
    /// one-way latency (connect time does not count).
    pub clock_skew: Option<f64>,
    /// The raw script output, for `--output json` debugging and fixture capture.
    #[serde(skip)]
    pub raw: Output,
}

/// Gathers the facts of one host in one round trip.
pub async fn gather<T: Transport>(t: &T, host: &Host) -> Result<HostFacts, ExecError> {
    let out = t.run(host, &Request::script("gather facts", script())).await?;
    let arrived = now();
    let facts = parse(&out.stdout);
    let clock_skew = facts.clock.map(|c| c - arrived);
    Ok(HostFacts {
        facts,
        clock_skew,
        raw: out,
    })
}

fn now() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or(0.0)
}
