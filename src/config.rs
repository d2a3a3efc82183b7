//! The user's config file: `$XDG_CONFIG_HOME/raydar/config.toml` (else
//! `~/.config/raydar/config.toml`). Missing is fine; malformed is a clear error.

use crate::posture::PostureConfig;
use serde::Deserialize;
use std::path::PathBuf;

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    pub posture: PostureConfig,
}

pub fn config_dir() -> Option<PathBuf> {
    std::env::var_os("XDG_CONFIG_HOME")
        .map(PathBuf::from)
        .filter(|p| p.is_absolute())
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".config")))
        .map(|d| d.join("raydar"))
}

impl Config {
    /// Reads the config file if there is one.
    pub fn load() -> Result<Self, String> {
        let Some(path) = config_dir().map(|d| d.join("config.toml")) else {
            return Ok(Self::default());
        };
        match std::fs::read_to_string(&path) {
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Self::default()),
            Err(e) => Err(format!("config {}: {e}", path.display())),
            Ok(text) => Self::parse(&text).map_err(|e| format!("config {}: {e}", path.display())),
        }
    }

    pub fn parse(text: &str) -> Result<Self, String> {
        toml::from_str(text).map_err(|e| {
            e.message().to_string()
                + &e.span().map(|s| format!(" (at byte {})", s.start)).unwrap_or_default()
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_rejects_unknown_keys() {
        let c =
            Config::parse("[posture]\ntrusted_registries = [\"docker.io/rayproject\"]\n").unwrap();
        assert_eq!(c.posture.trusted_registries, ["docker.io/rayproject"]);
        assert!(Config::parse("[posture]\ntrusted = 1\n").unwrap_err().contains("unknown field"));
    }
}
