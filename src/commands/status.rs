//! `groundup status`: the running cluster at a glance, read-only. Gathers facts on every host and
//! plans every phase from them (the counts only), asks the API on the first control plane that
//! answers (nodes, control-plane pods, add-ons, readiness checks) and etcd on a member, reads the
//! certificates as `pki status` does, and prints one page (or JSON).
//! Exit 0 all well, 1 something is not as it should be (each listed as a problem), 2 bad input,
//! 3 a host unreachable.

use crate::cli::{OutputFormat, PkiStatusArgs};
use crate::exec::{window, Request, Transport};
use crate::exit;
use crate::facts::{self, HostFacts};
use crate::inventory::{Host, Role};
use crate::plan::etcd_access::Access;
use crate::plan::phases;
use crate::plan::{Action, Context};
use crate::report::Event;
use crate::status::{self, live, Inputs};

use super::{Failure, Run};

pub async fn run(args: PkiStatusArgs) -> Result<u8, Failure> {
    let run = Run::start(&args.common, "status")?;
    let inv = &run.inventory;
    let cx = Context::with_certs(inv, args.common.certs_dir.as_deref()).map_err(Failure::Usage)?;
    let hosts: Vec<Host> = run.targets.clone();
    let parallel: usize = args.common.parallel.into();
    run.reporter.send(Event::Phase {
        title: "gather facts".into(),
        hosts: hosts.len(),
    });
    let gathered = window::for_each(&hosts, parallel, |h| facts::gather(&run.transport, h)).await;
    let all = phases::until(None).unwrap_or_default();
    let (planned, _) = super::plan::build(&cx, &all, &hosts, &gathered);
    let answered: Vec<(&Host, &HostFacts)> = hosts
        .iter()
        .zip(&gathered)
        .filter_map(|(h, f)| f.as_ref().ok().map(|f| (h, f)))
        .collect();
    let unreachable: Vec<String> = hosts
        .iter()
        .zip(&gathered)
        .filter(|(_, f)| f.is_err())
        .map(|(h, _)| h.name.to_string())
        .collect();

    // The API: the first control plane whose facts hold the cluster's state.
    let api_host = answered
        .iter()
        .find(|(h, f)| h.has(Role::ControlPlane) && f.facts.state.cluster.is_some())
        .map(|(h, f)| (*h, *f));
    let ask = |h: &Host, what: &str, body: String| {
        let t = &run.transport;
        let req = Request::script(what, Action::script_text(&body));
        let h = h.clone();
        async move { t.run(&h, &req).await.map(|o| o.stdout).ok() }
    };
    let api = match api_host {
        Some((h, _)) => ask(h, "status: the API", live::api_script())
            .await
            .map(|o| live::parse_api(&o)),
        None => None,
    };
    // etcd: on the stacked control plane that answered, or the first external member running it.
    let access = Access::of(inv);
    let etcd_host = match access {
        Access::Stacked => api_host.map(|(h, _)| h),
        Access::External => answered
            .iter()
            .find(|(h, f)| h.has(Role::Etcd) && access.running(f))
            .map(|(h, _)| *h),
    };
    let etcd = match etcd_host {
        Some(h) => ask(h, "status: etcd", live::etcd_script(access))
            .await
            .map(|o| live::parse_etcd(&o)),
        None => None,
    };

    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    let readers: Vec<Host> = answered.iter().map(|(h, _)| (*h).clone()).collect();
    let (certs, _) = super::pki_status::read_rows(&run, &cx, &readers, parallel, now, args.warn_days.into()).await;

    let st = status::build(Inputs {
        inv,
        state: api_host.and_then(|(_, f)| f.facts.state.cluster.as_ref()),
        api_from: api.as_ref().and(api_host).map(|(h, _)| h.name.to_string()),
        api,
        etcd,
        certs: &certs,
        plan: planned.counts,
        unreachable,
        now,
    });
    let code = if !st.unreachable.is_empty() {
        exit::UNREACHABLE
    } else if !st.problems.is_empty() {
        exit::FAILED
    } else {
        exit::OK
    };
    drop(cx);
    run.finish().await;
    match args.common.output {
        OutputFormat::Json => {
            #[derive(serde::Serialize)]
            struct Out<'a> {
                #[serde(flatten)]
                status: &'a status::Status,
                exit_code: u8,
            }
            println!(
                "{}",
                serde_json::to_string_pretty(&Out {
                    status: &st,
                    exit_code: code
                })
                .map_err(|e| Failure::Internal(e.to_string()))?
            )
        }
        OutputFormat::Text => print!("{}", status::text(&st)),
    }
    Ok(code)
}
