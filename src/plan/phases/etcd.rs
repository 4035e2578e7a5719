//! Phase `etcd`: an external etcd cluster on the hosts whose only role is `etcd` — the etcd
//! kubeadm accepts ([`crate::plan::etcd_release`]: upstream's tarball or the etcd image from
//! `[artifacts]`, else upstream's release), a systemd unit with groundup's server, peer and
//! client-auth certificates, members listed from the whole inventory, and a health check over
//! mTLS before anything goes on. Members start together (the phase runs them in parallel), so
//! a new cluster reaches quorum; an unchanged member is left alone.

use crate::facts::{Facts, HostFacts};
use crate::inventory::{Host, Role};
use crate::os::Os;
use crate::paths;
use crate::pki::spec::cert_ip;
use crate::plan::etcd_release::{choose, go_arch, Form};
use crate::plan::{Content, Context, HostSteps, Phase, PlanError, Step};
use crate::render::render;

use super::{ensure_curl, file, offline_hint, upload, with_proxy};

pub struct Etcd;

/// An address as the host part of a URL (IPv6 in brackets).
pub fn url_host(ip: std::net::IpAddr) -> String {
    match ip {
        std::net::IpAddr::V6(v6) => format!("[{v6}]"),
        v4 => v4.to_string(),
    }
}

/// `name=https://ip:2380,…` for every member in the inventory (never narrowed by `--on`).
pub fn initial_cluster(cx: &Context) -> Result<String, PlanError> {
    let mut out = Vec::new();
    for m in cx.inv.etcd_members() {
        let ip = cert_ip(m).map_err(|e| PlanError::new(e.to_string(), e.hint()))?;
        out.push(format!("{}=https://{}:2380", m.name, url_host(ip)));
    }
    Ok(out.join(","))
}

impl Phase for Etcd {
    fn name(&self) -> &'static str {
        "etcd"
    }
    fn applies(&self, _cx: &Context, host: &Host) -> bool {
        host.has(Role::Etcd) && !host.has(Role::ControlPlane)
    }
    fn plan(&self, cx: &Context, host: &Host, hf: &HostFacts) -> Result<HostSteps, PlanError> {
        let f = &hf.facts;
        let mut hs = HostSteps::default();
        let installed = install(&mut hs, cx, f)?;
        let ip = url_host(cert_ip(host).map_err(|e| PlanError::new(e.to_string(), e.hint()))?);
        let unit = render(
            "etcd.service",
            minijinja::context! {
                name => host.name.as_str(),
                cluster => cx.inv.cluster.name.as_str(),
                binary => paths::ETCD_BINARY,
                data_dir => format!("/var/lib/etcd/{}", cx.inv.cluster.name),
                ip,
                initial_cluster => initial_cluster(cx)?,
                pki => paths::KUBE_PKI,
            },
        )
        .map_err(|e| {
            PlanError::new(
                format!("template etcd.service: {e}"),
                "this is a groundup bug; please report it",
            )
        })?;
        let changed = file(&mut hs, f, "etcd-unit", paths::ETCD_UNIT, 0o644, Content::new(unit));
        let svc = f.state.service("etcd");
        if changed
            || installed
            || !svc.is_active()
            || svc.enabled != "enabled"
            || f.state.runs_older_than("etcd", &[paths::ETCD_UNIT])
        {
            hs.change(Step::script(
                "etcd-start",
                "(re)start etcd with groundup's unit",
                // --no-block: a new member waits for its peers, which start in parallel.
                "systemctl daemon-reload\nsystemctl enable -q etcd\nsystemctl restart --no-block etcd",
            ));
            hs.change(health_step(&ip));
        } else {
            hs.unchanged("etcd", "active with the current unit");
        }
        Ok(hs)
    }
}

/// Plans installing the chosen etcd into /usr/local/bin unless that version is there; returns
/// whether it will.
fn install(hs: &mut HostSteps, cx: &Context, f: &Facts) -> Result<bool, PlanError> {
    let choice = choose(cx, Some(&f.arch))?;
    let version = &choice.version;
    if f.state.etcd.as_deref() == Some(version.as_str()) {
        hs.unchanged(paths::ETCD_BINARY, format!("etcd {version} installed"));
        return Ok(false);
    }
    // Unpacks into the temporary folder `$t`, then installs whatever of etcd, etcdctl and
    // etcdutl it holds, and checks the version.
    let temp = "t=$(mktemp -d)\ntrap 'rm -rf \"$t\"' EXIT\n";
    let place = format!(
        "n=0\nfor b in etcd etcdctl etcdutl; do\n  \
         p=$(find \"$t/x\" -type f -name \"$b\" | head -n 1)\n  \
         [ -n \"$p\" ] && install -m 0755 \"$p\" /usr/local/bin/$b && n=$((n + 1))\n\
         done\n\
         [ \"$n\" -ge 2 ] || {{ echo \"no etcd and etcdctl found in it\" >&2; exit 1; }}\n\
         v=$({bin} --version | sed -n 1p)\n\
         [ \"$v\" = 'etcd Version: {version}' ] || {{ echo \"it holds $v, not the {version} its name says\" >&2; exit 1; }}",
        bin = paths::ETCD_BINARY
    );
    let was = f.state.etcd.as_ref().map(|v| format!(" (was {v})")).unwrap_or_default();
    let (script, from, hint) = match choice.form {
        Form::Tarball(a) => {
            let remote = upload(hs, f, a);
            (
                format!("{temp}mkdir \"$t/x\"\ntar -xzf {remote} -C \"$t/x\"\n{place}"),
                format!("`{}`", a.file),
                "the tarball must hold upstream's layout: etcd-v<version>-linux-<arch>/etcd, etcdctl, etcdutl"
                    .to_string(),
            )
        }
        Form::Image(a) => {
            let remote = upload(hs, f, a);
            // A `docker save` or OCI archive: the layer that holds usr/local/bin/etcd. (No `grep -q`
            // after a pipe in these scripts: its early exit fails the writer with SIGPIPE, and
            // pipefail turns that into a miss.)
            (
                format!(
                    "{temp}mkdir \"$t/img\" \"$t/x\"\ntar -xf {remote} -C \"$t/img\"\n\
                     for l in $(find \"$t/img\" -type f ! -name '*.json' ! -name repositories); do\n  \
                     if tar -tf \"$l\" 2>/dev/null | grep -E '^(\\./)?usr/local/bin/etcd$' >/dev/null; then\n    \
                     tar -xf \"$l\" -C \"$t/x\" --wildcards '*usr/local/bin/etcd*'\n  fi\ndone\n{place}"
                ),
                format!("the image archive `{}`", a.file),
                "the archive must be the etcd image kubeadm pins (it carries /usr/local/bin/etcd, etcdctl, etcdutl)"
                    .to_string(),
            )
        }
        Form::Release => {
            let os = Os::of(f)?;
            ensure_curl(hs, cx, &os, f);
            let tarball = format!("etcd-v{version}-linux-{}.tar.gz", go_arch(&f.arch));
            let base = format!("https://github.com/etcd-io/etcd/releases/download/v{version}");
            (
                with_proxy(&format!(
                    "{temp}mkdir \"$t/x\"\n\
                     curl -fsSL --retry 2 --connect-timeout 10 --max-time 300 -o \"$t/{tarball}\" {base}/{tarball}\n\
                     curl -fsSL --retry 2 --connect-timeout 10 --max-time 60 -o \"$t/SHA256SUMS\" {base}/SHA256SUMS\n\
                     (cd \"$t\" && grep \" {tarball}$\" SHA256SUMS | sha256sum -c --quiet)\n\
                     tar -xzf \"$t/{tarball}\" -C \"$t/x\"\n{place}"
                )),
                format!("upstream's release {base}/{tarball}, checked against its SHA256SUMS"),
                offline_hint("github.com").replace("the packages", &format!("`{tarball}` or the etcd image archive")),
            )
        }
    };
    hs.change(
        Step::script(
            "etcd-install",
            format!("install etcd {version} to /usr/local/bin from {from}{was}"),
            script,
        )
        .with_hint(hint),
    );
    Ok(true)
}

/// Waits (90 s at most) until this member answers `endpoint health` over mTLS with the
/// healthcheck client certificate; on failure, the unit's last log lines.
fn health_step(ip: &str) -> Step {
    let pki = paths::KUBE_PKI;
    Step::script(
        "etcd-health",
        format!("wait until etcd on {ip} is healthy (mTLS, healthcheck-client)"),
        format!(
            "for _ in $(seq 1 90); do\n  \
             if ETCDCTL_API=3 etcdctl --endpoints=https://{ip}:2379 --cacert={pki}/etcd/ca.crt \
             --cert={pki}/etcd/healthcheck-client.crt --key={pki}/etcd/healthcheck-client.key \
             --dial-timeout=2s --command-timeout=3s endpoint health >/dev/null 2>&1; then exit 0; fi\n  \
             sleep 1\n\
             done\n\
             echo \"etcd on {ip} is not healthy after 90 s\" >&2\n\
             journalctl -u etcd -n 15 --no-pager >&2 || true\n\
             exit 1"
        ),
    )
    .with_hint("check that every etcd member is up and that 2379-2380/tcp are open between them")
}
