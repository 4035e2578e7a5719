//! Parsers for kernel and machine facts: uname, /proc/meminfo, /proc/swaps, cgroup version. Pure.

use serde::Serialize;

#[derive(Debug, Clone, Copy, Default, Serialize)]
pub struct Memory {
    /// MemTotal in MiB (kubeadm's 1700 MB check compares this unit).
    pub total_mb: u64,
    pub swap_total_mb: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum CgroupVersion {
    V1,
    V2,
    Unknown,
}

pub fn parse_uname(text: &str) -> (String, String) {
    let mut lines = text.lines().map(str::trim);
    (
        lines.next().unwrap_or("").to_string(),
        lines.next().unwrap_or("").to_string(),
    )
}

pub fn parse_meminfo(text: &str) -> Memory {
    let kb = |key: &str| {
        text.lines()
            .find_map(|l| l.strip_prefix(key)?.strip_prefix(':'))
            .and_then(|v| v.split_whitespace().next()?.parse::<u64>().ok())
            .unwrap_or(0)
    };
    Memory {
        total_mb: kb("MemTotal") / 1024,
        swap_total_mb: kb("SwapTotal") / 1024,
    }
}

/// Active swap devices (the first column of /proc/swaps, header skipped).
pub fn parse_swaps(text: &str) -> Vec<String> {
    text.lines()
        .skip(1)
        .filter_map(|l| l.split_whitespace().next())
        .map(str::to_string)
        .collect()
}

pub fn parse_cgroup(text: &str) -> CgroupVersion {
    match text.trim() {
        "cgroup2fs" => CgroupVersion::V2,
        "tmpfs" => CgroupVersion::V1,
        _ => CgroupVersion::Unknown,
    }
}
