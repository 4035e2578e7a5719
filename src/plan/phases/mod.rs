//! The phases of `apply`, in the one order they run. Adding a phase is adding a file here and a
//! line in [`ALL`]. Shared planning helpers (managed files, artifacts, package installs) live here
//! so every phase decides "changed or not" the same way.

pub mod addons;
pub mod api_endpoint;
pub mod container_runtime;
pub mod etcd;
mod helm;
pub mod images;
pub mod join_token;
pub mod kube_packages;
pub mod kubeadm_config;
mod kubeadm_run;
mod pki_files;
pub mod pod_network;
mod preflight;
mod prepare_os;
mod proxy;
pub use pki_files::{content as placement_content, placements, Placement};
pub use proxy::no_proxy;
pub mod runtime_packages;

use crate::artifacts::Artifact;
use crate::facts::Facts;
use crate::os::{Os, Pkg, Repo};
use crate::paths;

use super::{Action, Content, Context, HostSteps, Phase, Step};

/// Every phase, in order. `--until <name>` stops after the named one.
pub const ALL: &[&dyn Phase] = &[
    &preflight::Preflight,
    &proxy::Proxy,
    &prepare_os::PrepareOs,
    &runtime_packages::RuntimePackages,
    &container_runtime::ContainerRuntime,
    &images::Images,
    &kube_packages::KubePackages,
    &container_runtime::SandboxImage,
    &helm::Helm,
    &pki_files::PkiFiles,
    &etcd::Etcd,
    &kubeadm_config::KubeadmConfig,
    &api_endpoint::ApiEndpoint,
    &kubeadm_run::ControlPlaneInit,
    &pod_network::PodNetwork,
    &join_token::JoinToken,
    &kubeadm_run::ControlPlaneJoin,
    &api_endpoint::KubeVip,
    &kubeadm_run::WorkersJoin,
    &addons::Addons,
];

pub fn names() -> Vec<&'static str> {
    ALL.iter().map(|p| p.name()).collect()
}

/// The phases up to and including `until` (all when `None`); `None` back for an unknown name.
pub fn until(until: Option<&str>) -> Option<Vec<&'static dyn Phase>> {
    match until {
        None => Some(ALL.to_vec()),
        Some(name) => {
            let i = ALL.iter().position(|p| p.name() == name)?;
            Some(ALL[..=i].to_vec())
        }
    }
}

/// Plans writing `path` when its checksum on the host differs; returns whether it will change.
pub(crate) fn file(hs: &mut HostSteps, f: &Facts, id: &str, path: &str, mode: u32, content: Content) -> bool {
    if f.state.files.get(path) == Some(&content.sha256) {
        hs.unchanged(path.to_string(), "content is current");
        false
    } else {
        hs.change(Step::write(id, path, mode, content));
        true
    }
}

/// Plans removing a managed file that is no longer wanted.
pub fn remove(hs: &mut HostSteps, f: &Facts, id: &str, path: &str) -> bool {
    if f.state.files.contains_key(path) {
        hs.change(Step::script(id, format!("remove {path}"), format!("rm -f {path}")));
        true
    } else {
        false
    }
}

/// Plans uploading one artifact (once per host: a verified copy is never sent again) and
/// returns its path on the host.
pub(crate) fn upload(hs: &mut HostSteps, f: &Facts, a: &Artifact) -> String {
    let remote = format!("{}/{}", paths::ARTIFACTS, a.file);
    if f.state.artifacts.get(&a.file) == Some(&a.sha256) {
        hs.unchanged(format!("artifact {}", a.file), "already on the host, sha256 verified");
    } else {
        hs.change(Step {
            id: format!("upload-{}", a.file),
            title: format!(
                "upload {} ({}) and verify sha256 {}",
                a.file,
                human_size(a.size),
                &a.sha256[..12]
            ),
            action: Action::Upload {
                path: remote.clone(),
                local: a.local.clone(),
                sha256: a.sha256.clone(),
                size: a.size,
            },
            hint: Some("check free space under /var/cache on the host".into()),
            on_timeout: None,
        });
    }
    remote
}

/// A package a phase needs, at a version prefix or any version.
pub(crate) struct Want<'a> {
    pub name: &'a str,
    pub version: Option<&'a str>,
}

/// Plans installing the wanted packages that are missing: from `[artifacts]` when the folder has
/// the file, else from the repositories (refreshing the index first). Returns whether anything
/// will be installed.
pub(crate) fn install(
    hs: &mut HostSteps,
    cx: &Context,
    os: &Os,
    f: &Facts,
    id: &str,
    wants: &[Want],
    hint: &str,
) -> bool {
    let missing: Vec<&Want> = wants
        .iter()
        .filter(|w| match w.version {
            Some(v) => !Os::has_version(f, w.name, v),
            None => !f.packages.contains_key(w.name),
        })
        .collect();
    let present: Vec<String> = wants
        .iter()
        .filter(|w| !missing.iter().any(|m| m.name == w.name))
        .map(|w| {
            format!(
                "{} {}",
                w.name,
                f.packages.get(w.name).map(String::as_str).unwrap_or("")
            )
        })
        .collect();
    if !present.is_empty() {
        hs.unchanged(format!("packages {}", present.join(", ")), "installed");
    }
    if missing.is_empty() {
        return false;
    }
    let mut pkgs = Vec::new();
    let mut from_repo = false;
    for w in &missing {
        match cx.artifacts.package(os.package_kind(), w.name, w.version, &f.arch) {
            Some(a) => pkgs.push(Pkg::File(upload(hs, f, a))),
            None => {
                from_repo = true;
                pkgs.push(match w.version {
                    Some(v) => os.pinned(w.name, v),
                    None => Pkg::repo(w.name),
                });
            }
        }
    }
    let names: Vec<&str> = missing.iter().map(|w| w.name).collect();
    let mut script = String::new();
    if from_repo {
        script.push_str(os.refresh());
        script.push('\n');
    }
    script.push_str(&os.install(&pkgs));
    let mut step = Step::script(id, format!("install {}", names.join(" ")), script);
    if from_repo {
        step = step.with_hint(hint);
    }
    hs.change(step);
    true
}

/// The hint for any step that downloads from a repository.
pub(crate) fn offline_hint(what: &str) -> String {
    format!(
        "if this host cannot reach {what}, put the packages in a local folder and set `[artifacts] dir = \"…\"` \
         in the inventory (groundup uploads them over SSH), or set `[proxy]`"
    )
}

/// Plans installing curl (and CA certificates) when missing, for groundup's own downloads.
pub(crate) fn ensure_curl(hs: &mut HostSteps, cx: &Context, os: &Os, f: &Facts) {
    let tools = [
        Want {
            name: "curl",
            version: None,
        },
        Want {
            name: "ca-certificates",
            version: None,
        },
    ];
    install(
        hs,
        cx,
        os,
        f,
        "curl-install",
        &tools,
        &offline_hint("the distribution's mirror"),
    );
}

/// Plans a package repository: the apt signing key (and curl to fetch it) when missing or when
/// the repository changes, then the repository file. `site` names the host in the offline hint.
pub(crate) fn repository(hs: &mut HostSteps, cx: &Context, os: &Os, f: &Facts, name: &str, repo: Repo, site: &str) {
    let changes = f.state.files.get(repo.file) != Some(&crate::digest::sha256_hex(repo.content.as_bytes()));
    if let Some((key, url)) = &repo.key {
        if changes || !f.state.files.contains_key(*key) {
            ensure_curl(hs, cx, os, f);
            hs.change(fetch_key(&format!("{name}-key"), key, url).with_hint(offline_hint(site)));
        }
    }
    file(
        hs,
        f,
        &format!("{name}-repo"),
        repo.file,
        0o644,
        Content::new(repo.content),
    );
}

/// Downloads an ASCII-armoured signing key for apt (`signed-by=` reads `.asc` directly).
pub fn fetch_key(id: &str, path: &str, url: &str) -> Step {
    Step::script(
        id,
        format!("fetch the signing key {url}"),
        with_proxy(&format!(
            "install -d -m 0755 \"$(dirname {path})\"\n\
             curl -fsSL --retry 2 --connect-timeout 10 --max-time 60 -o {path}.groundup-new {url}\n\
             chmod 0644 {path}.groundup-new && mv -f {path}.groundup-new {path}"
        )),
    )
}

/// Sources groundup's proxy settings, when the proxy phase wrote them, for a download.
pub(crate) fn with_proxy(cmd: &str) -> String {
    format!(
        "if [ -f {env} ]; then set -a; . {env}; set +a; fi\n{cmd}",
        env = paths::PROXY_ENV
    )
}

fn human_size(n: u64) -> String {
    match n {
        n if n >= 1 << 20 => format!("{:.1} MiB", n as f64 / 1048576.0),
        n if n >= 1 << 10 => format!("{:.1} KiB", n as f64 / 1024.0),
        n => format!("{n} bytes"),
    }
}
