//! dnf hosts: Rocky, AlmaLinux, CentOS Stream, RHEL 9+. Pure.

use super::{kube_channel, Pkg, Repo};
use crate::inventory::KubeVersion;
use crate::paths;

#[derive(Debug, Clone)]
pub struct Dnf {
    /// Red Hat Enterprise Linux itself (Docker publishes a `rhel` tree beside `centos`).
    pub rhel: bool,
}

impl Dnf {
    pub fn install(&self, pkgs: &[Pkg]) -> String {
        let args: Vec<String> = pkgs
            .iter()
            .map(|p| match p {
                Pkg::Repo { name, version: None } => name.clone(),
                Pkg::Repo { name, version: Some(v) } => format!("{name}-{v}"),
                Pkg::File(path) => shell_words::quote(path).into_owned(),
            })
            .collect();
        // The kubernetes repository excludes its own packages (that is the hold); lift it here only.
        format!("dnf install -y -q --disableexcludes=kubernetes {}", args.join(" "))
    }

    pub fn kube_repo(&self, v: KubeVersion) -> Repo {
        let ch = kube_channel(v);
        Repo {
            file: paths::DNF_KUBE_REPO,
            content: crate::render::render(
                "dnf-kubernetes.repo",
                minijinja::context! { url => format!("{ch}/rpm/"), minor => format!("{}.{}", v.major, v.minor) },
            )
            .expect("templates render (tested)"),
            key: None,
        }
    }

    pub fn docker_repo(&self) -> Repo {
        let tree = if self.rhel { "rhel" } else { "centos" };
        Repo {
            file: paths::DNF_DOCKER_REPO,
            content: crate::render::render(
                "dnf-docker.repo",
                minijinja::context! { url => format!("https://download.docker.com/linux/{tree}") },
            )
            .expect("templates render (tested)"),
            key: None,
        }
    }
}
