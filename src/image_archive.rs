//! Container image archives in `[artifacts]`: whether a `.tar` / `.tar.gz` is one (`docker save`
//! format with `manifest.json`, or an OCI layout with `index.json`), and the image names in it,
//! normalised the way containerd names them on `ctr images import` (`flannel/flannel:v1` →
//! `docker.io/flannel/flannel:v1`). Local only; reads the archive, never a registry.

use std::io::Read;
use std::path::Path;

use serde::Deserialize;

#[derive(Deserialize)]
struct DockerEntry {
    #[serde(rename = "RepoTags", default)]
    repo_tags: Option<Vec<String>>,
}

#[derive(Deserialize)]
struct OciIndex {
    #[serde(default)]
    manifests: Vec<OciDescriptor>,
}

#[derive(Deserialize)]
struct OciDescriptor {
    #[serde(default)]
    annotations: std::collections::BTreeMap<String, String>,
}

/// `None` when the tarball is not an image archive (a helm release tarball, say); the names
/// otherwise. An image archive without full image names is an error: containerd could not name
/// what it imports, and groundup could not tell whether a host has it.
pub fn names(path: &Path) -> Result<Option<Vec<String>>, String> {
    let err = |e: std::io::Error| format!("cannot read `{}`: {e}", path.display());
    let file = std::fs::File::open(path).map_err(err)?;
    let reader: Box<dyn Read> = if path.extension().is_some_and(|e| e == "gz") {
        Box::new(flate2::read::GzDecoder::new(file))
    } else {
        Box::new(file)
    };
    let mut archive = tar::Archive::new(reader);
    let (mut docker, mut oci) = (None, None);
    for entry in archive.entries().map_err(err)? {
        let mut entry = entry.map_err(err)?;
        let name = entry
            .path()
            .map_err(err)?
            .to_string_lossy()
            .trim_start_matches("./")
            .to_string();
        if name == "manifest.json" || name == "index.json" {
            let mut text = String::new();
            entry.read_to_string(&mut text).map_err(err)?;
            *(if name == "manifest.json" { &mut docker } else { &mut oci }) = Some(text);
        }
    }
    let bad = |what: &str, e: serde_json::Error| format!("`{}`: its {what} is not valid: {e}", path.display());
    let mut out = Vec::new();
    if let Some(text) = docker {
        let entries: Vec<DockerEntry> = serde_json::from_str(&text).map_err(|e| bad("manifest.json", e))?;
        out.extend(entries.into_iter().flat_map(|e| e.repo_tags.unwrap_or_default()));
    } else if let Some(text) = oci {
        let index: OciIndex = serde_json::from_str(&text).map_err(|e| bad("index.json", e))?;
        for m in index.manifests {
            let a = &m.annotations;
            let full = a.get("io.containerd.image.name").or_else(|| {
                a.get("org.opencontainers.image.ref.name")
                    .filter(|r| r.contains('/') || r.contains(':'))
            });
            out.extend(full.cloned());
        }
    } else {
        return Ok(None);
    }
    if out.is_empty() {
        return Err(format!(
            "`{}` is an image archive without image names: save it with its name \
             (`docker save IMAGE:TAG -o FILE` or `ctr images export FILE IMAGE:TAG`)",
            path.display()
        ));
    }
    let mut names: Vec<String> = out.iter().map(|n| normalize(n)).collect();
    names.sort();
    names.dedup();
    Ok(Some(names))
}

/// Docker Hub's implicit registry and `library/` path, and the implicit `latest` tag.
pub fn normalize(name: &str) -> String {
    let (first, rest) = name.split_once('/').unwrap_or(("", name));
    let full = if first.is_empty() {
        format!("docker.io/library/{rest}")
    } else if first.contains('.') || first.contains(':') || first == "localhost" {
        name.to_string()
    } else {
        format!("docker.io/{name}")
    };
    let last = full.rsplit('/').next().unwrap_or("");
    if last.contains(':') || last.contains('@') {
        full
    } else {
        format!("{full}:latest")
    }
}

#[cfg(test)]
mod tests {
    use super::normalize;

    #[test]
    fn names_are_normalised_as_containerd_does() {
        assert_eq!(normalize("busybox"), "docker.io/library/busybox:latest");
        assert_eq!(
            normalize("flannel/flannel:v0.28.9"),
            "docker.io/flannel/flannel:v0.28.9"
        );
        assert_eq!(
            normalize("registry.k8s.io/pause:3.10.1"),
            "registry.k8s.io/pause:3.10.1"
        );
        assert_eq!(normalize("localhost:5000/app"), "localhost:5000/app:latest");
        assert_eq!(
            normalize("ghcr.io/kube-vip/kube-vip:v1.2.3"),
            "ghcr.io/kube-vip/kube-vip:v1.2.3"
        );
    }
}
