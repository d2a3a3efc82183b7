//! Integration tests: everything runs against the embedded demo API server on 127.0.0.1,
//! through kube-rs over real HTTP and TLS, exactly as against a real cluster.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;
mod demo_api;
mod demo_errors;
mod demo_kubectl;
mod demo_portforward;
mod demo_watch;
mod forward;
mod remediate;
mod remediate_props;
mod scan_live;
mod scan_props;
mod scan_rules;
mod tui;
