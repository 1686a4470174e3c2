//! The `image` glob of a signature rule and the question "does this rule cover this image?".
//! Coverage follows what the runtime will pull, not how the strings happen to be spelled: an
//! extra match only adds a check, a missed one is a bypass. Patterns no image reference could
//! ever match are refused, since they would silently protect nothing.

use wildmatch::WildMatch;

use crate::reference::{coverage_registry, split_registry, ImageRef};

const DOCKER_HUB: &str = "docker.io";

/// A rule's image glob: `*` matches any run of characters including `/`, `?` exactly one.
#[derive(Debug, Clone)]
pub struct ImagePattern {
    /// The pattern as written and in its coverage spellings, matched against whole references.
    whole: Vec<WildMatch>,
    /// The same, split into repository and tag or digest.
    split: Vec<SplitPattern>,
}

/// A pattern's repository glob and what it says about the tag or digest.
#[derive(Debug, Clone)]
struct SplitPattern {
    repository: WildMatch,
    version: Version,
}

#[derive(Debug, Clone)]
enum Version {
    /// No tag or digest: every tag and digest of the repository.
    Any,
    Tag(WildMatch),
    Digest(WildMatch),
}

impl ImagePattern {
    /// Reads a rule's pattern, refusing one that no valid image reference could match.
    pub fn parse(pattern: &str) -> Result<Self, String> {
        check_can_match(pattern)?;
        Ok(Self::new(pattern))
    }

    fn new(pattern: &str) -> Self {
        let mut forms = vec![pattern.to_string()];
        forms.extend(coverage_patterns(pattern));
        ImagePattern {
            whole: forms.iter().map(|form| WildMatch::new(form)).collect(),
            split: forms.iter().map(|form| split(form)).collect(),
        }
    }

    /// Whether the rule applies. The pattern, as written or in coverage spelling, covers an image
    /// when it matches the whole reference (as written, pulled or in coverage spelling), or when its
    /// repository part matches the image's repository and:
    /// - it names no tag or digest (a repository covers all its tags and digests);
    /// - it names a tag that matches the image's, or the image has a digest (the runtime then
    ///   ignores the tag) or no tag at all;
    /// - it names a digest that matches the image's, or the image has none (its tag may point
    ///   there).
    pub fn covers(&self, image: &CoverageSpellings<'_>) -> bool {
        if self
            .whole
            .iter()
            .any(|glob| image.references.iter().any(|r| glob.matches(r)))
        {
            return true;
        }
        self.split.iter().any(|split| {
            image
                .names
                .iter()
                .any(|name| split.repository.matches(name))
                && split.version.admits(image.image)
        })
    }
}

/// The strings an image is matched by, worked out once per image however many rules and skip
/// patterns look at it.
pub struct CoverageSpellings<'a> {
    image: &'a ImageRef,
    /// The whole reference as written, pulled, and in coverage spelling.
    references: [String; 3],
    /// `registry/repository`, in coverage spelling and pulled.
    names: [String; 2],
}

impl<'a> CoverageSpellings<'a> {
    pub fn of(image: &'a ImageRef) -> Self {
        let coverage_repository = image.coverage_repository();
        CoverageSpellings {
            references: [
                image.written().to_string(),
                image.pulled(),
                image.with_tag_and_digest(coverage_repository.clone()),
            ],
            names: [coverage_repository, image.pulled_repository()],
            image,
        }
    }

    fn coverage_reference(&self) -> &str {
        &self.references[2]
    }
}

/// A `skipImages` glob: images it matches are neither verified nor pinned. An exclusion weakens
/// the policy, so it must be written in coverage spelling and is matched against the coverage
/// spelling only: every spelling of what it names is skipped, and nothing else.
#[derive(Debug, Clone)]
pub struct SkipPattern {
    glob: WildMatch,
}

impl SkipPattern {
    pub fn parse(pattern: &str) -> Result<Self, String> {
        check_can_match(pattern)?;
        let coverage = coverage_patterns(pattern);
        let written_in_coverage_spelling =
            split_registry(pattern).is_some() && coverage.iter().any(|form| form == pattern);
        if !written_in_coverage_spelling {
            return Err(format!(
                "{pattern:?} is not written fully normalised; a skip pattern must name the registry and repository exactly as the runtime resolves them, so it skips only what it says: write {:?}",
                coverage[0]
            ));
        }
        Ok(SkipPattern {
            glob: WildMatch::new(pattern),
        })
    }

    pub fn skips(&self, image: &CoverageSpellings<'_>) -> bool {
        self.glob.matches(image.coverage_reference())
    }
}

impl Version {
    fn admits(&self, image: &ImageRef) -> bool {
        match self {
            Version::Any => true,
            Version::Tag(tag) => {
                image.digest().is_some() || image.tag().is_none_or(|t| tag.matches(t))
            }
            Version::Digest(digest) => image.digest().is_none_or(|d| digest.matches(d)),
        }
    }
}

/// `repository[:tag]` or `repository@digest`: the tag is after the last `:` of the last path
/// component (a `:` before a `/` is a registry port).
fn split(pattern: &str) -> SplitPattern {
    if let Some((repository, digest)) = pattern.split_once('@') {
        return SplitPattern {
            repository: WildMatch::new(repository),
            version: Version::Digest(WildMatch::new(digest)),
        };
    }
    let last_component = pattern.rfind('/').map_or(0, |slash| slash + 1);
    match pattern[last_component..].rfind(':') {
        Some(colon) => SplitPattern {
            repository: WildMatch::new(&pattern[..last_component + colon]),
            version: Version::Tag(WildMatch::new(&pattern[last_component + colon + 1..])),
        },
        None => SplitPattern {
            repository: WildMatch::new(pattern),
            version: Version::Any,
        },
    }
}

/// Applies the runtime's normalisation and the coverage spelling of registries to a glob: a
/// pattern without a registry host means Docker Hub, a single-component Docker Hub path lives
/// under `library/`, registry aliases become one name. A glob in a single Docker Hub component
/// may span several (`docker.io/*` covers `docker.io/bitnami/redis`), so it gets both forms.
pub fn coverage_patterns(pattern: &str) -> Vec<String> {
    let (registry, rest) = match split_registry(pattern) {
        Some((registry, rest)) => (coverage_registry(registry), rest),
        None => (DOCKER_HUB.to_string(), pattern),
    };
    if registry != DOCKER_HUB || rest.contains('/') {
        return vec![format!("{registry}/{rest}")];
    }
    let official = format!("{DOCKER_HUB}/library/{rest}");
    let repository_part = &rest[..rest.find([':', '@']).unwrap_or(rest.len())];
    if repository_part.contains(['*', '?']) {
        vec![official, format!("{DOCKER_HUB}/{rest}")]
    } else {
        vec![official]
    }
}

/// Refuses a pattern that no valid image reference could match, saying how to fix it.
fn check_can_match(pattern: &str) -> Result<(), String> {
    if pattern.is_empty() {
        return Err("is empty: write a glob such as \"ghcr.io/acme/*\"".to_string());
    }
    if pattern.chars().any(char::is_whitespace) {
        return Err(format!(
            "{pattern:?} has white space, which no image reference has: write {:?}",
            pattern.split_whitespace().collect::<String>()
        ));
    }
    if let Some((_, rest)) = pattern.split_once("://") {
        return Err(format!(
            "{pattern:?} is a URL, which no image reference is: write it without the scheme, {rest:?}"
        ));
    }
    if let Some(bad) = pattern.chars().find(|&c| !is_reference_char(c)) {
        return Err(format!(
            "{pattern:?} has {bad:?}, which no image reference has"
        ));
    }
    if pattern.ends_with('/') {
        return Err(format!(
            "{pattern:?} ends with '/', which no image reference does: write \"{pattern}*\" to cover everything under it"
        ));
    }
    if pattern.contains("//") || pattern.starts_with('/') {
        return Err(format!(
            "{pattern:?} has an empty path component, which no image reference has"
        ));
    }
    if let Some(fixed) = lower_case_repository(pattern) {
        return Err(format!(
            "{pattern:?} has upper case in a repository path, which no image reference has (repository paths are lower case): write {fixed:?}"
        ));
    }
    if let Some((_, digest)) = pattern.split_once('@') {
        let literal = !digest.contains(['*', '?']);
        if literal && !crate::reference::is_well_formed_digest(digest) {
            return Err(format!(
                "{pattern:?}: {digest:?} is not a digest (sha256:<64 hex>), so no image reference matches it"
            ));
        }
    }
    Ok(())
}

/// Letters, digits and the separators of the reference grammar, plus the glob characters.
fn is_reference_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-' | ':' | '/' | '@' | '*' | '?')
}

/// The pattern with its repository path lower-cased, when upper case stands where only a
/// repository path can be: in a path component (a literal `/` follows), or in the last
/// component before anything that could start a tag (`:`, `*`, `?`). The registry host (the
/// first component, when it can be a host) may be upper case: hosts are case-insensitive.
fn lower_case_repository(pattern: &str) -> Option<String> {
    let name_end = pattern.find('@').unwrap_or(pattern.len());
    let name = &pattern[..name_end];
    let components: Vec<&str> = name.split('/').collect();
    let host_first = components.len() > 1
        && (components[0].contains(['.', ':', '*', '?'])
            || components[0].eq_ignore_ascii_case("localhost"));
    let last = components.len() - 1;
    let mut fixed = Vec::with_capacity(components.len());
    let mut changed = false;
    for (i, component) in components.iter().enumerate() {
        let lowered: String = if i == 0 && host_first {
            component.to_string()
        } else if i < last {
            component.to_ascii_lowercase()
        } else {
            // Up to the first character that could begin (or be) the tag.
            let tag_from = component.find([':', '*', '?']).unwrap_or(component.len());
            format!(
                "{}{}",
                component[..tag_from].to_ascii_lowercase(),
                &component[tag_from..]
            )
        };
        changed |= lowered != *component;
        fixed.push(lowered);
    }
    changed.then(|| format!("{}{}", fixed.join("/"), &pattern[name_end..]))
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
    fn canonicalises_patterns_like_references(#[case] pattern: &str, #[case] expected: &str) {
        assert_eq!(coverage_patterns(pattern)[0], expected);
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
    // The bypasses found by spelling an image differently (issue: matching that cannot be escaped).
    #[case("ghcr.io/acme/app:*", &format!("ghcr.io/acme/app@{D}"), true)]
    #[case("docker.io/library/nginx:*", &format!("nginx@{D}"), true)]
    #[case("ghcr.io/acme/app:v1", &format!("ghcr.io/acme/app:v1@{D}"), true)]
    #[case("ghcr.io/acme/app:v1", &format!("ghcr.io/acme/app:v2@{D}"), true)]
    #[case("ghcr.io/acme/app:v1", "ghcr.io/acme/app:v2", false)]
    #[case("nginx:1.27", &format!("nginx:1.27@{D}"), true)]
    #[case("nginx:1.27", &format!("docker.io/library/nginx@{D}"), true)]
    #[case("ghcr.io/acme/app", "ghcr.io/acme/app:latest", true)]
    #[case("ghcr.io/acme/app", "ghcr.io/acme/app:v3", true)]
    #[case("ghcr.io/acme/app", &format!("ghcr.io/acme/app@{D}"), true)]
    #[case("ghcr.io/acme/app", "ghcr.io/acme/app2", false)]
    #[case("nginx", "nginx:latest", true)]
    #[case("nginx", &format!("nginx@{D}"), true)]
    #[case("nginx", "nginx:1.27", true)]
    #[case("DOCKER.IO/*", "bitnami/redis", true)]
    #[case("DOCKER.IO/*", "docker.io/acme/app", true)]
    #[case("index.docker.io/*", "bitnami/redis", true)]
    #[case("index.docker.io/*", "docker.io/acme/app", true)]
    #[case("docker.io/*", "registry-1.docker.io/acme/app", true)]
    #[case("docker.io/*", "registry.hub.docker.com/library/nginx", true)]
    #[case("nginx*", "registry-1.docker.io/library/nginx:1", true)]
    #[case("nginx*", "docker.io:443/library/nginx:1", true)]
    #[case("ghcr.io/acme/*", "ghcr.io:443/acme/app:v1", true)]
    #[case("ghcr.io/acme/*", "GHCR.IO:443/acme/app", true)]
    #[case("ghcr.io/acme/*", "ghcr.io:5000/acme/app", false)]
    #[case("localhost:5000/*", "127.0.0.1:5000/app", true)]
    #[case("127.0.0.1:5000/*", "localhost:5000/app", true)]
    #[case("*:v1", &format!("ghcr.io/acme/app@{D}"), true)]
    #[case(&format!("ghcr.io/acme/app@{D}"), "ghcr.io/acme/app:v1", true)]
    #[case(&format!("ghcr.io/acme/app@{D}"), &format!("ghcr.io/acme/app@{}", D.replace('0', "f")), false)]
    fn covers(#[case] pattern: &str, #[case] image: &str, #[case] expected: bool) {
        let image = ImageRef::parse(image).unwrap();
        assert_eq!(
            ImagePattern::new(pattern).covers(&CoverageSpellings::of(&image)),
            expected,
            "{pattern} vs {image:?}"
        );
    }

    #[rstest]
    #[case(
        "ghcr.io/Acme/*",
        "upper case in a repository path",
        "\"ghcr.io/acme/*\""
    )]
    #[case("Acme/app", "upper case in a repository path", "\"acme/app\"")]
    #[case(
        "ghcr.io/acme/App:V1",
        "upper case in a repository path",
        "\"ghcr.io/acme/app:V1\""
    )]
    #[case(" ghcr.io/acme/*", "white space", "\"ghcr.io/acme/*\"")]
    #[case("ghcr.io/acme/* ", "white space", "\"ghcr.io/acme/*\"")]
    #[case("https://ghcr.io/acme/*", "is a URL", "\"ghcr.io/acme/*\"")]
    #[case("ghcr.io/acme/", "ends with '/'", "\"ghcr.io/acme/*\"")]
    #[case("ghcr.io//app", "empty path component", "")]
    #[case("/app", "empty path component", "")]
    #[case("ghcr.io/acme/[ab]pp", "has '['", "")]
    #[case("ghcr.io/acme/app@latest", "is not a digest", "")]
    #[case("", "is empty", "")]
    fn patterns_no_reference_can_match_are_refused(
        #[case] pattern: &str,
        #[case] problem: &str,
        #[case] suggestion: &str,
    ) {
        let err = ImagePattern::parse(pattern).expect_err(pattern);
        assert!(err.contains(problem), "{err}");
        assert!(
            err.contains(suggestion),
            "{err} should suggest {suggestion}"
        );
    }

    #[rstest]
    #[case("*")]
    #[case("GHCR.IO/acme/*")]
    #[case("ghcr.io/acme/app:V1")]
    #[case("*Acme*")]
    #[case("ghcr.io/acme/app*")]
    #[case("localhost:5000/*")]
    #[case("nginx")]
    #[case("ghcr.io/acme/app@sha256:*")]
    fn patterns_some_reference_can_match_are_accepted(#[case] pattern: &str) {
        assert!(ImagePattern::parse(pattern).is_ok(), "{pattern}");
    }

    #[rstest]
    #[case("docker.io/library/pause:*", "pause:3.9", true)]
    #[case(
        "docker.io/library/pause:*",
        "registry-1.docker.io/library/pause:3.9",
        true
    )]
    #[case("docker.io/library/pause:*", "index.docker.io/pause:3.9", true)]
    #[case("docker.io/library/pause:*", &format!("pause:3.9@{D}"), true)]
    #[case("docker.io/library/pause:*", &format!("pause@{D}"), false)]
    #[case("docker.io/library/pause:*", "pause-evil:3.9", false)]
    #[case("docker.io/library/pause:*", "ghcr.io/library/pause:3.9", false)]
    #[case("docker.io/library/pause:*", "acme/pause:3.9", false)]
    #[case("registry.k8s.io/pause:3.9", "registry.k8s.io/pause:3.9", true)]
    #[case("registry.k8s.io/pause:3.9", "REGISTRY.K8S.IO:443/pause:3.9", true)]
    #[case("registry.k8s.io/pause:3.9", "registry.k8s.io/pause:3.10", false)]
    fn skip_patterns_skip_every_spelling_and_nothing_else(
        #[case] pattern: &str,
        #[case] image: &str,
        #[case] skipped: bool,
    ) {
        let image = ImageRef::parse(image).unwrap();
        assert_eq!(
            SkipPattern::parse(pattern)
                .unwrap()
                .skips(&CoverageSpellings::of(&image)),
            skipped,
            "{pattern} vs {image:?}"
        );
    }

    #[rstest]
    #[case("pause*", "docker.io/library/pause*")]
    #[case("pause:*", "docker.io/library/pause:*")]
    #[case("docker.io/pause:*", "docker.io/library/pause:*")]
    #[case("index.docker.io/library/pause:*", "docker.io/library/pause:*")]
    #[case("REGISTRY.K8S.IO/pause:*", "registry.k8s.io/pause:*")]
    #[case("registry.k8s.io:443/pause:*", "registry.k8s.io/pause:*")]
    #[case("bitnami/*", "docker.io/bitnami/*")]
    fn skip_patterns_must_be_written_normalised(#[case] pattern: &str, #[case] suggestion: &str) {
        let err = SkipPattern::parse(pattern).expect_err(pattern);
        assert!(err.contains(&format!("write {suggestion:?}")), "{err}");
    }
}
