//! Integration tests: against the embedded demo API server on 127.0.0.1, through kube-rs over
//! real HTTP and TLS, and against a real kube-apiserver and etcd (`envtest`, started once per
//! run from `KUBEBUILDER_ASSETS`).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;
mod demo_api;
mod demo_errors;
mod demo_kubectl;
mod demo_portforward;
mod demo_watch;
mod envtest;
mod fleet;
mod forward;
mod guard;
mod kuberay_samples;
mod layers;
mod manifest_props;
mod ray_head;
mod real_ray;
mod real_server;
mod remediate;
mod remediate_props;
mod scan_edges;
mod scan_live;
mod scan_props;
mod scan_rules;
mod tui;
