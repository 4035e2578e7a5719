//! /etc/os-release parsing and the support matrix: which distributions groundup runs on, and
//! why the others are refused. Pure.

use serde::Serialize;

#[derive(Debug, Clone, Default, Serialize)]
pub struct OsRelease {
    pub id: String,
    pub id_like: Vec<String>,
    pub version_id: String,
    /// `VERSION_CODENAME` (`bookworm`, `noble`): apt repositories are named by it.
    pub codename: String,
    pub pretty_name: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum OsFamily {
    /// Debian and Ubuntu: apt, dpkg.
    Debian,
    /// RHEL, Rocky, AlmaLinux, CentOS Stream: dnf, rpm.
    Rhel,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "status", rename_all = "kebab-case")]
pub enum Support {
    Supported { family: OsFamily },
    Unsupported { why: String },
}

pub fn parse_os_release(text: &str) -> OsRelease {
    let mut os = OsRelease::default();
    for line in text.lines() {
        let Some((k, v)) = line.split_once('=') else {
            continue;
        };
        let v = unquote(v.trim());
        match k.trim() {
            "ID" => os.id = v.to_ascii_lowercase(),
            "ID_LIKE" => os.id_like = v.split_whitespace().map(str::to_ascii_lowercase).collect(),
            "VERSION_ID" => os.version_id = v,
            "VERSION_CODENAME" => os.codename = v,
            "PRETTY_NAME" => os.pretty_name = v,
            _ => {}
        }
    }
    os
}

fn unquote(v: &str) -> String {
    let v = v
        .strip_prefix(['"', '\''])
        .and_then(|s| s.strip_suffix(['"', '\'']))
        .unwrap_or(v);
    v.replace("\\\"", "\"").replace("\\\\", "\\")
}

fn major(version_id: &str) -> Option<u32> {
    version_id.split('.').next()?.parse().ok()
}

/// Debian ≥ 12, Ubuntu 22.04 / 24.04 (and later LTS), RHEL-family ≥ 9.
pub fn support(os: &OsRelease) -> Support {
    let name = if os.pretty_name.is_empty() {
        format!("{} {}", os.id, os.version_id)
    } else {
        os.pretty_name.clone()
    };
    let like = |x: &str| os.id == x || os.id_like.iter().any(|l| l == x);
    let major = major(&os.version_id);
    if os.id.is_empty() {
        return Support::Unsupported {
            why: "no /etc/os-release: cannot tell which distribution this is".into(),
        };
    }
    if os.id == "ubuntu" {
        let ok = matches!(os.version_id.as_str(), "22.04" | "24.04")
            || major.is_some_and(|m| m >= 26 && os.version_id.ends_with(".04"));
        return if ok {
            Support::Supported {
                family: OsFamily::Debian,
            }
        } else {
            Support::Unsupported {
                why: format!("{name}: groundup supports the Ubuntu LTS releases 22.04 and 24.04"),
            }
        };
    }
    if os.id == "debian" {
        return match major {
            Some(m) if m >= 12 => Support::Supported {
                family: OsFamily::Debian,
            },
            _ => Support::Unsupported {
                why: format!("{name}: Debian 12 (bookworm) or newer is required"),
            },
        };
    }
    if like("rhel") || like("centos") || like("fedora") && os.id != "fedora" {
        return match major {
            Some(m) if m >= 9 => Support::Supported { family: OsFamily::Rhel },
            Some(7) => Support::Unsupported {
                why: format!("{name} is end of life (June 2024) and cannot run current Kubernetes: its 3.10 kernel and cgroup v1 \
                    predate what kubelet needs, and neither pkgs.k8s.io nor containerd 2.x ship packages for it; move to Rocky or AlmaLinux 9"),
            },
            Some(8) => Support::Unsupported {
                why: format!("{name}: groundup supports the el9 family (Rocky, AlmaLinux, CentOS Stream, RHEL 9 or newer)"),
            },
            _ => Support::Unsupported { why: format!("{name}: version `{}` is not supported; use an el9 release", os.version_id) },
        };
    }
    Support::Unsupported {
        why: format!(
            "{name}: groundup supports Debian 12+, Ubuntu 22.04/24.04, and Rocky/AlmaLinux/CentOS Stream/RHEL 9+"
        ),
    }
}
