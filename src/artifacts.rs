//! The local `[artifacts]` folder: packages and archives for hosts that cannot reach the package
//! repositories. Owns reading the folder (sizes, sha256, an optional `SHA256SUMS` cross-check)
//! and finding the package file for a name and version. Local only; uploading is a planned step.

use std::io::Read;
use std::path::{Path, PathBuf};

use serde::Serialize;
use sha2::{Digest, Sha256};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Kind {
    Deb,
    Rpm,
    /// A container image archive (`*.tar`, `*.tar.gz` holding `manifest.json` or `index.json`)
    /// for `ctr images import`.
    Image,
    Other,
}

#[derive(Debug, Clone, Serialize)]
pub struct Artifact {
    /// The file name, also its name on the host under /var/cache/groundup/artifacts.
    pub file: String,
    pub local: PathBuf,
    pub sha256: String,
    pub size: u64,
    pub kind: Kind,
    /// Package name, version and architecture read from a .deb/.rpm file name.
    pub package: Option<String>,
    pub version: Option<String>,
    pub arch: Option<String>,
    /// The image names in an image archive, as containerd lists them once imported.
    pub images: Vec<String>,
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct Catalogue {
    pub dir: Option<PathBuf>,
    pub files: Vec<Artifact>,
}

impl Catalogue {
    /// Reads and hashes every file in `dir`. When the folder has a `SHA256SUMS` (as written by
    /// `sha256sum * > SHA256SUMS`), every file it lists must match, so a broken download is
    /// caught here rather than on fifty hosts.
    pub fn load(dir: Option<&Path>) -> Result<Catalogue, String> {
        let Some(dir) = dir else {
            return Ok(Catalogue::default());
        };
        let mut entries: Vec<PathBuf> = std::fs::read_dir(dir)
            .map_err(|e| format!("cannot read the artifacts folder `{}`: {e}", dir.display()))?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.is_file())
            .collect();
        entries.sort();
        let mut files = Vec::new();
        for local in entries {
            let file = local.file_name().and_then(|n| n.to_str()).unwrap_or("").to_string();
            if file.is_empty() || file.starts_with('.') || file == "SHA256SUMS" || file.ends_with(".sha256") {
                continue;
            }
            let (sha256, size) = hash_file(&local)?;
            let mut a = describe(file, local, sha256, size);
            if a.file.ends_with(".tar") || a.file.ends_with(".tar.gz") {
                if let Some(images) = crate::image_archive::names(&a.local)? {
                    a.kind = Kind::Image;
                    a.images = images;
                }
            }
            files.push(a);
        }
        let sums = dir.join("SHA256SUMS");
        if sums.is_file() {
            let text = std::fs::read_to_string(&sums).map_err(|e| format!("cannot read `{}`: {e}", sums.display()))?;
            for (name, want) in crate::facts::state::parse_sha256sum(&text) {
                match files.iter().find(|a| a.file == name) {
                    Some(a) if a.sha256 != want => {
                        return Err(format!(
                            "artifact `{}` does not match its line in `{}` (sha256 {} here, {} listed): \
                             download it again",
                            a.local.display(),
                            sums.display(),
                            a.sha256,
                            want
                        ))
                    }
                    Some(_) => {}
                    None => {
                        return Err(format!(
                            "`{}` lists `{name}`, which is not in the folder",
                            sums.display()
                        ))
                    }
                }
            }
        }
        Ok(Catalogue {
            dir: Some(dir.to_path_buf()),
            files,
        })
    }

    /// The file of exactly this name, if the folder has it.
    pub fn file(&self, name: &str) -> Option<&Artifact> {
        self.files.iter().find(|a| a.file == name)
    }

    /// The package file for `name` (at a version starting with `version`, when given) that runs on
    /// `arch` (uname -m), of the given kind.
    pub fn package(&self, kind: Kind, name: &str, version: Option<&str>, arch: &str) -> Option<&Artifact> {
        self.files.iter().find(|a| {
            a.kind == kind
                && a.package.as_deref() == Some(name)
                && version.is_none_or(|v| a.version.as_deref().is_some_and(|have| version_matches(have, v)))
                && a.arch.as_deref().is_some_and(|have| arch_matches(kind, have, arch))
        })
    }
}

/// `1.36.3-1.1` matches `1.36.3`; `1.36.30-1.1` does not.
fn version_matches(have: &str, want: &str) -> bool {
    have == want
        || have
            .strip_prefix(want)
            .is_some_and(|rest| rest.starts_with(['-', '+', '~']))
}

fn arch_matches(kind: Kind, have: &str, uname: &str) -> bool {
    let deb = match uname {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        other => other,
    };
    match kind {
        Kind::Deb => have == deb || have == "all",
        Kind::Rpm => have == uname || have == "noarch",
        _ => true,
    }
}

fn hash_file(p: &Path) -> Result<(String, u64), String> {
    let mut f = std::fs::File::open(p).map_err(|e| format!("cannot read artifact `{}`: {e}", p.display()))?;
    let mut h = Sha256::new();
    let mut buf = vec![0u8; 1 << 16];
    let mut size = 0u64;
    loop {
        let n = f
            .read(&mut buf)
            .map_err(|e| format!("cannot read artifact `{}`: {e}", p.display()))?;
        if n == 0 {
            break;
        }
        size += n as u64;
        h.update(&buf[..n]);
    }
    Ok((h.finalize().iter().map(|b| format!("{b:02x}")).collect(), size))
}

/// Reads package name, version and arch from Debian (`name_version_arch.deb`) and RPM
/// (`name-version-release.arch.rpm`) file names.
fn describe(file: String, local: PathBuf, sha256: String, size: u64) -> Artifact {
    let mut a = Artifact {
        kind: Kind::Other,
        package: None,
        version: None,
        arch: None,
        images: Vec::new(),
        file,
        local,
        sha256,
        size,
    };
    if let Some(stem) = a.file.strip_suffix(".deb") {
        let f: Vec<&str> = stem.split('_').collect();
        if f.len() == 3 {
            a.kind = Kind::Deb;
            a.package = Some(f[0].into());
            // dpkg writes an epoch `1:2.0` as `1%3a2.0` in file names.
            a.version = Some(f[1].replace("%3a", ":"));
            a.arch = Some(f[2].into());
        }
    } else if let Some(stem) = a.file.strip_suffix(".rpm") {
        if let Some((nvr, arch)) = stem.rsplit_once('.') {
            let mut parts = nvr.rsplitn(3, '-');
            if let (Some(rel), Some(ver), Some(name)) = (parts.next(), parts.next(), parts.next()) {
                a.kind = Kind::Rpm;
                a.package = Some(name.into());
                a.version = Some(format!("{ver}-{rel}"));
                a.arch = Some(arch.into());
            }
        }
    }
    a
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(name: &str) -> Artifact {
        describe(name.into(), PathBuf::from(name), String::new(), 0)
    }

    #[test]
    fn reads_package_file_names() {
        let a = d("kubelet_1.36.3-1.1_amd64.deb");
        assert_eq!(
            (a.kind, a.package.as_deref(), a.version.as_deref(), a.arch.as_deref()),
            (Kind::Deb, Some("kubelet"), Some("1.36.3-1.1"), Some("amd64"))
        );
        let r = d("cri-tools-1.36.0-150500.1.1.x86_64.rpm");
        assert_eq!(
            (r.kind, r.package.as_deref(), r.version.as_deref(), r.arch.as_deref()),
            (Kind::Rpm, Some("cri-tools"), Some("1.36.0-150500.1.1"), Some("x86_64"))
        );
        assert_eq!(
            d("flannel-v0.28.9.tar").kind,
            Kind::Other,
            "an image archive only once its names are read"
        );
        assert!(version_matches("1.36.3-1.1", "1.36.3"));
        assert!(!version_matches("1.36.30-1.1", "1.36.3"));
        assert!(arch_matches(Kind::Deb, "amd64", "x86_64") && !arch_matches(Kind::Deb, "arm64", "x86_64"));
    }
}
