//! The `image` glob of a signature rule and the question "does this rule cover this image?".
//! Matching errs towards covering: an extra match only adds a check, a missed one is a bypass.

use wildmatch::WildMatch;

use crate::image_ref::{normalise_registry, split_registry, ImageRef};

/// A rule's image glob: `*` matches any run of characters including `/`, `?` exactly one.
#[derive(Debug, Clone)]
pub struct ImagePattern {
    written: String,
    as_written: WildMatch,
    normalised: WildMatch,
}

impl ImagePattern {
    pub fn new(pattern: &str) -> Self {
        ImagePattern {
            written: pattern.to_string(),
            as_written: WildMatch::new(pattern),
            normalised: WildMatch::new(&normalise_pattern(pattern)),
        }
    }

    pub fn written(&self) -> &str {
        &self.written
    }

    /// Whether the rule applies: the pattern as written or normalised like an image reference
    /// matches the image as written or normalised. Admins write `nginx*` and mean every spelling
    /// the runtime resolves to Docker Hub's nginx.
    pub fn covers(&self, image: &ImageRef) -> bool {
        let normalised = image.normalised();
        [&self.as_written, &self.normalised]
            .iter()
            .any(|glob| glob.matches(image.written()) || glob.matches(&normalised))
    }
}

/// Applies the runtime's reference normalisation to a glob: a pattern without a registry host
/// means Docker Hub, a single-component Docker Hub path lives under `library/`.
fn normalise_pattern(pattern: &str) -> String {
    match split_registry(pattern) {
        Some((registry, rest)) => {
            let registry = normalise_registry(registry);
            if registry == "docker.io" && !rest.contains('/') {
                format!("docker.io/library/{rest}")
            } else {
                format!("{registry}/{rest}")
            }
        }
        None if pattern.contains('/') => format!("docker.io/{pattern}"),
        None => format!("docker.io/library/{pattern}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rstest::rstest;

    const D: &str = "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

    #[rstest]
    #[case("nginx", "docker.io/library/nginx")]
    #[case("nginx*", "docker.io/library/nginx*")]
    #[case("bitnami/*", "docker.io/bitnami/*")]
    #[case("docker.io/nginx:*", "docker.io/library/nginx:*")]
    #[case("INDEX.DOCKER.IO/nginx*", "docker.io/library/nginx*")]
    #[case("GHCR.IO/acme/*", "ghcr.io/acme/*")]
    #[case("localhost:5000/*", "localhost:5000/*")]
    #[case("*", "docker.io/library/*")]
    fn normalises_patterns_like_references(#[case] pattern: &str, #[case] expected: &str) {
        assert_eq!(normalise_pattern(pattern), expected);
    }

    #[rstest]
    #[case("nginx*", "nginx", true)]
    #[case("nginx*", "docker.io/nginx:1", true)]
    #[case("nginx*", &format!("index.docker.io/library/nginx@{D}"), true)]
    #[case("nginx*", "DOCKER.IO/library/nginx", true)]
    #[case("nginx*", "nginx-unprivileged:1", true)]
    #[case("nginx*", "ghcr.io/nginx", false)]
    #[case("nginx*", "bitnami/nginx", false)]
    #[case("docker.io/library/nginx:*", "nginx:1.25", true)]
    #[case("*", "ghcr.io/acme/app:v1", true)]
    #[case("ghcr.io/acme/*", "ghcr.io/acme/app:v1", true)]
    #[case("ghcr.io/acme/*", "ghcr.io/acme/team/app:v1", true)]
    #[case("ghcr.io/acme/*", "GHCR.IO/acme/app:v1", true)]
    #[case("ghcr.io/acme/*", "ghcr.io/acme-evil/app:v1", false)]
    #[case("ghcr.io/acme/app:v?", "ghcr.io/acme/app:v1", true)]
    #[case("ghcr.io/acme/app:v?", "ghcr.io/acme/app:v10", false)]
    #[case("*/acme/*", "ghcr.io/acme/app", true)]
    #[case("127.0.0.1:5000/*", "127.0.0.1:5000/signed:v1", true)]
    #[case("127.0.0.1:5000/*", "127.0.0.1:5001/signed:v1", false)]
    #[case("bitnami/*", "docker.io/bitnami/redis:7", true)]
    #[case("bitnami/*", "bitnami/redis", true)]
    fn covers(#[case] pattern: &str, #[case] image: &str, #[case] expected: bool) {
        let image = ImageRef::parse(image).unwrap();
        assert_eq!(
            ImagePattern::new(pattern).covers(&image),
            expected,
            "{pattern} vs {image:?}"
        );
    }
}
