//! Registry credentials from a docker `config.json` (`auths.<registry>.auth`,
//! base64 of `user:password`).

use std::collections::BTreeMap;
use std::path::Path;

use anyhow::{anyhow, Context, Result};
use base64::Engine as _;
use serde::Deserialize;
use sigstore::registry::Auth;

/// Basic-auth credentials by registry host (`host` or `host:port`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RegistryCredentials {
    by_registry: BTreeMap<String, (String, String)>,
}

#[derive(Deserialize)]
struct DockerConfig {
    #[serde(default)]
    auths: BTreeMap<String, DockerAuth>,
}

#[derive(Deserialize)]
struct DockerAuth {
    auth: Option<String>,
    username: Option<String>,
    password: Option<String>,
}

impl RegistryCredentials {
    /// kwctl's `--docker-config-json-path` names the directory holding `config.json` (as
    /// `~/.docker`); a path to the file itself is accepted too.
    pub fn from_path(path: &Path) -> Result<Self> {
        if path.is_dir() {
            Self::from_file(&path.join("config.json"))
        } else {
            Self::from_file(path)
        }
    }

    pub fn from_file(path: &Path) -> Result<Self> {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("cannot read docker config {}", path.display()))?;
        Self::from_json(&text).with_context(|| format!("invalid docker config {}", path.display()))
    }

    pub fn from_json(text: &str) -> Result<Self> {
        let config: DockerConfig = serde_json::from_str(text)?;
        let mut by_registry = BTreeMap::new();
        for (key, entry) in config.auths {
            let credentials = match (&entry.auth, &entry.username, &entry.password) {
                (Some(auth), _, _) => {
                    decode_auth(auth).with_context(|| format!("auths[{key:?}].auth"))?
                }
                (None, Some(user), Some(password)) => (user.clone(), password.clone()),
                // An entry without credentials (e.g. only a credential helper) is anonymous.
                _ => continue,
            };
            by_registry.insert(registry_host(&key), credentials);
        }
        Ok(Self { by_registry })
    }

    /// The credentials for `registry`, anonymous when none are configured.
    pub fn auth_for(&self, registry: &str) -> Auth {
        match self.by_registry.get(registry) {
            Some((user, password)) => Auth::Basic(user.clone(), password.clone()),
            None => Auth::Anonymous,
        }
    }
}

/// Docker writes keys as `host`, `host:port` or a URL such as
/// `https://index.docker.io/v1/`; image references only carry the host part.
fn registry_host(key: &str) -> String {
    let without_scheme = key
        .strip_prefix("https://")
        .or_else(|| key.strip_prefix("http://"))
        .unwrap_or(key);
    let host = without_scheme.split('/').next().unwrap_or(without_scheme);
    match host {
        // oci-client names Docker Hub `docker.io`.
        "index.docker.io" | "registry-1.docker.io" => "docker.io".to_string(),
        other => other.to_string(),
    }
}

fn decode_auth(auth: &str) -> Result<(String, String)> {
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(auth.trim())
        .context("not valid base64")?;
    let text = String::from_utf8(bytes).context("not UTF-8")?;
    let (user, password) = text
        .split_once(':')
        .ok_or_else(|| anyhow!("decoded value is not user:password"))?;
    Ok((user.to_string(), password.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn auth_entries_become_basic_credentials() {
        let config = r#"{"auths": {
            "127.0.0.1:5000": {"auth": "YWxpY2U6czNjcmV0"},
            "https://index.docker.io/v1/": {"username": "bob", "password": "pw"},
            "helper-only.example": {}
        }}"#;
        let credentials = RegistryCredentials::from_json(config).unwrap();
        assert!(matches!(credentials.auth_for("127.0.0.1:5000"),
            Auth::Basic(u, p) if u == "alice" && p == "s3cret"));
        assert!(matches!(credentials.auth_for("docker.io"), Auth::Basic(u, _) if u == "bob"));
        assert!(matches!(
            credentials.auth_for("helper-only.example"),
            Auth::Anonymous
        ));
        assert!(matches!(
            credentials.auth_for("other:5000"),
            Auth::Anonymous
        ));
    }

    #[test]
    fn malformed_auth_names_the_registry() {
        let err =
            RegistryCredentials::from_json(r#"{"auths": {"r.example": {"auth": "bm9jb2xvbg=="}}}"#)
                .unwrap_err();
        assert!(format!("{err:#}").contains("r.example"), "{err:#}");
    }
}
