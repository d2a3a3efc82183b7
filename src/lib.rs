//! raydar: operate Ray clusters on Kubernetes (KubeRay) safely.
#![forbid(unsafe_code)]

pub mod cli;
pub mod cluster;
pub mod config;
pub mod demo;
pub mod fixcmd;
pub mod forward;
pub mod guard;
pub mod inventory;
pub mod kuberay;
pub mod manifest;
pub mod model;
pub mod options;
pub mod posture;
pub mod quantity;
pub mod remediate;
pub mod report;
pub mod scan;
pub mod semantics;
pub mod tui;
