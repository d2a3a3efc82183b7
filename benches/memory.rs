//! Where the inventory's memory goes (issue #14): the 1,000-namespace / 5,000-cluster demo
//! population listed through kube-rs as the TUI's watchers hold it, measured with a counting
//! allocator. Each kind's bytes are what dropping its list gives back; pods and RayClusters
//! are also split into metadata, spec and status.
//!
//!   cargo bench --bench memory
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, dead_code)]

#[path = "common.rs"]
mod common;

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicIsize, Ordering};

struct Counting;
static LIVE: AtomicIsize = AtomicIsize::new(0);

// SAFETY: forwards to the system allocator, only counting the bytes.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, l: Layout) -> *mut u8 {
        LIVE.fetch_add(l.size() as isize, Ordering::Relaxed);
        unsafe { System.alloc(l) }
    }
    unsafe fn dealloc(&self, p: *mut u8, l: Layout) {
        LIVE.fetch_sub(l.size() as isize, Ordering::Relaxed);
        unsafe { System.dealloc(p, l) }
    }
    unsafe fn realloc(&self, p: *mut u8, l: Layout, n: usize) -> *mut u8 {
        LIVE.fetch_add(n as isize - l.size() as isize, Ordering::Relaxed);
        unsafe { System.realloc(p, l, n) }
    }
}

#[global_allocator]
static A: Counting = Counting;

/// Bytes given back by dropping what `f` takes out.
fn freed<T>(f: impl FnOnce() -> T) -> f64 {
    let before = LIVE.load(Ordering::Relaxed);
    drop(f());
    (before - LIVE.load(Ordering::Relaxed)) as f64 / (1024.0 * 1024.0)
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    sizes();
    let mut inv = common::listed_population().await;
    let total = LIVE.load(Ordering::Relaxed) as f64 / (1024.0 * 1024.0);
    println!("inventory of the 5,000-cluster demo population: {} objects", inv.len());
    println!("{:<44} {:>9.1} MiB", "everything live after the listing", total);
    let n = |v: usize| v.max(1) as f64;
    let pods = inv.pods.len();
    let (mut pm, mut ps, mut pst) = (0.0, 0.0, 0.0);
    for p in std::mem::take(&mut inv.pods) {
        let mut p = std::sync::Arc::try_unwrap(p).unwrap();
        pm += freed(|| std::mem::take(&mut p.metadata));
        ps += freed(|| std::mem::take(&mut p.spec));
        pst += freed(|| std::mem::take(&mut p.status));
    }
    let row = |what: &str, mib: f64, count: usize| {
        println!("{what:<44} {mib:>9.1} MiB  {:>7.0} B each", mib * 1048576.0 / n(count));
    };
    row("pods: metadata", pm, pods);
    row("pods: spec", ps, pods);
    row("pods: status", pst, pods);
    let rcs = inv.ray_clusters.len();
    let (mut rm, mut rs, mut rst) = (0.0, 0.0, 0.0);
    for c in std::mem::take(&mut inv.ray_clusters) {
        let mut c = std::sync::Arc::try_unwrap(c).unwrap();
        rm += freed(|| std::mem::take(&mut c.metadata));
        rs += freed(|| std::mem::take(&mut c.spec));
        rst += freed(|| c.status.take());
    }
    row("rayclusters: metadata", rm, rcs);
    row("rayclusters: spec", rs, rcs);
    row("rayclusters: status", rst, rcs);
    let svcs = inv.services.len();
    let (mut sm, mut ss) = (0.0, 0.0);
    for s in std::mem::take(&mut inv.services) {
        let mut s = std::sync::Arc::try_unwrap(s).unwrap();
        sm += freed(|| std::mem::take(&mut s.metadata));
        ss += freed(|| s);
    }
    row("services: metadata", sm, svcs);
    row("services: the rest", ss, svcs);
    let rest = freed(|| inv);
    println!("{:<44} {:>9.1} MiB", "every other kind", rest);
}

#[allow(unused)]
fn sizes() {
    use std::mem::size_of;
    println!(
        "size_of: Pod {} ObjectMeta {} PodSpec {} PodStatus {} Container {} EnvVar {} ContainerPort {} RayCluster {} Service {} RayKeys {}",
        size_of::<raydar::model::Pod>(),
        size_of::<k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta>(),
        size_of::<raydar::model::PodSpec>(),
        size_of::<raydar::model::PodStatus>(),
        size_of::<raydar::model::Container>(),
        size_of::<raydar::model::EnvVar>(),
        size_of::<raydar::model::ContainerPort>(),
        size_of::<raydar::kuberay::RayCluster>(),
        size_of::<raydar::model::Service>(),
        size_of::<raydar::model::RayKeys>(),
    );
}
