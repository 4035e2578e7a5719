//! Operating-system families: how packages, repositories, holds and services are spelled on apt
//! (Debian, Ubuntu) and dnf (Rocky, AlmaLinux, CentOS Stream, RHEL) hosts. Matched once from
//! /etc/os-release facts; phases call these and never branch on the distribution themselves.
//! Pure: returns script text and file contents.

mod debian;
mod rhel;

use crate::artifacts::Kind;
use crate::facts::{Facts, OsFamily, Support};
use crate::inventory::{KubeVersion, RuntimeSource};
use crate::plan::PlanError;

pub use debian::Apt;
pub use rhel::Dnf;

/// What to install: a repository package (optionally pinned) or an uploaded package file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Pkg {
    Repo { name: String, version: Option<String> },
    File(String),
}

impl Pkg {
    pub fn repo(name: &str) -> Pkg {
        Pkg::Repo {
            name: name.into(),
            version: None,
        }
    }
}

/// A repository definition: its file and, for apt, the signing key fetched next to it.
#[derive(Debug, Clone)]
pub struct Repo {
    pub file: &'static str,
    pub content: String,
    /// `(path, url)` of an ASCII-armoured key apt needs; dnf fetches `gpgkey=` itself.
    pub key: Option<(&'static str, String)>,
}

#[derive(Debug, Clone)]
pub enum Os {
    Apt(Apt),
    Dnf(Dnf),
}

impl Os {
    pub fn of(f: &Facts) -> Result<Os, PlanError> {
        match &f.support {
            Support::Supported {
                family: OsFamily::Debian,
            } => Ok(Os::Apt(Apt {
                distro: f.os.id.clone(),
                codename: f.os.codename.clone(),
            })),
            Support::Supported { family: OsFamily::Rhel } => Ok(Os::Dnf(Dnf {
                rhel: f.os.id == "rhel",
            })),
            Support::Unsupported { why } => Err(PlanError::new(
                format!("unsupported operating system: {why}"),
                "use a supported distribution (see README, Supported systems)",
            )),
        }
    }

    pub fn package_kind(&self) -> Kind {
        match self {
            Os::Apt(_) => Kind::Deb,
            Os::Dnf(_) => Kind::Rpm,
        }
    }

    /// Installs packages, finishing an interrupted install first; keeps existing config files.
    /// When the package manager fails, the lines that name the cause (an unmet dependency, a
    /// package not found) are repeated on stderr, where the failure report shows them: apt
    /// prints them on stdout, above its generic last line.
    pub fn install(&self, pkgs: &[Pkg]) -> String {
        let cmd = match self {
            Os::Apt(a) => a.install(pkgs),
            Os::Dnf(d) => d.install(pkgs),
        };
        with_cause(&cmd)
    }

    /// Refreshes the package index (apt) or metadata (dnf) before installing from repositories.
    pub fn refresh(&self) -> &'static str {
        match self {
            Os::Apt(_) => "apt-get update -q",
            Os::Dnf(_) => "dnf makecache -q",
        }
    }

    pub fn kube_repo(&self, v: KubeVersion) -> Repo {
        match self {
            Os::Apt(a) => a.kube_repo(v),
            Os::Dnf(d) => d.kube_repo(v),
        }
    }

    pub fn docker_repo(&self, arch: &str) -> Repo {
        match self {
            Os::Apt(a) => a.docker_repo(arch),
            Os::Dnf(d) => d.docker_repo(),
        }
    }

    /// How the Kubernetes packages are kept at their pinned version.
    pub fn hold(&self, names: &[&str]) -> Option<String> {
        match self {
            Os::Apt(_) => Some(format!("apt-mark hold {}", names.join(" "))),
            // The repository file's `exclude=` line is the hold; installs lift it explicitly.
            Os::Dnf(_) => None,
        }
    }

    /// The containerd package for a source.
    pub fn containerd_package(&self, source: RuntimeSource) -> Result<&'static str, PlanError> {
        match (self, source) {
            (_, RuntimeSource::Docker) => Ok("containerd.io"),
            (Os::Apt(_), RuntimeSource::Os) => Ok("containerd"),
            (Os::Dnf(_), RuntimeSource::Os) => Err(PlanError::new(
                "the el9 distributions ship no containerd package",
                "set `[container_runtime] source = \"docker\"` (Docker's containerd.io), or put a containerd.io .rpm in [artifacts]",
            )),
        }
    }

    /// The time-sync package and its unit.
    pub fn time_sync(&self) -> (&'static str, &'static str) {
        match self {
            Os::Apt(_) => ("systemd-timesyncd", "systemd-timesyncd"),
            Os::Dnf(_) => ("chrony", "chronyd"),
        }
    }

    /// A pinned package spec for the repository: `kubelet=1.36.3-*` / `kubelet-1.36.3`.
    pub fn pinned(&self, name: &str, version: &str) -> Pkg {
        Pkg::Repo {
            name: name.into(),
            version: Some(version.into()),
        }
    }

    /// The installed version of `name`, when its version starts with `want`.
    pub fn has_version(f: &Facts, name: &str, want: &str) -> bool {
        f.packages.get(name).is_some_and(|v| {
            let v = v.split_once(':').map(|(_, r)| r).unwrap_or(v);
            v == want || v.strip_prefix(want).is_some_and(|r| r.starts_with(['-', '+', '~']))
        })
    }
}

/// The pkgs.k8s.io path of a minor: `core:/stable:/v1.36`.
pub fn kube_channel(v: KubeVersion) -> String {
    format!("https://pkgs.k8s.io/core:/stable:/v{}.{}", v.major, v.minor)
}

/// The patterns of apt's and dnf's lines that say why an install failed.
pub const CAUSE_PATTERN: &str =
    "Depends:|PreDepends:|Conflicts:|Breaks:|not installable|Unable to locate|unmet dependencies|nothing provides|conflicting requests|Problem|^E: |^Error";

/// Runs `cmd` (in its own `bash -e`, so every line of it still stops at a failure) with its
/// output kept in a temporary file; on failure, prints the cause lines and then the last lines
/// to stderr, and fails with the command's status.
fn with_cause(cmd: &str) -> String {
    format!(
        "log=$(mktemp)\nrc=0\nbash -euo pipefail >\"$log\" 2>&1 <<'GROUNDUP_PKG' || rc=$?\n{cmd}\nGROUNDUP_PKG\n\
         if [ \"$rc\" -ne 0 ]; then\n  \
         echo 'the package manager failed; the lines that name the cause:' >&2\n  \
         grep -E '{CAUSE_PATTERN}' \"$log\" | sort -u | head -n 12 >&2 || true\n  \
         echo '--- its last lines:' >&2\n  tail -n 5 \"$log\" >&2\n  rm -f \"$log\"\n  exit \"$rc\"\nfi\nrm -f \"$log\""
    )
}
