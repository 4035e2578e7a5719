//! Which etcd the external members run, and from where (issue 21, defect 1). Pure.
//!
//! kubeadm refuses an external etcd older than its minimum (1.35 and 1.36: 3.5.24, preflight
//! `ExternalEtcdVersion`) and pins one etcd per release (the `registry.k8s.io/etcd` tag of
//! `kubeadm config images list`). Distributions ship older ones (Debian 12: 3.4.23), so members
//! run an upstream etcd in `/usr/local/bin`, from the first of:
//! - `[artifacts]` `etcd-v<V>-linux-<arch>.tar.gz`: upstream's release tarball;
//! - `[artifacts]` the etcd image archive every kit holds (`registry.k8s.io/etcd:<V>-0`, the very
//!   one kubeadm's image list names): its `/usr/local/bin/etcd*`;
//! - online: upstream's release of the version kubeadm pins, checked against its `SHA256SUMS`.
//!
//! A run that goes on to `kubeadm init` is refused before any host is touched when the chosen
//! etcd is older than kubeadm accepts ([`refusal`]).

use crate::artifacts::{Artifact, Kind};
use crate::inventory::{EtcdTopology, KubeVersion};
use crate::plan::upgrade::parse_version;
use crate::plan::{Context, PlanError};

/// What kubeadm of a minor says of etcd, from its `constants.go` in the newest patch seen run
/// (`DefaultEtcdVersion`, `MinExternalEtcdVersion`): 1.35.6 and 1.36.2. The end-to-end test
/// compares `pinned` with the installed kubeadm's own image list.
const KUBEADM: &[(u32, &str, &str)] = &[(35, "3.6.6", "3.5.24"), (36, "3.6.8", "3.5.24")];

/// kubeadm's etcd of this Kubernetes release: (pinned, minimum for an external etcd).
pub fn kubeadm(k: KubeVersion) -> Option<(&'static str, &'static str)> {
    KUBEADM
        .iter()
        .find(|(minor, _, _)| k.major == 1 && *minor == k.minor)
        .map(|(_, pinned, min)| (*pinned, *min))
}

/// Where the members' etcd comes from.
#[derive(Debug)]
pub enum Form<'a> {
    /// Upstream's release tarball in `[artifacts]`.
    Tarball(&'a Artifact),
    /// The etcd image archive in `[artifacts]`.
    Image(&'a Artifact),
    /// Upstream's release, downloaded on the host.
    Release,
}

#[derive(Debug)]
pub struct Choice<'a> {
    pub version: String,
    pub form: Form<'a>,
}

/// Go's name for `uname -m` (`x86_64` → `amd64`).
pub fn go_arch(uname: &str) -> &str {
    match uname {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        other => other,
    }
}

/// The version in `etcd-v3.6.8-linux-amd64.tar.gz`, with the architecture.
fn tarball_version(file: &str) -> Option<(&str, &str)> {
    let rest = file.strip_prefix("etcd-v")?.strip_suffix(".tar.gz")?;
    let (version, arch) = rest.split_once("-linux-")?;
    parse_version(version).map(|_| (version, arch))
}

/// The version of the etcd image in an archive (`registry.k8s.io/etcd:3.6.8-0` → `3.6.8`).
fn image_version(a: &Artifact) -> Option<String> {
    a.images.iter().find_map(|n| {
        let tag = n.strip_prefix("registry.k8s.io/etcd:")?;
        parse_version(tag).map(|v| v.to_string())
    })
}

/// The etcd for hosts of architecture `arch` (`uname -m`; `None`: any, for the local check).
pub fn choose<'a>(cx: &'a Context, arch: Option<&str>) -> Result<Choice<'a>, PlanError> {
    let want_arch = arch.map(go_arch);
    let newest = |a: &&Artifact, b: &&Artifact| {
        let v = |x: &Artifact| tarball_version(&x.file).and_then(|(v, _)| parse_version(v));
        v(a).cmp(&v(b))
    };
    let tarball = cx
        .artifacts
        .files
        .iter()
        .filter(|a| tarball_version(&a.file).is_some_and(|(_, ar)| want_arch.is_none_or(|w| w == ar)))
        .max_by(newest);
    if let Some(a) = tarball {
        let (version, _) = tarball_version(&a.file).unwrap_or_default();
        return Ok(Choice {
            version: version.to_string(),
            form: Form::Tarball(a),
        });
    }
    let image = cx
        .artifacts
        .files
        .iter()
        .filter(|a| a.kind == Kind::Image)
        .find_map(|a| image_version(a).map(|v| (v, a)));
    if let Some((version, a)) = image {
        return Ok(Choice {
            version,
            form: Form::Image(a),
        });
    }
    let k = cx.inv.cluster.kubernetes_version;
    match kubeadm(k) {
        Some((pinned, _)) => Ok(Choice {
            version: pinned.to_string(),
            form: Form::Release,
        }),
        None => Err(PlanError::new(
            format!("groundup does not know which etcd kubeadm {k} pins for an external etcd"),
            format!(
                "put upstream's `etcd-v<version>-linux-{}.tar.gz` or the etcd image archive \
                 (`kubeadm config images list --kubernetes-version v{k}` names it) in `[artifacts]`",
                want_arch.unwrap_or("amd64")
            ),
        )),
    }
}

/// Why `kubeadm init` would refuse the external etcd this inventory gets, if it would: said
/// before any host is touched. `None` for stacked etcd, or when kubeadm's minimum is unknown.
pub fn refusal(cx: &Context) -> Option<String> {
    if cx.inv.cluster.etcd != EtcdTopology::External {
        return None;
    }
    let k = cx.inv.cluster.kubernetes_version;
    let (pinned, min) = kubeadm(k)?;
    let choice = choose(cx, None).ok()?;
    let have = parse_version(&choice.version)?;
    if have >= parse_version(min)? {
        return None;
    }
    let from = match choice.form {
        Form::Tarball(a) | Form::Image(a) => format!("`{}` in [artifacts]", a.file),
        Form::Release => "upstream's release".into(),
    };
    Some(format!(
        "the external etcd members would run etcd {have} ({from}), and kubeadm {k} refuses an external etcd \
         older than {min} (its preflight check ExternalEtcdVersion); nothing was changed\n  \
         hint: put `etcd-v{pinned}-linux-amd64.tar.gz` (upstream's release) or the etcd image archive \
         `registry.k8s.io/etcd:{pinned}-0` in [artifacts] instead, or leave etcd out of [artifacts] to \
         download etcd {pinned} on the members; `--until etcd` sets up the members alone"
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tarball_names_give_version_and_architecture() {
        assert_eq!(
            tarball_version("etcd-v3.6.8-linux-amd64.tar.gz"),
            Some(("3.6.8", "amd64"))
        );
        assert_eq!(
            tarball_version("etcd-v3.6.8-linux-arm64.tar.gz"),
            Some(("3.6.8", "arm64"))
        );
        assert_eq!(tarball_version("etcd-v3.6.8-darwin-amd64.zip"), None);
        assert_eq!(tarball_version("helm-v3.19.0-linux-amd64.tar.gz"), None);
    }

    #[test]
    fn kubeadm_pins_per_minor() {
        let v = |minor| KubeVersion {
            major: 1,
            minor,
            patch: 2,
        };
        assert_eq!(kubeadm(v(36)), Some(("3.6.8", "3.5.24")));
        assert_eq!(kubeadm(v(35)), Some(("3.6.6", "3.5.24")));
        assert_eq!(kubeadm(v(30)), None);
    }
}
