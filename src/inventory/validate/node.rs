//! The host-preparation tables: `[container_runtime]`, `[artifacts]`, `[proxy]`, `[os]`.

use super::super::raw::{RawInventory, S};
use super::super::*;
use super::Ctx;

/// Helm unless the inventory says otherwise, at a pinned release (never "latest").
pub const DEFAULT_HELM: &str = "v3.19.0";

pub(super) fn node(cx: &mut Ctx, raw: &RawInventory) -> NodeSettings {
    let mut out = NodeSettings {
        helm: Some(DEFAULT_HELM.into()),
        ..NodeSettings::default()
    };
    if let Some(h) = &raw.helm {
        let h = h.get_ref();
        if let Some(v) = &h.version {
            let ok = v.get_ref().strip_prefix('v').is_some_and(|rest| {
                let parts: Vec<&str> = rest.split('.').collect();
                parts.len() == 3
                    && parts
                        .iter()
                        .all(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()))
            });
            if ok {
                out.helm = Some(v.get_ref().clone());
            } else {
                cx.err(
                    v.span(),
                    format!("`{}` is not a pinned helm release", v.get_ref()),
                    "not vX.Y.Z",
                    Some("write it as helm tags it, e.g. `v3.19.0`".into()),
                );
            }
        }
        if h.install.as_ref().is_some_and(|i| !*i.get_ref()) {
            out.helm = None;
            if let Some(r) = h.releases.first() {
                cx.err(
                    r.span(),
                    "helm releases need helm, but [helm] install = false",
                    "this release",
                    Some("remove `install = false`, or the releases".into()),
                );
            }
        }
        for r in &h.releases {
            if let Some(rel) = release(cx, r) {
                if out
                    .releases
                    .iter()
                    .any(|o: &HelmRelease| o.name == rel.name && o.namespace == rel.namespace)
                {
                    cx.err(
                        r.get_ref().name.span(),
                        format!("release `{}` is listed twice", rel.name),
                        "again",
                        None,
                    );
                }
                out.releases.push(rel);
            }
        }
    }
    if let Some(rt) = &raw.container_runtime {
        let rt = rt.get_ref();
        if let Some(src) = &rt.source {
            match src.get_ref().as_str() {
                "docker" => out.runtime.source = RuntimeSource::Docker,
                "os" => out.runtime.source = RuntimeSource::Os,
                other => cx.err(
                    src.span(),
                    format!("unknown container runtime source `{other}`"),
                    "unknown source",
                    Some(
                        "use `docker` (Docker's containerd.io, containerd 2.x) or `os` (the distribution's containerd)"
                            .into(),
                    ),
                ),
            }
        }
        if let Some(img) = &rt.sandbox_image {
            let v = img.get_ref();
            if v.contains(char::is_whitespace) || !v.contains(':') {
                cx.err(
                    img.span(),
                    format!("`{v}` is not an image reference with a tag"),
                    "not an image",
                    Some("write it as kubeadm does, e.g. `registry.k8s.io/pause:3.10.1`".into()),
                );
            } else {
                out.runtime.sandbox_image = Some(v.clone());
            }
        }
        if let Some(m) = &rt.mirrors {
            for (registry, endpoints) in m.get_ref() {
                let mut list = Vec::new();
                for e in endpoints {
                    if !(e.get_ref().starts_with("https://") || e.get_ref().starts_with("http://")) {
                        cx.err(
                            e.span(),
                            format!("mirror `{}` for `{registry}` is not an http(s) URL", e.get_ref()),
                            "not a URL",
                            Some("write the mirror as `https://host[:port]`".into()),
                        );
                    }
                    list.push(e.get_ref().trim_end_matches('/').to_string());
                }
                if registry.is_empty() || registry.contains(['/', ' ']) {
                    cx.err(
                        m.span(),
                        format!("`{registry}` is not a registry host name"),
                        "in this table",
                        Some(
                            "key the table by registry host, e.g. `\"docker.io\" = [\"https://mirror.example\"]`"
                                .into(),
                        ),
                    );
                }
                out.runtime.mirrors.insert(registry.clone(), list);
            }
        }
    }
    if let Some(a) = &raw.artifacts {
        let dir = &a.get_ref().dir;
        let path = cx.path(dir.get_ref());
        if path.is_dir() {
            out.artifacts = Some(path);
        } else {
            cx.err(
                dir.span(),
                format!("the artifacts folder `{}` does not exist", path.display()),
                "no such folder",
                Some("create it and put the .deb/.rpm files there, or remove [artifacts]".into()),
            );
        }
    }
    if let Some(p) = &raw.proxy {
        let span = p.span();
        let p = p.get_ref();
        let url = |v: &Option<S<String>>, cx: &mut Ctx| {
            let v = v.as_ref()?;
            let s = v.get_ref();
            if s.contains(['\'', '"', '\\', '$', '`']) || s.contains(char::is_whitespace) {
                cx.err(
                    v.span(),
                    "the proxy URL contains a quote, backslash, `$`, backtick or space",
                    "unsafe character",
                    Some("percent-encode it (e.g. a password with `$` as `%24`)".into()),
                );
            } else if !(s.starts_with("http://") || s.starts_with("https://")) {
                // The value may hold a password: the message never repeats it.
                cx.err(
                    v.span(),
                    "the proxy is not an http(s) URL",
                    "not a URL",
                    Some("write it as `http://[user:password@]host:port`".into()),
                );
            }
            Some(crate::secret::Secret::new(s.trim_end_matches('/')))
        };
        let http = url(&p.http, cx);
        let https = url(&p.https, cx);
        if http.is_none() && https.is_none() {
            cx.err(
                span,
                "[proxy] sets neither `http` nor `https`",
                "empty proxy table",
                Some("set `http` and/or `https`, or remove the table".into()),
            );
        }
        let no_proxy = p.no_proxy.iter().flatten().map(|s| s.get_ref().clone()).collect();
        out.proxy = Some(ProxySettings { http, https, no_proxy });
    }
    if let Some(os) = &raw.os {
        if let Some(fw) = &os.get_ref().firewall {
            match fw.get_ref().as_str() {
                "open-ports" => out.firewall = FirewallPolicy::OpenPorts,
                "disable" => out.firewall = FirewallPolicy::Disable,
                other => cx.err(
                    fw.span(),
                    format!("unknown firewall policy `{other}`"),
                    "unknown policy",
                    Some("use `open-ports` (firewalld keeps running) or `disable`".into()),
                ),
            }
        }
    }
    out
}

fn release(cx: &mut Ctx, raw: &S<super::super::raw::RawRelease>) -> Option<HelmRelease> {
    let r = raw.get_ref();
    let mut ok = true;
    for (key, v) in [
        ("name", &r.name),
        ("namespace", r.namespace.as_ref().unwrap_or(&r.name)),
    ] {
        if let Err(why) = ClusterName::new(v.get_ref()) {
            cx.err(
                v.span(),
                format!("release {key} `{}` {why}", v.get_ref()),
                "not a DNS label",
                None,
            );
            ok = false;
        }
    }
    let v = r.version.get_ref().trim();
    if v.is_empty() || v == "latest" || v.contains(['*', '^', '~', '>', '<', ' ']) {
        cx.err(
            r.version.span(),
            format!("chart version `{v}` is not pinned"),
            "not an exact version",
            Some("pin the exact chart version, e.g. \"4.13.3\" (`helm search repo <chart> --versions`)".into()),
        );
        ok = false;
    }
    // A local chart archive: its own Chart.yaml names the chart and must carry the pinned version.
    let chart_ref = r.chart.get_ref().trim();
    let mut archive = None;
    let mut chart = chart_ref.to_string();
    if (chart_ref.ends_with(".tgz") || chart_ref.ends_with(".tar.gz")) && !chart_ref.starts_with("oci://") {
        let path = cx.path(chart_ref);
        if let Some(repo) = &r.repo {
            cx.err(
                repo.span(),
                "a local chart archive takes no repo",
                "remove this",
                Some("`chart` names a file here; `repo` is for charts fetched by name".into()),
            );
            ok = false;
        }
        match crate::artifacts::chart_meta(&path) {
            Ok((name, have)) if have == v => {
                chart = name;
                archive = Some(path);
            }
            Ok((name, have)) => {
                cx.err(
                    r.version.span(),
                    format!("the archive holds {name} {have}, not {v}"),
                    "not the archive's version",
                    Some(format!(
                        "set version = \"{have}\", or point `chart` at the archive of {v}"
                    )),
                );
                ok = false;
            }
            Err(e) => {
                cx.err(
                    r.chart.span(),
                    e,
                    "not a chart archive",
                    Some("paths are relative to the inventory file; make one with `helm package`".into()),
                );
                ok = false;
            }
        }
    }
    if r.chart.get_ref().trim().is_empty() {
        cx.err(
            r.chart.span(),
            "the chart is empty",
            "here",
            Some("a chart name with `repo`, or an oci:// reference".into()),
        );
        ok = false;
    }
    let values = r.values.as_ref().map(|p| (cx.path(p.get_ref()), p.span()));
    if let Some((path, span)) = &values {
        if !path.is_file() {
            cx.err(
                span.clone(),
                format!("values file `{}` does not exist", path.display()),
                "not found",
                Some("paths are relative to the inventory file".into()),
            );
            ok = false;
        }
    }
    ok.then(|| HelmRelease {
        name: r.name.get_ref().clone(),
        chart,
        version: v.to_string(),
        repo: r.repo.as_ref().map(|x| x.get_ref().clone()),
        namespace: r
            .namespace
            .as_ref()
            .map_or_else(|| "default".into(), |n| n.get_ref().clone()),
        values: values.map(|(p, _)| p),
        archive,
    })
}
