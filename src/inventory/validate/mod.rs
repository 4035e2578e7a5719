//! Inventory validation: turns the raw TOML mirror into typed values and checks the rules that
//! span the whole cluster (unique names and addresses, etcd quorum, subnets). Every problem is
//! collected with the span it refers to, so one run reports all of them.

use std::ops::Range;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use miette::NamedSource;

use super::raw::{RawHost, RawInventory, S};
use super::*;

mod api;
pub mod class;
mod cluster;
mod host;
mod kube;
mod node;
mod pki;
mod rules;

/// The Kubernetes minors whose kubeadm speaks `kubeadm.k8s.io/v1beta4` and that groundup supports.
pub const SUPPORTED_MINORS: std::ops::RangeInclusive<u32> = 31..=37;

struct Ctx {
    src: NamedSource<Arc<String>>,
    text: Arc<String>,
    dir: PathBuf,
    problems: Vec<Problem>,
}

impl Ctx {
    pub(crate) fn err(
        &mut self,
        span: Range<usize>,
        message: impl Into<String>,
        label: impl Into<String>,
        help: Option<String>,
    ) {
        self.problems.push(Problem {
            message: message.into(),
            src: self.src.clone(),
            span: span.into(),
            label: label.into(),
            help,
        });
    }
    pub(crate) fn line_of(&self, offset: usize) -> usize {
        self.text[..offset.min(self.text.len())].matches('\n').count() + 1
    }
    /// `~/x` → home, relative → next to the inventory file.
    pub(crate) fn path(&self, p: &str) -> PathBuf {
        if let Some(rest) = p.strip_prefix("~/") {
            if let Some(home) = dirs::home_dir() {
                return home.join(rest);
            }
        }
        let p = Path::new(p);
        if p.is_absolute() {
            p.to_path_buf()
        } else {
            self.dir.join(p)
        }
    }
}

pub fn validate(path: &Path, text: String) -> Result<Inventory, InventoryError> {
    let mut cx = Ctx::new(path, text);
    if class::is_class(&cx.text) {
        let text = cx.text.clone();
        let name = class::selected(path, &text)?;
        return class::member(cx, path, &name);
    }
    if let [first, ..] = class::selection() {
        cx.err(
            0..0,
            format!(
                "--cluster {first}: `{}` is one cluster's inventory, not a class",
                path.display()
            ),
            "no [class] table in this file",
            Some("leave out --cluster (and GROUNDUP_CLUSTER), or give a class file with -i".into()),
        );
        return Err(cx.invalid(path));
    }
    let raw: RawInventory = match toml::from_str(&cx.text.clone()) {
        Ok(raw) => raw,
        Err(e) => {
            let span = e.span().unwrap_or(0..0);
            let (msg, help) = toml_hint(e.message());
            cx.err(span, msg, "here", help);
            return Err(cx.invalid(path));
        }
    };
    finish(cx, path, &raw)
}

impl Ctx {
    fn new(path: &Path, text: String) -> Ctx {
        let text = Arc::new(text);
        let src = NamedSource::new(path.display().to_string(), text.clone()).with_language("toml");
        let dir = path.parent().map(Path::to_path_buf).unwrap_or_default();
        let dir = if dir.as_os_str().is_empty() {
            PathBuf::from(".")
        } else {
            dir
        };
        Ctx {
            src,
            text,
            dir,
            problems: Vec::new(),
        }
    }

    fn invalid(self, path: &Path) -> InventoryError {
        InventoryError::Invalid {
            path: path.display().to_string(),
            problems: self.problems,
        }
    }
}

/// The checks of one cluster's raw inventory (a file's, or a class member's).
fn finish(mut cx: Ctx, path: &Path, raw: &RawInventory) -> Result<Inventory, InventoryError> {
    let mut cluster = cluster::cluster(&mut cx, &raw.cluster);
    if let (Some(c), Some(api)) = (cluster.as_mut(), raw.api.as_ref()) {
        api::api(&mut cx, api, &raw.cluster, c);
    }
    let defaults = raw.ssh.as_ref().map(|s| s.get_ref());
    let hosts: Vec<(Host, &S<RawHost>)> = raw
        .hosts
        .iter()
        .filter_map(|h| host::host(&mut cx, h, defaults).map(|v| (v, h)))
        .collect();

    if raw.hosts.is_empty() {
        cx.err(
            raw.cluster.span(),
            "the inventory lists no hosts",
            "this cluster has no [[hosts]]",
            Some("add a [[hosts]] table per machine with `name`, `address` and `roles`".into()),
        );
    }
    let etcd = rules::whole_cluster(&mut cx, raw, &hosts, cluster.as_ref());
    let pki = pki::pki(&mut cx, raw.pki.as_ref());
    let node = node::node(&mut cx, raw);
    let kube = kube::kube(&mut cx, raw);

    match (cluster, etcd) {
        (Some(mut c), Some(etcd)) if cx.problems.is_empty() => {
            c.etcd = etcd;
            Ok(Inventory {
                path: path.to_path_buf(),
                cluster: c,
                pki,
                node,
                kube,
                hosts: hosts.into_iter().map(|(h, _)| h).collect(),
                class: None,
            })
        }
        _ => Err(cx.invalid(path)),
    }
}

fn toml_hint(msg: &str) -> (String, Option<String>) {
    let msg = msg.trim().to_string();
    let help = if msg.contains("unknown field") {
        Some("remove the key or fix its spelling; the allowed keys are listed above".into())
    } else if msg.contains("missing field") {
        Some("add the missing key to this table".into())
    } else {
        Some("see inventory/*.toml for examples of every key".into())
    };
    (msg, help)
}
