//! The `[pki]` table: key algorithm, validity periods, extra apiserver SANs.

use super::super::raw::{RawPki, S};
use super::super::*;
use super::Ctx;

pub(super) fn pki(cx: &mut Ctx, raw: Option<&S<RawPki>>) -> PkiSettings {
    let mut out = PkiSettings::default();
    let Some(raw) = raw else { return out };
    let p = raw.get_ref();
    if let Some(a) = &p.algorithm {
        match KeyAlgorithm::parse(a.get_ref()) {
            Some(alg) => out.algorithm = alg,
            None => cx.err(
                a.span(),
                format!("unknown key algorithm `{}`", a.get_ref()),
                "unknown algorithm",
                Some(format!("use one of kubeadm's: {}", KeyAlgorithm::NAMES.join(", "))),
            ),
        }
    }
    for (v, field, min, max) in [
        (&p.validity_days, &mut out.validity_days, 1, 3650),
        (&p.ca_validity_days, &mut out.ca_validity_days, 30, 36500),
    ] {
        if let Some(v) = v {
            if (min..=max).contains(v.get_ref()) {
                *field = *v.get_ref();
            } else {
                cx.err(
                    v.span(),
                    format!("{} days is out of range", v.get_ref()),
                    "out of range",
                    Some(format!("use {min} to {max} days")),
                );
            }
        }
    }
    if out.validity_days > out.ca_validity_days {
        cx.err(
            raw.span(),
            "leaf certificates would outlive their CA",
            "in this table",
            Some("make validity_days shorter than ca_validity_days".into()),
        );
    }
    for san in p.extra_sans.iter().flatten() {
        let s = san.get_ref();
        let is_name = HostName::problem(s.strip_prefix("*.").unwrap_or(s)).is_none();
        if s.parse::<std::net::IpAddr>().is_err() && !is_name {
            cx.err(
                san.span(),
                format!("extra SAN `{s}` is neither an IP address nor a DNS name"),
                "invalid SAN",
                Some("use a lowercase DNS name (wildcards allowed: `*.apps.example`) or an IP address".into()),
            );
        }
        out.extra_sans.push(s.clone());
    }
    out
}
