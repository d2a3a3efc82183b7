//! Guide §6: images and Ray versions (RAY-IMG-001, RAY-IMG-002, RAY-IMG-003, RAY-VER-001).

use super::subject::Indexed;
use super::{catalog::rule, evidence, Findings, Joined, Severity, Subject};
use std::borrow::Cow;

/// An image reference split into its parts; `registry` is normalised (`docker.io`).
#[derive(Debug, PartialEq, Eq)]
pub struct ImageRef<'a> {
    pub registry: &'a str,
    pub repository: Cow<'a, str>,
    pub tag: Option<&'a str>,
    pub digest: Option<&'a str>,
}

pub fn split_image(image: &str) -> ImageRef<'_> {
    let (rest, digest) = match image.split_once('@') {
        Some((r, d)) => (r, Some(d)),
        None => (image, None),
    };
    // A tag is after the last ':' that comes after the last '/'.
    let slash = rest.rfind('/').map_or(0, |i| i + 1);
    let (name, tag) = match rest[slash..].rfind(':') {
        Some(i) => (&rest[..slash + i], Some(&rest[slash + i + 1..])),
        None => (rest, None),
    };
    let (registry, repository) = match name.split_once('/') {
        Some((first, path))
            if first.contains('.') || first.contains(':') || first == "localhost" =>
        {
            (first, Cow::Borrowed(path))
        }
        Some(_) => ("docker.io", Cow::Borrowed(name)),
        None => ("docker.io", Cow::Owned(format!("library/{name}"))),
    };
    ImageRef { registry, repository, tag, digest }
}

/// `2.47.1`, `2.47.1-py311`, `2.9` → (major, minor, patch).
pub fn parse_version(v: &str) -> Option<(u32, u32, u32)> {
    let core = v.trim_start_matches('v').split(['-', '+']).next()?;
    let mut it = core.split('.');
    let major = it.next()?.parse().ok()?;
    let minor = it.next()?.parse().ok()?;
    let patch = it.next().map_or(Some(0), |p| p.parse().ok())?;
    Some((major, minor, patch))
}

pub fn check(s: &Subject, out: &mut Findings) {
    let obj = s.object();
    let mut seen: smallvec::SmallVec<[&str; 4]> = smallvec::SmallVec::new();
    for t in s.templates() {
        for (i, init, c) in t.spec.all_containers() {
            let Some(image) = c.image.as_deref().filter(|i| !i.is_empty()) else { continue };
            if seen.contains(&image) {
                continue;
            }
            seen.push(image);
            let list = if init { "initContainers" } else { "containers" };
            let path = Indexed { base: &t.path, list, i };
            let r = split_image(image);
            if r.digest.is_none() && r.tag.is_none_or(|t| t == "latest") {
                evidence!(
                    out,
                    rule!("RAY-IMG-001"),
                    Severity::Medium,
                    obj,
                    " ",
                    path,
                    " image ",
                    image
                );
            }
            if r.digest.is_none() {
                evidence!(
                    out,
                    rule!("RAY-IMG-002"),
                    Severity::Low,
                    obj,
                    " ",
                    path,
                    " image ",
                    image,
                    " has no @sha256 digest"
                );
            }
            let trusted = |p: &String| {
                format!("{}/{}", r.registry, r.repository).starts_with(p.trim_end_matches('/'))
            };
            if !s.cfg.trusted_registries.is_empty() && !s.cfg.trusted_registries.iter().any(trusted)
            {
                evidence!(
                    out,
                    rule!("RAY-IMG-003"),
                    Severity::Info,
                    obj,
                    " ",
                    path,
                    " image from ",
                    r.registry,
                    " (trusted: ",
                    Joined(&s.cfg.trusted_registries, ", "),
                    ")"
                );
            }
        }
    }
    if let Some(v) = s.ray_version() {
        if let Some(parsed) = s.ray_version_parsed() {
            let (sev, why) = if parsed < (2, 52, 0) {
                (Severity::High, "below 2.52: CVE-2025-62593 (unauthenticated RCE through browser DNS rebinding, CISA KEV) and CVE-2026-27482")
            } else if parsed < (2, 54, 0) {
                (Severity::Medium, "below 2.54: CVE-2026-27482 (dashboard DELETE not gated)")
            } else {
                return;
            };
            evidence!(out, rule!("RAY-VER-001"), sev, obj, " Ray ", v, " is ", why);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn image_references() {
        assert_eq!(
            split_image("rayproject/ray:2.9.0"),
            ImageRef {
                registry: "docker.io",
                repository: "rayproject/ray".into(),
                tag: Some("2.9.0"),
                digest: None
            }
        );
        assert_eq!(split_image("ray").repository, "library/ray");
        let r = split_image("localhost:5000/ray@sha256:abc");
        assert_eq!((r.registry, r.tag, r.digest), ("localhost:5000", None, Some("sha256:abc")));
        assert_eq!(
            split_image("registry.cn-hangzhou.aliyuncs.com/a/ray:2.52.1").registry,
            "registry.cn-hangzhou.aliyuncs.com"
        );
        assert_eq!(parse_version("2.47.1-py311"), Some((2, 47, 1)));
        assert_eq!(parse_version("nightly"), None);
    }
}
