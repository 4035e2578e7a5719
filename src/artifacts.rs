//! The local `[artifacts]` folder: packages and archives for hosts that cannot reach the package
//! repositories. Owns reading the folder (sizes, sha256, an optional `SHA256SUMS` cross-check)
//! and finding the package file for a name and version. Local only; uploading is a planned step.
//! What a file's bytes say is remembered across runs while its size and mtime stay ([`Known`]).

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
        let mut known = Known::load();
        let mut files = Vec::new();
        for local in entries {
            let file = local.file_name().and_then(|n| n.to_str()).unwrap_or("").to_string();
            if file.is_empty() || file.starts_with('.') || file == "SHA256SUMS" || file.ends_with(".sha256") {
                continue;
            }
            let known = known.read(&local, &file)?;
            let mut a = describe(file, local, known.sha256, known.size);
            if let Some(images) = known.images {
                a.kind = Kind::Image;
                a.images = images;
            }
            files.push(a);
        }
        known.save();
        let sums = dir.join("SHA256SUMS");
        if sums.is_file() {
            let text = std::fs::read_to_string(&sums).map_err(|e| format!("cannot read `{}`: {e}", sums.display()))?;
            for (name, want) in crate::digest::parse_sha256sum(&text) {
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

/// What reading an artifact taught (its sha256 and image names), remembered across runs by path,
/// size and modification time: a run does not read hundreds of MB of archives again when nothing
/// changed (1.1 s of a 4.3 s no-op apply with real Kubernetes' images; issue 10). Uploads are
/// still checked by sha256 on every host, and a cache that cannot be read or written is ignored.
#[derive(Debug, Clone, Serialize, serde::Deserialize)]
struct Facts {
    size: u64,
    mtime_ns: u128,
    sha256: String,
    images: Option<Vec<String>>,
}

struct Known {
    path: PathBuf,
    by_file: std::collections::BTreeMap<String, Facts>,
}

impl Known {
    fn load() -> Known {
        let path = crate::paths::default_state_dir().join("artifacts.json");
        let by_file = std::fs::read_to_string(&path)
            .ok()
            .and_then(|t| serde_json::from_str(&t).ok())
            .unwrap_or_default();
        Known { path, by_file }
    }

    fn read(&mut self, local: &Path, file: &str) -> Result<Facts, String> {
        let meta = std::fs::metadata(local).map_err(|e| format!("cannot read artifact `{}`: {e}", local.display()))?;
        let mtime_ns = meta
            .modified()
            .ok()
            .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
            .map_or(0, |d| d.as_nanos());
        let key = local
            .canonicalize()
            .unwrap_or_else(|_| local.to_path_buf())
            .display()
            .to_string();
        if let Some(f) = self
            .by_file
            .get(&key)
            .filter(|f| f.size == meta.len() && f.mtime_ns == mtime_ns && mtime_ns > 0)
        {
            return Ok(f.clone());
        }
        let (sha256, size) = hash_file(local)?;
        let images = if file.ends_with(".tar") || file.ends_with(".tar.gz") {
            crate::image_archive::names(local)?
        } else {
            None
        };
        let f = Facts {
            size,
            mtime_ns,
            sha256,
            images,
        };
        self.by_file.insert(key, f.clone());
        Ok(f)
    }

    /// Written atomically; entries of files that no longer exist are dropped.
    fn save(mut self) {
        self.by_file.retain(|p, _| Path::new(p).is_file());
        let Some(dir) = self.path.parent() else { return };
        let write = || -> std::io::Result<()> {
            std::fs::create_dir_all(dir)?;
            let mut tmp = tempfile::NamedTempFile::new_in(dir)?;
            serde_json::to_writer(&mut tmp, &self.by_file)?;
            tmp.persist(&self.path).map_err(|e| e.error)?;
            Ok(())
        };
        if let Err(e) = write() {
            tracing::warn!(path = %self.path.display(), error = %e, "cannot remember artifact checksums");
        }
    }
}

/// One file outside the `[artifacts]` folder (a local chart archive), hashed, as an artifact
/// uploaded under `name`.
pub fn single(local: &Path, name: &str) -> Result<Artifact, String> {
    let (sha256, size) = hash_file(local)?;
    Ok(describe(name.to_string(), local.to_path_buf(), sha256, size))
}

/// The `name` and `version` of the chart in a helm chart archive (`helm package`'s `.tgz`: one
/// folder holding `Chart.yaml`).
pub fn chart_meta(local: &Path) -> Result<(String, String), String> {
    let bad = |why: String| format!("`{}` is not a helm chart archive: {why}", local.display());
    if !local.is_file() {
        return Err(format!("chart archive `{}` does not exist", local.display()));
    }
    let f = std::fs::File::open(local).map_err(|e| bad(e.to_string()))?;
    let mut tar = tar::Archive::new(flate2::read::GzDecoder::new(f));
    for entry in tar.entries().map_err(|e| bad(e.to_string()))? {
        let mut entry = entry.map_err(|e| bad(e.to_string()))?;
        let path = entry.path().map_err(|e| bad(e.to_string()))?.into_owned();
        if path.components().count() == 2 && path.ends_with("Chart.yaml") {
            let mut text = String::new();
            entry.read_to_string(&mut text).map_err(|e| bad(e.to_string()))?;
            let y: serde_norway::Value = serde_norway::from_str(&text).map_err(|e| bad(format!("Chart.yaml: {e}")))?;
            let field = |k: &str| y.get(k).and_then(|v| v.as_str()).map(String::from);
            return match (field("name"), field("version")) {
                (Some(n), Some(v))
                    if [&n, &v].iter().all(|s| {
                        !s.is_empty() && s.chars().all(|c| c.is_ascii_alphanumeric() || "._+-".contains(c))
                    }) =>
                {
                    Ok((n, v))
                }
                (Some(n), Some(v)) => Err(bad(format!(
                    "chart name `{n}` or version `{v}` has characters helm does not allow"
                ))),
                _ => Err(bad("Chart.yaml has no name or version".into())),
            };
        }
    }
    Err(bad("no <chart>/Chart.yaml inside".into()))
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

#[cfg(test)]
mod known_tests {
    use super::Catalogue;

    /// A file whose bytes change is read again: its size or mtime moved, whatever was remembered.
    #[test]
    fn a_changed_file_is_hashed_again() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("kubelet_1.36.2-1.1_amd64.deb");
        std::fs::write(&p, b"first").unwrap();
        let a = Catalogue::load(Some(d.path())).unwrap().files[0].sha256.clone();
        let again = Catalogue::load(Some(d.path())).unwrap().files[0].sha256.clone();
        assert_eq!(a, again);
        std::fs::write(&p, b"other").unwrap(); // same size
        let later = std::time::SystemTime::now() + std::time::Duration::from_secs(5);
        std::fs::File::options()
            .write(true)
            .open(&p)
            .unwrap()
            .set_modified(later)
            .unwrap();
        let b = Catalogue::load(Some(d.path())).unwrap().files[0].sha256.clone();
        assert_ne!(a, b);
        assert_eq!(b, "d9298a10d1b0735837dc4bd85dac641b0f3cef27a47e5d53a54f2f3f5b2fcffa");
    }
}
