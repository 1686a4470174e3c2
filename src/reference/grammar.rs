//! The distribution reference grammar (`[host[:port]/]path[:tag][@digest]`) as the container
//! runtime applies it. The common Rust parser (oci-spec) compiles a large regular expression,
//! which would triple the size of this Wasm module; this recursive-descent form accepts the same
//! language, checked against oci-spec in the tests, and rejects what the runtime rejects.
//!
//! Grammar, from distribution/reference:
//! ```text
//! reference        := name [ ":" tag ] [ "@" digest ]
//! name             := [ domain "/" ] path
//! domain           := domain-component ( "." domain-component )* [ ":" port ]
//! domain-component := [a-zA-Z0-9] | [a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9]
//! path             := path-component ( "/" path-component )*
//! path-component   := [a-z0-9]+ ( separator [a-z0-9]+ )*
//! separator        := "." | "_" | "__" | "-"+
//! tag              := [A-Za-z0-9_][A-Za-z0-9_.-]{0,127}
//! digest           := algorithm ":" hex     (sha256: 64, sha384: 96, sha512: 128 hex digits)
//! ```

pub const NAME_MAX: usize = 255;

/// A syntactically valid reference split into its parts; `registry` is the first path component
/// when the runtime would treat it as a host (it contains `.` or `:`, or is `localhost`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParsedReference<'a> {
    pub registry: Option<&'a str>,
    pub repository: &'a str,
    pub tag: Option<&'a str>,
    pub digest: Option<&'a str>,
}

pub fn parse(reference: &str) -> Result<ParsedReference<'_>, &'static str> {
    if reference.is_empty() {
        return Err("repository name must have at least one component");
    }
    let (name_and_tag, digest) = match reference.split_once('@') {
        Some((left, digest)) => (left, Some(check_digest(digest)?)),
        None => (reference, None),
    };
    // A tag is whatever follows the last `:` that comes after the last `/`; a `:` before it
    // belongs to the registry port.
    let last_slash = name_and_tag.rfind('/').map_or(0, |i| i + 1);
    let (name, tag) = match name_and_tag[last_slash..].rfind(':') {
        Some(i) => {
            let at = last_slash + i;
            (&name_and_tag[..at], Some(&name_and_tag[at + 1..]))
        }
        None => (name_and_tag, None),
    };
    if let Some(tag) = tag {
        if !is_tag(tag) {
            return Err("invalid reference format");
        }
    }
    let (registry, repository) = split_name(name)?;
    if name.len() > NAME_MAX {
        return Err("repository name must not be more than 255 characters");
    }
    Ok(ParsedReference {
        registry,
        repository,
        tag,
        digest,
    })
}

fn split_name(name: &str) -> Result<(Option<&str>, &str), &'static str> {
    if let Some((first, rest)) = name.split_once('/') {
        if is_domain(first) {
            let is_host = first.contains('.') || first.contains(':') || first == "localhost";
            if is_host {
                return if is_path(rest) {
                    Ok((Some(first), rest))
                } else if rest.bytes().any(|b| b.is_ascii_uppercase())
                    && is_path(&rest.to_ascii_lowercase())
                {
                    Err("repository name must be lowercase")
                } else {
                    Err("invalid reference format")
                };
            }
        }
    }
    if is_path(name) {
        Ok((None, name))
    } else if name.bytes().any(|b| b.is_ascii_uppercase())
        && split_name(&name.to_ascii_lowercase()).is_ok()
    {
        Err("repository name must be lowercase")
    } else {
        Err("invalid reference format")
    }
}

fn is_domain(domain: &str) -> bool {
    let (host, port) = match domain.split_once(':') {
        Some((host, port)) => (host, Some(port)),
        None => (domain, None),
    };
    let port_ok = port.is_none_or(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()));
    port_ok && host.split('.').all(is_domain_component)
}

fn is_domain_component(component: &str) -> bool {
    let bytes = component.as_bytes();
    match (bytes.first(), bytes.last()) {
        (Some(first), Some(last)) => {
            first.is_ascii_alphanumeric()
                && last.is_ascii_alphanumeric()
                && bytes
                    .iter()
                    .all(|b| b.is_ascii_alphanumeric() || *b == b'-')
        }
        _ => false,
    }
}

fn is_path(path: &str) -> bool {
    path.split('/').all(is_path_component)
}

fn is_path_component(component: &str) -> bool {
    let lower_alnum = |b: &u8| b.is_ascii_lowercase() || b.is_ascii_digit();
    let bytes = component.as_bytes();
    let mut i = 0;
    let mut expect_alnum = true;
    while i < bytes.len() {
        if lower_alnum(&bytes[i]) {
            while i < bytes.len() && lower_alnum(&bytes[i]) {
                i += 1;
            }
            expect_alnum = false;
            continue;
        }
        if expect_alnum {
            return false;
        }
        let start = i;
        while i < bytes.len() && !lower_alnum(&bytes[i]) {
            i += 1;
        }
        let separator = &component[start..i];
        let valid = matches!(separator, "." | "_" | "__") || separator.bytes().all(|b| b == b'-');
        if !valid {
            return false;
        }
        expect_alnum = true;
    }
    !expect_alnum
}

fn is_tag(tag: &str) -> bool {
    let word = |b: u8| b.is_ascii_alphanumeric() || b == b'_';
    let bytes = tag.as_bytes();
    !bytes.is_empty()
        && bytes.len() <= 128
        && word(bytes[0])
        && bytes.iter().all(|&b| word(b) || b == b'.' || b == b'-')
}

fn check_digest(digest: &str) -> Result<&str, &'static str> {
    let (algorithm, hex) = digest.split_once(':').ok_or("invalid reference format")?;
    let algorithm_ok = !algorithm.is_empty()
        && algorithm.split(['+', '.', '-', '_']).all(|part| {
            part.as_bytes().first().is_some_and(u8::is_ascii_alphabetic)
                && part.bytes().all(|b| b.is_ascii_alphanumeric())
        });
    if !algorithm_ok || hex.len() < 32 || !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err("invalid reference format");
    }
    let expected = match algorithm {
        "sha256" => 64,
        "sha384" => 96,
        "sha512" => 128,
        _ => return Err("unsupported digest algorithm"),
    };
    if hex.len() != expected {
        return Err("invalid checksum digest length");
    }
    Ok(digest)
}

#[cfg(test)]
mod tests {
    use super::*;
    use oci_spec::distribution::Reference;

    /// References the runtime accepts and oci-spec parses identically.
    const VALID: &[&str] = &[
        "busybox", "test.com:tag", "test.com:5000", "test.com/repo:tag", "test:5000/repo",
        "test:5000/repo:tag", "lowercase:Uppercase", "sub-dom1.foo.com/bar/baz/quux",
        "sub-dom1.foo.com/bar/baz/quux:some-long-tag", "b.gcr.io/test.example.com/my-app:test.example.com",
        "xn--n3h.com/myimage:xn--n3h.com", "foo_bar.com:8080", "foo/foo_bar.com:8080", "opensuse/leap:15.3",
        "a/b__c", "a/b---c", "a.b/c.d_e-f", "localhost/app", "localhost:5000/app:v1", "127.0.0.1:5000/app",
        "UPPER.EXAMPLE.COM/app", "a", "a:_", "a:v1.2-3_4",
        "test:5000/repo@sha256:ffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff",
        "test:5000/repo:tag@sha256:ffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff",
        "r@sha512:ffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff",
    ];

    /// Strings both parsers refuse.
    const INVALID: &[&str] = &[
        "", ":", "/", "a/", "/a", "a//b", "a:", "a@", "-a", "a-", "a.", "a..b", "a___b", "a/_b", "a:-tag",
        "a:.tag", "http://a/b", "a b", "a\tb", "a/b:t:u", "@sha256:ffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff",
        "a@sha256:fff", "a@sha256:gggggggggggggggggggggggggggggggggggggggggggggggggggggggggggggggg",
        "a@md5:ffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff",
        "a@sha256:ffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff", "-host.com/a", "host-.com/a",
        "host.com:/a", "host.com:x/a", "[::1]:5000/a", "a:ttttttttttttttttttttttttttttttttttttttttttttttttttttttttttttttttttttttttttttttttttttttttttttttttttttttttttttttttttttttttttttttttttttt",
    ];

    fn oracle(reference: &str) -> Option<(String, String, Option<String>, Option<String>)> {
        let r = Reference::try_from(reference).ok()?;
        Some((
            r.registry().to_string(),
            r.repository().to_string(),
            r.tag().map(str::to_string),
            r.digest().map(str::to_string),
        ))
    }

    fn ours(reference: &str) -> Option<(String, String, Option<String>, Option<String>)> {
        let p = parse(reference).ok()?;
        // Apply oci-spec's Docker Hub defaulting so the two can be compared field by field.
        let (registry, repository) = match p.registry {
            Some("index.docker.io") | Some("docker.io") | None if !p.repository.contains('/') => (
                p.registry.unwrap_or("docker.io"),
                format!("library/{}", p.repository),
            ),
            registry => (registry.unwrap_or("docker.io"), p.repository.to_string()),
        };
        let registry = if registry == "index.docker.io" {
            "docker.io"
        } else {
            registry
        };
        let tag = match (p.tag, p.digest) {
            (None, None) => Some("latest".to_string()),
            (t, _) => t.map(str::to_string),
        };
        Some((
            registry.to_string(),
            repository,
            tag,
            p.digest.map(str::to_string),
        ))
    }

    #[test]
    fn agrees_with_oci_spec_on_valid_references() {
        for reference in VALID {
            assert!(oracle(reference).is_some(), "oracle rejects {reference:?}");
            assert_eq!(ours(reference), oracle(reference), "{reference:?}");
        }
    }

    #[test]
    fn agrees_with_oci_spec_on_invalid_references() {
        for reference in INVALID {
            assert_eq!(oracle(reference), None, "oracle accepts {reference:?}");
            assert_eq!(parse(reference).ok(), None, "we accept {reference:?}");
        }
    }

    #[test]
    fn is_stricter_than_oci_spec_where_the_runtime_is() {
        // oci-spec accepts a registry-less upper-case first component as a Docker Hub namespace;
        // the runtime refuses upper-case repository names.
        assert!(oracle("Library/nginx").is_some());
        assert_eq!(
            parse("Library/nginx"),
            Err("repository name must be lowercase")
        );
        assert_eq!(parse("NGINX"), Err("repository name must be lowercase"));
        assert_eq!(
            parse("ghcr.io/Acme/app"),
            Err("repository name must be lowercase")
        );
    }

    #[test]
    fn agrees_on_generated_strings() {
        // Every string of up to four symbols over an alphabet that exercises each rule.
        let alphabet = ["a", "B", "0", ".", "-", "_", "/", ":", "h.c", "5"];
        let mut cases = vec![String::new()];
        for _ in 0..4 {
            let next: Vec<String> = cases
                .iter()
                .flat_map(|c| alphabet.iter().map(move |a| format!("{c}{a}")))
                .collect();
            cases.extend(next);
        }
        cases.sort();
        cases.dedup();
        for reference in &cases {
            let (ours, theirs) = (ours(reference), oracle(reference));
            // Where oci-spec accepts an upper-case repository we refuse (see above); otherwise equal.
            if theirs
                .as_ref()
                .is_some_and(|(_, repo, _, _)| repo.bytes().any(|b| b.is_ascii_uppercase()))
            {
                assert_eq!(ours, None, "{reference:?}");
            } else {
                assert_eq!(ours, theirs, "{reference:?}");
            }
        }
    }
}
