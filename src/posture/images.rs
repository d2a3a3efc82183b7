//! Guide §6: images and Ray versions (RAY-IMG-001, RAY-IMG-002, RAY-IMG-003, RAY-VER-001).

use super::{catalog::rule, Findings, Reach, Severity, Subject};
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
    // A tag is after the last ':', unless a '/' follows it (`localhost:5000/ray`).
    let (name, tag) = match rest.rsplit_once(':') {
        Some((name, tag)) if !tag.contains('/') => (name, Some(tag)),
        _ => (rest, None),
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

/// A Ray version: major, minor, patch, and whether it is a release (a pre-release such as
/// `2.52.0-rc1` or `2.52.0rc1` comes before `2.52.0`, so it lacks that release's fixes).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct RayVersion(pub u32, pub u32, pub u32, pub bool);

impl RayVersion {
    pub const fn release(major: u32, minor: u32, patch: u32) -> Self {
        Self(major, minor, patch, true)
    }
}

/// Whether what follows the version numbers marks a pre-release (`rc1`, `a1`, `b2`, `dev0`,
/// `alpha`, `beta`, `pre`), not an image variant (`py311`, `gpu`, `cu121`, `aarch64`).
fn is_pre_release(rest: &str) -> bool {
    let rest = rest.trim_start_matches(['-', '.', '+']).to_ascii_lowercase();
    let word: String = rest.chars().take_while(char::is_ascii_alphabetic).collect();
    let after = &rest[word.len()..];
    let numbered =
        after.is_empty() || after.starts_with(|c: char| c.is_ascii_digit() || c == '.' || c == '-');
    match word.as_str() {
        "rc" | "a" | "b" | "dev" | "alpha" | "beta" | "pre" | "preview" => numbered,
        _ => false,
    }
}

/// `2.47.1`, `2.47.1-py311`, `2.9`, `2.52.0-rc1` → the version; `latest`, `nightly` → None.
pub fn parse_version(v: &str) -> Option<RayVersion> {
    let v = v.trim_start_matches('v');
    let mut parts = [0u32; 3];
    let mut rest = v;
    for (i, part) in parts.iter_mut().enumerate() {
        if i > 0 {
            match rest.strip_prefix('.') {
                Some(r) if r.starts_with(|c: char| c.is_ascii_digit()) => rest = r,
                // `2.9`: the patch defaults to 0; a major alone is no version.
                _ if i == 2 => break,
                _ => return None,
            }
        }
        let digits = rest.find(|c: char| !c.is_ascii_digit()).unwrap_or(rest.len());
        *part = rest[..digits].parse().ok()?;
        rest = &rest[digits..];
    }
    if !(rest.is_empty() || rest.starts_with(['-', '+', '.']) || is_pre_release(rest)) {
        return None;
    }
    Some(RayVersion(parts[0], parts[1], parts[2], !is_pre_release(rest)))
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
            let path = format!("{}.{list}[{i}]", t.path);
            let r = split_image(image);
            if r.digest.is_none() && r.tag.is_none_or(|t| t == "latest") {
                out.add(
                    rule!("RAY-IMG-001"),
                    Severity::Medium,
                    format!("{obj} {path} image {image}"),
                );
            }
            if r.digest.is_none() {
                out.add(
                    rule!("RAY-IMG-002"),
                    Severity::Low,
                    format!("{obj} {path} image {image} has no @sha256 digest"),
                );
            }
            let trusted = |p: &String| {
                format!("{}/{}", r.registry, r.repository).starts_with(p.trim_end_matches('/'))
            };
            if !s.cfg.trusted_registries.is_empty() && !s.cfg.trusted_registries.iter().any(trusted)
            {
                out.add(
                    rule!("RAY-IMG-003"),
                    Severity::Info,
                    format!(
                        "{obj} {path} image from {} (trusted: {})",
                        r.registry,
                        s.cfg.trusted_registries.join(", ")
                    ),
                );
            }
        }
    }
    versions(s, out);
}

/// RAY-VER-001 from the loaded advisories (`posture::advisories`): every advisory an upgrade
/// fixes that affects the version, and the lowest version that fixes them all. The severity
/// is the worst advisory's; an unauthenticated remote code execution is critical only where
/// the cluster is reachable from outside without auth, else high.
fn versions(s: &Subject, out: &mut Findings) {
    let (Some(v), Some(parsed)) = (s.ray_version(), s.ray_version_parsed()) else { return };
    let db = s.cfg.db.get();
    let (hits, fix) = db.fixable_for(parsed);
    let Some(worst) = hits.iter().map(|a| a.severity).max() else { return };
    let exposed = out.reach_so_far() != Reach::Internal && !s.auth.on();
    let sev = match worst {
        Severity::Critical if exposed && hits.iter().any(|a| a.remote_code) => Severity::Critical,
        Severity::Critical => Severity::High,
        other => other,
    };
    let ids: Vec<String> = hits.iter().map(|a| a.label()).collect();
    let upgrade = match fix {
        Some(RayVersion(a, b, c, _)) => format!("; {a}.{b}.{c} fixes all of them"),
        None => String::new(),
    };
    out.add(
        rule!("RAY-VER-001"),
        sev,
        format!("{} Ray {v} is affected by {}{upgrade}", s.object(), ids.join(", ")),
    );
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
        assert_eq!(parse_version("2.47.1-py311"), Some(RayVersion::release(2, 47, 1)));
        assert_eq!(parse_version("2.9"), Some(RayVersion::release(2, 9, 0)));
        assert_eq!(parse_version("2.9.0-py310-gpu"), Some(RayVersion::release(2, 9, 0)));
        assert_eq!(parse_version("nightly"), None);
        assert_eq!(parse_version("latest"), None);
        assert_eq!(parse_version("2"), None);
        let r = split_image("localhost:5000/ray:2.9.0");
        assert_eq!((r.registry, &*r.repository, r.tag), ("localhost:5000", "ray", Some("2.9.0")));
        assert_eq!(split_image("localhost:5000/ray").tag, None);
        // A major and minor, then a pre-release: the patch is 0.
        assert_eq!(parse_version("3.0.dev0"), Some(RayVersion(3, 0, 0, false)));
        // A word that is not followed by a number or a separator is no pre-release.
        assert_eq!(parse_version("2.52.0rc_1"), None);
        for pre in [
            "2.52.0-rc1",
            "2.52.0rc1",
            "2.52.0.dev0",
            "2.52.0-alpha",
            "2.52.0b2",
            "2.52.0rc.1",
            "2.52.0-rc-1",
        ] {
            let v = parse_version(pre).unwrap();
            assert!(v < RayVersion::release(2, 52, 0), "{pre} comes before 2.52.0");
            assert!(v > RayVersion::release(2, 51, 9), "{pre} comes after 2.51.9");
        }
    }
}
