//! Container image references, in two forms that must not be confused. The *pulled*
//! reference is what the container runtime will fetch (`nginx` is
//! `docker.io/library/nginx:latest`, parsed with the distribution reference grammar): the host is
//! asked about it and nothing else. The *coverage* spelling folds the names under which the
//! runtime reaches one registry (`INDEX.DOCKER.IO`, `registry-1.docker.io`, `ghcr.io:443`,
//! `127.0.0.1`) into one, and is used only to decide whether a rule covers an image.

mod grammar;

use std::fmt;

use grammar::ParsedReference;

const DOCKER_HUB: &str = "docker.io";
const DOCKER_HUB_LEGACY: &str = "index.docker.io";
const DOCKER_HUB_OFFICIAL_NAMESPACE: &str = "library";

/// An image reference from a workload: as written, and the parts of the reference the runtime
/// pulls.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImageRef {
    written: String,
    registry: String,
    repository: String,
    tag: Option<String>,
    digest: Option<String>,
}

/// Why an image string is not a reference the runtime could pull.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InvalidImageRef {
    pub reason: String,
}

impl fmt::Display for InvalidImageRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "invalid image reference: {}", self.reason)
    }
}

impl ImageRef {
    pub fn parse(written: &str) -> Result<Self, InvalidImageRef> {
        if written.trim() != written {
            return Err(InvalidImageRef {
                reason: "leading or trailing whitespace".to_string(),
            });
        }
        let ParsedReference {
            registry,
            repository,
            tag,
            digest,
        } = grammar::parse(written).map_err(|reason| InvalidImageRef {
            reason: reason.to_string(),
        })?;
        // Registry hosts are DNS names and so case-insensitive: `DOCKER.IO/nginx` must not
        // escape rules written for `nginx`.
        let registry = registry.map_or_else(|| DOCKER_HUB.to_string(), normalise_registry);
        let repository = if registry == DOCKER_HUB && !repository.contains('/') {
            format!("{DOCKER_HUB_OFFICIAL_NAMESPACE}/{repository}")
        } else {
            repository.to_string()
        };
        // The runtime checks the length of the name once normalised (`nginx` is
        // `docker.io/library/nginx`): found by fuzzing, a name valid as written that the
        // runtime refuses would otherwise normalise into one nothing can parse.
        if registry.len() + 1 + repository.len() > grammar::NAME_MAX {
            return Err(InvalidImageRef {
                reason: format!(
                    "repository name must not be more than {} characters once normalised ({registry}/…)",
                    grammar::NAME_MAX
                ),
            });
        }
        // A reference with only a digest has no tag; the runtime does not add `latest` to it.
        let tag = match (tag, digest) {
            (None, None) => Some("latest".to_string()),
            (tag, _) => tag.map(str::to_string),
        };
        Ok(ImageRef {
            written: written.to_string(),
            registry,
            repository,
            tag,
            digest: digest.map(str::to_string),
        })
    }

    /// The reference exactly as the workload spells it.
    pub fn written(&self) -> &str {
        &self.written
    }

    pub fn digest(&self) -> Option<&str> {
        self.digest.as_deref()
    }

    pub fn tag(&self) -> Option<&str> {
        self.tag.as_deref()
    }

    /// `registry/repository` in its coverage spelling (see
    /// [`coverage_registry`]): every name under which the runtime reaches this repository
    /// gives the same string, so rules cannot be escaped by spelling the registry differently.
    pub fn coverage_repository(&self) -> String {
        coverage_repository(&self.registry, &self.repository)
    }

    /// [`ImageRef::coverage_repository`] with the tag and digest of the pulled reference.
    pub fn coverage_reference(&self) -> String {
        self.with_tag_and_digest(self.coverage_repository())
    }

    /// The registry in its coverage spelling (see [`coverage_registry`]).
    pub fn coverage_registry(&self) -> String {
        coverage_registry(&self.registry)
    }

    /// The pulled `registry/repository`: where the image and its signatures live.
    pub fn pulled_repository(&self) -> String {
        concatenated(&[&self.registry, "/", &self.repository])
    }

    /// The pulled reference, `registry/repository[:tag][@digest]`: what the runtime fetches and
    /// the host is asked about.
    pub fn pulled(&self) -> String {
        self.with_tag_and_digest(self.pulled_repository())
    }

    /// `name[:tag][@digest]`.
    pub(crate) fn with_tag_and_digest(&self, mut name: String) -> String {
        if let Some(tag) = &self.tag {
            name.push(':');
            name.push_str(tag);
        }
        if let Some(digest) = &self.digest {
            name.push('@');
            name.push_str(digest);
        }
        name
    }

    /// The written reference pinned to `digest`, keeping the tag so humans can still read it.
    pub fn pinned_to(&self, digest: &str) -> String {
        let name = match self.written.split_once('@') {
            Some((name, _)) => name,
            None => &self.written,
        };
        concatenated(&[name, "@", digest])
    }
}

/// `parts` in one string, allocated once: these names are built for every image of every
/// request, and `format!` costs several times more in the Wasm module.
pub(crate) fn concatenated(parts: &[&str]) -> String {
    let mut joined = String::with_capacity(parts.iter().map(|part| part.len()).sum());
    parts.iter().for_each(|part| joined.push_str(part));
    joined
}

/// The registry of the pulled reference: lower case, with Docker Hub's legacy name folded into
/// `docker.io`, as the distribution grammar does.
fn normalise_registry(registry: &str) -> String {
    let lower = registry.to_ascii_lowercase();
    if lower == DOCKER_HUB_LEGACY {
        DOCKER_HUB.to_string()
    } else {
        lower
    }
}

/// Docker Hub's registry answers under these names too: containerd sends `docker.io` pulls to
/// `registry-1.docker.io`, the distribution grammar folds `index.docker.io` into `docker.io`,
/// and `registry.hub.docker.com` is Hub's older registry name.
const DOCKER_HUB_ALIASES: [&str; 3] = [
    DOCKER_HUB_LEGACY,
    "registry-1.docker.io",
    "registry.hub.docker.com",
];

/// Names of the node itself: the runtime pulls `localhost`, `127.0.0.1` and `[::1]` images from
/// the same local registry.
const LOOPBACK_NAMES: [&str; 2] = ["127.0.0.1", "[::1]"];

/// The coverage spelling of a registry: one spelling for each registry the runtime reaches under several: lower case (hosts are DNS
/// names), without the default HTTPS port (`ghcr.io:443` is `ghcr.io`), Docker Hub's aliases
/// folded into `docker.io`, loopback addresses into `localhost`. Used to decide coverage only:
/// the host is always asked about the registry the runtime will contact.
pub fn coverage_registry(registry: &str) -> String {
    let lower = registry.to_ascii_lowercase();
    let (host, port) = match lower.rsplit_once(':') {
        Some((host, port)) if !port.is_empty() && port.bytes().all(|b| b.is_ascii_digit()) => {
            (host, Some(port))
        }
        _ => (lower.as_str(), None),
    };
    let host = if DOCKER_HUB_ALIASES.contains(&host) {
        DOCKER_HUB
    } else if LOOPBACK_NAMES.contains(&host) {
        "localhost"
    } else {
        host
    };
    // `registry:443/app` without its port would read as the Docker Hub path `registry/app`:
    // the default port is dropped only where the host still reads as a host on its own.
    let port = port.filter(|&port| port != "443" || !names_a_registry(host));
    match port {
        Some(port) => format!("{host}:{port}"),
        None => host.to_string(),
    }
}

/// `registry/repository` in coverage spelling; Docker Hub paths of one component live under
/// `library/` whichever alias named the registry.
pub fn coverage_repository(registry: &str, repository: &str) -> String {
    let registry = coverage_registry(registry);
    if registry == DOCKER_HUB && !repository.contains('/') {
        concatenated(&[
            DOCKER_HUB,
            "/",
            DOCKER_HUB_OFFICIAL_NAMESPACE,
            "/",
            repository,
        ])
    } else {
        concatenated(&[&registry, "/", repository])
    }
}

/// Splits the first path component off when it names a registry host, using the runtime's rule:
/// it contains `.` or `:`, or is `localhost`. Anything else is a Docker Hub path.
pub fn split_registry(name: &str) -> Option<(&str, &str)> {
    let (first, rest) = name.split_once('/')?;
    names_a_registry(first).then_some((first, rest))
}

/// The runtime's rule for a first path component that names a registry host.
fn names_a_registry(component: &str) -> bool {
    component.contains('.')
        || component.contains(':')
        || component.eq_ignore_ascii_case("localhost")
}

/// A manifest digest that is well formed: only such a digest is ever pinned or compared.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Digest(String);

impl Digest {
    /// Accepts what [`is_well_formed_digest`] accepts; a host's answer is nothing else.
    pub fn parse(digest: &str) -> Result<Digest, String> {
        if is_well_formed_digest(digest) {
            Ok(Digest(digest.to_string()))
        } else {
            Err(format!("host answered with a malformed digest {digest:?}"))
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Digest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Digests the host may hand back: an algorithm the runtime accepts and hex of the right length.
pub fn is_well_formed_digest(digest: &str) -> bool {
    let Some((algorithm, hex)) = digest.split_once(':') else {
        return false;
    };
    let expected_len = match algorithm {
        "sha256" => 64,
        "sha384" => 96,
        "sha512" => 128,
        _ => return false,
    };
    hex.len() == expected_len
        && hex
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

#[cfg(test)]
mod tests {
    use super::*;
    use rstest::rstest;

    const D: &str = "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

    #[rstest]
    #[case("nginx", "docker.io/library/nginx:latest")]
    #[case("nginx:1.25", "docker.io/library/nginx:1.25")]
    #[case("library/nginx", "docker.io/library/nginx:latest")]
    #[case("docker.io/nginx", "docker.io/library/nginx:latest")]
    #[case("docker.io/library/nginx:1", "docker.io/library/nginx:1")]
    #[case("index.docker.io/nginx", "docker.io/library/nginx:latest")]
    #[case("index.docker.io/library/nginx:2", "docker.io/library/nginx:2")]
    #[case("DOCKER.IO/library/nginx", "docker.io/library/nginx:latest")]
    #[case("DOCKER.IO/nginx", "docker.io/library/nginx:latest")]
    #[case("Index.Docker.IO/nginx", "docker.io/library/nginx:latest")]
    #[case("bitnami/redis:7", "docker.io/bitnami/redis:7")]
    #[case("ghcr.io/acme/app:v1", "ghcr.io/acme/app:v1")]
    #[case("GHCR.io/acme/app:v1", "ghcr.io/acme/app:v1")]
    #[case("ghcr.io/acme/team/app", "ghcr.io/acme/team/app:latest")]
    #[case("localhost/app", "localhost/app:latest")]
    #[case("localhost:5000/app:dev", "localhost:5000/app:dev")]
    #[case("127.0.0.1:5000/app", "127.0.0.1:5000/app:latest")]
    #[case("registry.local:5000/team/app:1.0", "registry.local:5000/team/app:1.0")]
    #[case("quay.io/org/app:Mixed-Case.tag_1", "quay.io/org/app:Mixed-Case.tag_1")]
    #[case("test.com:5000", "docker.io/library/test.com:5000")]
    #[case("foo_bar.com:8080", "docker.io/library/foo_bar.com:8080")]
    #[case("my-reg:5000/app", "my-reg:5000/app:latest")]
    #[case("myreg/app", "docker.io/myreg/app:latest")]
    #[case(concat!("nginx@", "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"),
           concat!("docker.io/library/nginx@", "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"))]
    #[case(concat!("nginx:1@", "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"),
           concat!("docker.io/library/nginx:1@", "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"))]
    #[case(concat!("index.docker.io/library/nginx@", "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"),
           concat!("docker.io/library/nginx@", "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"))]
    #[case(concat!("host:5000/a/b:t@", "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"),
           concat!("host:5000/a/b:t@", "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"))]
    #[case("gcr.io/distroless/static:nonroot", "gcr.io/distroless/static:nonroot")]
    #[case("a.b.c/d/e/f/g:h", "a.b.c/d/e/f/g:h")]
    #[case("xn--n3h.com/myimage:1", "xn--n3h.com/myimage:1")]
    fn normalises_like_the_runtime(#[case] written: &str, #[case] expected: &str) {
        let image = ImageRef::parse(written).expect("valid reference");
        assert_eq!(image.pulled(), expected);
        assert_eq!(image.written(), written);
    }

    #[rstest]
    #[case("", "repository name must have at least one component")]
    #[case("NGINX", "repository name must be lowercase")]
    #[case("docker.io/Library/nginx", "repository name must be lowercase")]
    #[case("nginx:", "invalid reference format")]
    #[case("nginx@sha256:abc", "invalid reference format")]
    #[case(
        "nginx@md5:0123456789abcdef0123456789abcdef",
        "unsupported digest algorithm"
    )]
    #[case(" nginx", "leading or trailing whitespace")]
    #[case("nginx ", "leading or trailing whitespace")]
    #[case("ghcr.io//app", "invalid reference format")]
    #[case("https://ghcr.io/app", "invalid reference format")]
    fn rejects_what_the_runtime_cannot_pull(#[case] written: &str, #[case] reason: &str) {
        let err = ImageRef::parse(written).expect_err("must be rejected");
        assert_eq!(err.reason, reason, "for {written:?}");
    }

    /// Found by fuzzing: 250 characters are a valid name as written, but not once Docker Hub's
    /// `docker.io/library/` is added, which the runtime checks.
    #[test]
    fn names_too_long_once_normalised_are_rejected() {
        let name = "a".repeat(250);
        assert!(grammar::parse(&name).is_ok());
        let err = ImageRef::parse(&name).expect_err("too long once normalised");
        assert!(err.reason.contains("once normalised"), "{}", err.reason);
        let longest = "a".repeat(grammar::NAME_MAX - "docker.io/library/".len());
        let image = ImageRef::parse(&longest).expect("255 characters once normalised");
        assert!(ImageRef::parse(&image.pulled()).is_ok());
    }

    #[test]
    fn keeps_tag_and_digest_apart() {
        let image = ImageRef::parse(&format!("host:5000/app:v1@{D}")).unwrap();
        assert_eq!(image.digest(), Some(D));
        assert_eq!(image.pulled(), format!("host:5000/app:v1@{D}"));
        let untagged = ImageRef::parse(&format!("host:5000/app@{D}")).unwrap();
        assert_eq!(untagged.pulled(), format!("host:5000/app@{D}"));
    }

    #[rstest]
    #[case("nginx", "nginx@")]
    #[case("nginx:1.25", "nginx:1.25@")]
    #[case("host:5000/app:v1", "host:5000/app:v1@")]
    #[case(concat!("host:5000/app:v1@", "sha256:1111111111111111111111111111111111111111111111111111111111111111"), "host:5000/app:v1@")]
    fn pins_the_written_name_keeping_the_tag(#[case] written: &str, #[case] prefix: &str) {
        let image = ImageRef::parse(written).unwrap();
        assert_eq!(image.pinned_to(D), format!("{prefix}{D}"));
    }

    #[rstest]
    #[case(D, true)]
    #[case("sha256:0123", false)]
    #[case(
        "sha256:0123456789ABCDEF0123456789abcdef0123456789abcdef0123456789abcdef",
        false
    )]
    #[case("md5:0123456789abcdef0123456789abcdef", false)]
    #[case("", false)]
    #[case(
        "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
        false
    )]
    fn recognises_well_formed_digests(#[case] digest: &str, #[case] ok: bool) {
        assert_eq!(is_well_formed_digest(digest), ok);
    }

    /// Each spelling under which the runtime reaches the same registry, and its one canonical
    /// name. Sources: the distribution reference grammar (`index.docker.io` → `docker.io`),
    /// containerd's default Docker Hub host (`registry-1.docker.io`), Hub's older registry name
    /// (`registry.hub.docker.com`), DNS (hosts are case-insensitive), HTTPS (443 is the default
    /// port), and the node's own names for its loopback registry.
    #[rstest]
    #[case("docker.io", "docker.io")]
    #[case("DOCKER.IO", "docker.io")]
    #[case("index.docker.io", "docker.io")]
    #[case("registry-1.docker.io", "docker.io")]
    #[case("Registry-1.Docker.IO", "docker.io")]
    #[case("registry.hub.docker.com", "docker.io")]
    #[case("docker.io:443", "docker.io")]
    #[case("ghcr.io:443", "ghcr.io")]
    #[case("GHCR.IO", "ghcr.io")]
    #[case("ghcr.io:5000", "ghcr.io:5000")]
    #[case("localhost:5000", "localhost:5000")]
    #[case("127.0.0.1:5000", "localhost:5000")]
    #[case("127.0.0.1", "localhost")]
    #[case("[::1]:5000", "localhost:5000")]
    #[case("quay.io", "quay.io")]
    // Found by fuzzing: without its port, a dotless host reads as a Docker Hub namespace.
    #[case("registr:443", "registr:443")]
    #[case("registr:5000", "registr:5000")]
    #[case("[::1]:443", "localhost")]
    fn canonical_registry_names(#[case] registry: &str, #[case] canonical: &str) {
        assert_eq!(coverage_registry(registry), canonical);
    }

    #[rstest]
    #[case(
        "registry-1.docker.io/nginx:1",
        "docker.io/library/nginx",
        "docker.io/library/nginx:1"
    )]
    #[case(
        "docker.io:443/bitnami/redis",
        "docker.io/bitnami/redis",
        "docker.io/bitnami/redis:latest"
    )]
    #[case(concat!("ghcr.io:443/acme/app@", "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"),
           "ghcr.io/acme/app",
           concat!("ghcr.io/acme/app@", "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"))]
    fn canonical_references(#[case] written: &str, #[case] name: &str, #[case] reference: &str) {
        let image = ImageRef::parse(written).unwrap();
        assert_eq!(image.coverage_repository(), name);
        assert_eq!(image.coverage_reference(), reference);
    }

    #[test]
    fn a_trailing_dot_host_is_not_a_reference() {
        // `ghcr.io.` would be the same host to DNS; the grammar refuses it, so it cannot be used.
        assert!(ImageRef::parse("ghcr.io./acme/app").is_err());
    }
}
