//! Facts: what a host is, read in one round trip. Owns the delimited facts script and the pure
//! parsers that turn each section of its output into typed values; tested on captured output per
//! distribution (tests/fixtures/facts/). Reads only; never changes a host.

pub mod cluster;
pub mod leftovers;
mod network;
mod os;
mod packages;
mod ports;
pub mod state;
mod system;
pub mod trust;

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
    script_with(&OPTIONAL)
}

/// Sections gathered only by the runs that plan from them: `leftovers` (iptables, nft, ctr and
/// find over kubeadm's folders: `reset` and `remove`) and `trust` (the CA bundles a rotation of
/// the kubernetes CA moves: `pki rotate-ca`).
pub const OPTIONAL: [&str; 2] = ["leftovers", "trust"];

/// The facts script with the [`OPTIONAL`] sections named in `extra` (and no other).
pub fn script_with(extra: &[&str]) -> String {
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
        // The resolv.conf kubelet hands to CoreDNS (systemd-resolved's upstream one when it runs,
        // as kubeadm picks it) and its nameserver lines.
        (
            "resolv",
            "f=/etc/resolv.conf; if systemctl is-active -q systemd-resolved && [ -f /run/systemd/resolve/resolv.conf ]; \
             then f=/run/systemd/resolve/resolv.conf; fi; echo \"$f $(grep -cE '^[[:space:]]*nameserver[[:space:]]' $f)\"",
        ),
    ];
    let state = state::sections()
        .into_iter()
        .filter(|(n, _)| !OPTIONAL.contains(n) || extra.contains(n));
    let all: Vec<(&str, String)> = sections.iter().map(|(n, c)| (*n, c.to_string())).chain(state).collect();
    concurrent(&all)
}

/// The sections run at once, each into its own file of a private temporary folder, then printed
/// in order, so a round costs its slowest section (the API queries) rather than their sum; the
/// clock is read last. Where no temporary folder can be made they run one after another.
fn concurrent(all: &[(&str, String)]) -> String {
    // The Go tools asked here (kubectl, kubeadm, ctr, helm) live for a few milliseconds: without
    // a garbage collector until their heap nears 256 MiB they spend about a fifth less CPU, which
    // is what a round costs where hosts share cores.
    let mut s = String::from(
        "export LC_ALL=C PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin GOGC=off GOMEMLIMIT=256MiB\n\
         if _gu=$(mktemp -d 2>/dev/null); then\n",
    );
    for (i, (_, cmd)) in all.iter().enumerate() {
        s.push_str(&format!("{{ {cmd}; }} >\"$_gu/{i}\" 2>/dev/null &\n"));
    }
    s.push_str("wait\n");
    // Each section's output ends with a newline, so the next marker starts a line.
    for (i, (name, _)) in all.iter().enumerate() {
        s.push_str(&format!(
            "echo '{MARK}{name}'; cat \"$_gu/{i}\"; [ -z \"$(tail -c1 \"$_gu/{i}\")\" ] || echo\n"
        ));
    }
    s.push_str("rm -rf \"$_gu\"\nelse\n");
    for (name, cmd) in all {
        s.push_str(&format!(
            "echo '{MARK}{name}'\n_o=$({{ {cmd}; }} 2>/dev/null) || true\n[ -z \"$_o\" ] || printf '%s\\n' \"$_o\"\n"
        ));
    }
    s.push_str(&format!("fi\necho '{MARK}clock'\ndate +%s.%N\n"));
    s
}

/// Splits the script's output into sections by marker.
pub fn sections(out: &str) -> BTreeMap<String, String> {
    let mut map = BTreeMap::new();
    let mut current: Option<(String, String)> = None;
    for line in out.lines() {
        // A section whose output does not end with a newline (`helm version --template` prints
        // none) leaves the next marker at the end of its last line.
        let line = match line.find(MARK) {
            Some(at) if at > 0 => {
                if let Some((_, v)) = current.as_mut() {
                    v.push_str(&line[..at]);
                    v.push('\n');
                }
                &line[at..]
            }
            _ => line,
        };
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

/// Gathers the facts of one host in one round trip, without the [`OPTIONAL`] sections: what a
/// run that plans none of reset's or a rotation's steps reads (check, status, backup…).
pub async fn gather<T: Transport>(t: &T, host: &Host) -> Result<HostFacts, ExecError> {
    gather_with(t, host, &[]).await
}

/// Gathers the facts of one host, with the [`OPTIONAL`] sections named in `extra`.
pub async fn gather_with<T: Transport>(t: &T, host: &Host, extra: &[&str]) -> Result<HostFacts, ExecError> {
    let out = t
        .run(host, &Request::script("gather facts", script_with(extra)))
        .await?;
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

#[cfg(test)]
mod tests {
    use super::*;

    /// `helm version --template` prints no newline: the next section must still be its own, by
    /// both ways of running the script (seen on a real cluster: helm read as
    /// `v3.17.3@@groundup-fact:images`, every image then missing and imported again).
    #[test]
    fn a_section_without_a_final_newline_leaves_the_next_one_whole() {
        let all = vec![
            ("helm", "printf v3.17.3".to_string()),
            ("images", "printf 'a\\nb\\n'".to_string()),
            ("empty", "true".to_string()),
            ("last", "echo x".to_string()),
        ];
        for tmpdir in [std::env::temp_dir(), "/nonexistent/groundup".into()] {
            let out = std::process::Command::new("bash")
                .arg("-c")
                .arg(concurrent(&all))
                .env("TMPDIR", &tmpdir)
                .output()
                .unwrap();
            let s = sections(&String::from_utf8(out.stdout).unwrap());
            assert_eq!(s["helm"], "v3.17.3\n", "{tmpdir:?}");
            assert_eq!(s["images"], "a\nb\n", "{tmpdir:?}");
            assert_eq!((s["empty"].as_str(), s["last"].as_str()), ("", "x\n"), "{tmpdir:?}");
        }
        // The parser alone copes too, for output of older scripts.
        let s = sections("@@groundup-fact:helm\nv3.17.3@@groundup-fact:images\na\n");
        assert_eq!((s["helm"].as_str(), s["images"].as_str()), ("v3.17.3\n", "a\n"));
    }
}
