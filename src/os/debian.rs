//! apt hosts: Debian 12+, Ubuntu 22.04 / 24.04. Pure.

use super::{kube_channel, Pkg, Repo};
use crate::inventory::KubeVersion;
use crate::paths;

#[derive(Debug, Clone)]
pub struct Apt {
    /// `debian` or `ubuntu`: Docker's repository is split by it.
    pub distro: String,
    pub codename: String,
}

impl Apt {
    pub fn install(&self, pkgs: &[Pkg]) -> String {
        let args: Vec<String> = pkgs
            .iter()
            .map(|p| match p {
                Pkg::Repo { name, version: None } => name.clone(),
                // `=1.36.3-*`: any Debian revision of the pinned upstream version.
                Pkg::Repo { name, version: Some(v) } => shell_words::quote(&format!("{name}={v}-*")).into_owned(),
                Pkg::File(path) => shell_words::quote(path).into_owned(),
            })
            .collect();
        format!(
            "# a host that died mid-install left dpkg half-done: finish that first\n\
             dpkg --configure -a\n\
             NEEDRESTART_MODE=a apt-get install -y -q --no-install-recommends --allow-downgrades --allow-change-held-packages \\\n  \
             -o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold \\\n  {}",
            args.join(" ")
        )
    }

    pub fn kube_repo(&self, v: KubeVersion) -> Repo {
        let ch = kube_channel(v);
        Repo {
            file: paths::APT_KUBE_LIST,
            content: crate::render::render(
                "apt-kubernetes.list",
                minijinja::context! { key => paths::APT_KUBE_KEY, url => format!("{ch}/deb/"), minor => format!("{}.{}", v.major, v.minor) },
            )
            .expect("templates render (tested)"),
            key: Some((paths::APT_KUBE_KEY, format!("{ch}/deb/Release.key"))),
        }
    }

    pub fn docker_repo(&self, arch: &str) -> Repo {
        let arch = match arch {
            "x86_64" => "amd64",
            "aarch64" => "arm64",
            a => a,
        };
        let base = format!("https://download.docker.com/linux/{}", self.distro);
        Repo {
            file: paths::APT_DOCKER_LIST,
            content: crate::render::render(
                "apt-docker.list",
                minijinja::context! { key => paths::APT_DOCKER_KEY, url => base, arch, codename => self.codename },
            )
            .expect("templates render (tested)"),
            key: Some((paths::APT_DOCKER_KEY, format!("{base}/gpg"))),
        }
    }
}
