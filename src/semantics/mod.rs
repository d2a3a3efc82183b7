//! What Kubernetes and KubeRay objects mean, written once for the posture rules, the fixes and
//! the TUI: label selectors, NetworkPolicy admission, cloud-credential env names, the templates and head ports of the Ray
//! kinds, and how a Service exposes a Ray port (README: "Rules"). Pure functions over typed
//! objects: no I/O, no findings.

pub mod credentials;
pub mod exposure;
pub mod labels;
pub mod netpol;
pub mod ray;
