//! raydar: operate Ray clusters on Kubernetes (KubeRay) safely.
#![forbid(unsafe_code)]

pub mod cli;
pub mod demo;
