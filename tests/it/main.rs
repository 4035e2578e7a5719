//! The one integration-test binary. Modules by area; tests named after behaviour.
//! `lab_*` modules need the real test hosts from `scripts/lab up` and fail (never skip) without them.

mod common;
mod docs;
mod e2e;
mod engine;
mod explain;
mod facts;
mod import;
mod inventory;
mod lab_apply;
mod lab_cli;
mod lab_etcd;
mod lab_fanout;
mod lab_local_lb;
mod lab_reset;
mod lab_support;
mod lab_transport;
mod lab_vm;
mod pki;
mod pki_etcd;
mod pki_store;
mod pki_tls;
mod plan;
mod plan_finished;
mod plan_ha;
mod plan_images;
mod plan_kube;
mod plan_renew;
mod plan_reset;
mod plan_upgrade;
mod preflight;
mod ready;
mod window;
