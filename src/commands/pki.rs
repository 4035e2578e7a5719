//! `groundup pki generate | show | verify | join-info`: the cluster PKI in certs/<cluster>/, made
//! and checked on this machine; no host is contacted.

use serde::Serialize;
use time::OffsetDateTime;

use crate::cli::{JoinInfoArgs, OutputFormat, PkiArgs, PkiCommand, PkiReadArgs};
use crate::exit;
use crate::inventory::Inventory;
use crate::pki::generate::{generate, plan, Action, PkiError};
use crate::pki::inspect::{ca_cert_hash, key_matches, parse_cert, signed_by};
use crate::pki::store::Store;
use crate::report::table;
use crate::secret::BootstrapToken;

use super::Failure;

pub fn run(cmd: PkiCommand) -> Result<u8, Failure> {
    match cmd {
        PkiCommand::Generate(a) => run_generate(a),
        PkiCommand::Show(a) => run_show(a),
        PkiCommand::Verify(a) => run_verify(a),
        PkiCommand::JoinInfo(a) => run_join_info(a),
        PkiCommand::Status(_) | PkiCommand::Renew(_) | PkiCommand::RotateCa(_) => Err(Failure::Internal(
            "pki status, renew and rotate-ca reach hosts: dispatched by main".into(),
        )),
    }
}

fn failure(e: PkiError) -> Failure {
    let msg = format!("{e}\nhint: {}", e.hint());
    match e {
        PkiError::Spec(_) | PkiError::Ca { .. } => Failure::Usage(msg),
        PkiError::Store(_) => Failure::Io(msg),
        _ => Failure::Internal(msg),
    }
}

fn print<T: Serialize>(format: OutputFormat, value: &T, text: String) -> Result<(), Failure> {
    match format {
        OutputFormat::Json => println!(
            "{}",
            serde_json::to_string_pretty(value).map_err(|e| Failure::Internal(e.to_string()))?
        ),
        OutputFormat::Text => print!("{text}"),
    }
    Ok(())
}

fn run_generate(a: PkiArgs) -> Result<u8, Failure> {
    let inv = Inventory::load(&a.inventory)?;
    let store = Store::new(inv.certs_dir(a.certs_dir.as_deref()));
    let renew = time::Duration::days(a.renew_before_days.into());
    let decisions = generate(&inv, &store, renew, OffsetDateTime::now_utc()).map_err(failure)?;
    let rows: Vec<Vec<String>> = decisions
        .iter()
        .map(|d| vec![d.file.clone(), format!("{:?}", d.action).to_lowercase(), d.why.clone()])
        .collect();
    let changed = decisions.iter().filter(|d| d.action != Action::Keep).count();
    let text = format!(
        "{}\npki {}: {} file{} written, {} kept, in {}\n",
        table::render(&["FILE", "ACTION", "WHY"], &rows),
        inv.cluster.name,
        changed,
        if changed == 1 { "" } else { "s" },
        decisions.len() - changed,
        store.root.display()
    );
    print(a.output, &decisions, text)?;
    Ok(exit::OK)
}

/// The folder a read command looks at, and the inventory when one was given.
fn read_target(a: &PkiReadArgs) -> Result<(Store, Option<Inventory>), Failure> {
    let inv = a.inventory.as_ref().map(|p| Inventory::load(p)).transpose()?;
    let dir = match (&a.dir, &inv) {
        (Some(d), _) => d.clone(),
        (None, Some(inv)) => inv.certs_dir(a.certs_dir.as_deref()),
        (None, None) => {
            return Err(Failure::Usage(
                "give -i INVENTORY (its certs folder) or --dir FOLDER".into(),
            ))
        }
    };
    if !dir.is_dir() {
        return Err(Failure::Usage(format!("`{}` is not a folder\nhint: run `groundup pki generate` first, or point --dir at a copy of /etc/kubernetes/pki", dir.display())));
    }
    Ok((Store::new(dir), inv))
}

fn date(unix: i64) -> String {
    OffsetDateTime::from_unix_timestamp(unix)
        .map(|t| t.date().to_string())
        .unwrap_or_else(|_| "?".into())
}

fn run_show(a: PkiReadArgs) -> Result<u8, Failure> {
    let (store, _) = read_target(&a)?;
    let found = store
        .certificates()
        .map_err(|e| Failure::Io(format!("{e}\nhint: {}", e.hint)))?;
    let mut rows = Vec::new();
    let mut json = Vec::new();
    for f in &found {
        match parse_cert(&f.cert_pem) {
            Ok(i) => {
                let sans: Vec<String> = i
                    .dns
                    .iter()
                    .cloned()
                    .chain(i.ips.iter().map(ToString::to_string))
                    .collect();
                rows.push(vec![
                    f.rel.clone(),
                    i.cn.clone(),
                    i.orgs.join(","),
                    sans.join(","),
                    date(i.not_after),
                    i.issuer_cn.clone(),
                ]);
                json.push(serde_json::json!({ "file": f.rel, "certificate": i }));
            }
            Err(e) => rows.push(vec![
                f.rel.clone(),
                format!("unreadable: {e}"),
                String::new(),
                String::new(),
                String::new(),
                String::new(),
            ]),
        }
    }
    print(
        a.output,
        &json,
        table::render(&["FILE", "CN", "O", "SANS", "NOT-AFTER", "ISSUER"], &rows),
    )?;
    Ok(exit::OK)
}

#[derive(Serialize)]
struct Finding {
    file: String,
    check: &'static str,
    ok: bool,
    detail: String,
}

fn run_verify(a: PkiReadArgs) -> Result<u8, Failure> {
    let (store, inv) = read_target(&a)?;
    let found = store
        .certificates()
        .map_err(|e| Failure::Io(format!("{e}\nhint: {}", e.hint)))?;
    let now = OffsetDateTime::now_utc().unix_timestamp();
    let cas: Vec<_> = found
        .iter()
        .filter(|f| parse_cert(&f.cert_pem).is_ok_and(|i| i.is_ca))
        .collect();
    let mut out = Vec::new();
    for f in &found {
        let mut add = |check, ok, detail: String| {
            out.push(Finding {
                file: f.rel.clone(),
                check,
                ok,
                detail,
            })
        };
        let info = match parse_cert(&f.cert_pem) {
            Ok(i) => i,
            Err(e) => {
                add("parse", false, e);
                continue;
            }
        };
        match cas.iter().find(|ca| signed_by(&f.cert_pem, &ca.cert_pem)) {
            Some(ca) => add("chain", true, format!("signed by {}", ca.rel)),
            None => add(
                "chain",
                false,
                format!("no CA in this folder signed it (issuer CN `{}`)", info.issuer_cn),
            ),
        }
        if let Some(key) = &f.key_pem {
            match key_matches(&info, key) {
                Ok(true) => add("key", true, "the key belongs to the certificate".into()),
                Ok(false) => add("key", false, "the key beside it belongs to another certificate".into()),
                Err(e) => add("key", false, e),
            }
        }
        let days = (info.not_after - now) / 86_400;
        if info.not_after <= now {
            add("expiry", false, format!("expired on {}", date(info.not_after)));
        } else {
            add(
                "expiry",
                days >= 30,
                format!("{days} days left (until {})", date(info.not_after)),
            );
        }
    }
    if let Some(inv) = &inv {
        match plan(inv, &store, time::Duration::days(30), OffsetDateTime::now_utc()) {
            Ok((decisions, _)) => {
                for d in decisions.iter().filter(|d| d.action != Action::Keep) {
                    out.push(Finding {
                        file: d.file.clone(),
                        check: "inventory",
                        ok: false,
                        detail: format!("{:?}: {}", d.action, d.why).to_lowercase(),
                    });
                }
            }
            Err(e) => out.push(Finding {
                file: store.root.display().to_string(),
                check: "inventory",
                ok: false,
                detail: e.to_string(),
            }),
        }
    }
    let bad = out.iter().filter(|f| !f.ok).count();
    let rows: Vec<Vec<String>> = out
        .iter()
        .map(|f| {
            vec![
                f.file.clone(),
                f.check.into(),
                if f.ok { "ok".into() } else { "FAIL".into() },
                f.detail.clone(),
            ]
        })
        .collect();
    let text = format!(
        "{}\nverify {}: {} certificates, {} problem{}\n",
        table::render(&["FILE", "CHECK", "RESULT", "DETAIL"], &rows),
        store.root.display(),
        found.len(),
        bad,
        if bad == 1 { "" } else { "s" }
    );
    print(a.output, &out, text)?;
    Ok(if bad == 0 { exit::OK } else { exit::FAILED })
}

fn run_join_info(a: JoinInfoArgs) -> Result<u8, Failure> {
    let inv = Inventory::load(&a.inventory)?;
    let store = Store::new(inv.certs_dir(a.certs_dir.as_deref()));
    let io = |e: crate::pki::store::StoreError| Failure::Io(format!("{e}\nhint: {}", e.hint));
    let missing = |f: &str| {
        Failure::Usage(format!(
            "`{}` is missing\nhint: run `groundup pki generate -i {}` first",
            store.path(f).display(),
            a.inventory.display()
        ))
    };
    let ca = store.read("ca.crt").map_err(io)?.ok_or_else(|| missing("ca.crt"))?;
    let token = store
        .read("bootstrap-token")
        .map_err(io)?
        .as_deref()
        .and_then(BootstrapToken::parse)
        .ok_or_else(|| missing("bootstrap-token"))?;
    let hash = ca_cert_hash(&ca).map_err(|e| Failure::Usage(format!("ca.crt: {e}")))?;
    let endpoint = crate::pki::generate::endpoint_url(&inv);
    let shown = if a.reveal {
        token.expose().to_string()
    } else {
        token.to_string()
    };
    let endpoint = endpoint.trim_start_matches("https://");
    println!("bootstrap token:  {shown}");
    println!("CA cert hash:     {hash}");
    println!("join command:     kubeadm join {endpoint} --token {shown} --discovery-token-ca-cert-hash {hash}");
    if !a.reveal {
        println!("(the token is masked; --reveal prints it)");
    }
    Ok(exit::OK)
}
