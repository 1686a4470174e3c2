//! `keylessPrefix`: a Fulcio certificate with this OIDC issuer and a subject URL under a prefix.

use serde_json::Value;

use super::keyless::required_string;
use super::{FollowUp, SignerKind, ValueSigner};
use crate::deploy::signers::certificate_identity::IdentityMatch;
use crate::deploy::strict_fields::{list, string, Fields, SettingsErrors};
use crate::host::{KeylessPrefixIdentity, SignerConstraint};

#[derive(Debug, Clone)]
pub struct KeylessPrefix {
    identities: Vec<KeylessPrefixIdentity>,
}

impl ValueSigner for KeylessPrefix {
    const KEY: &'static str = "keylessPrefix";
    const FORM_NAME: &'static str = "KeylessPrefix";
    /// `url_prefix`, the established policy's spelling, is accepted too but not advertised.
    const INNER_KEYS: &'static [&'static str] = &["issuer", "urlPrefix"];

    fn parse(value: &Value, path: &str, errors: &mut SettingsErrors) -> Option<Self> {
        let identities = list(value, path, errors, |v, p, e| {
            let mut fields = Fields::of(v, p, e)?;
            let issuer = required_string(&mut fields, "issuer", e);
            let url_prefix = url_prefix(&mut fields, e);
            fields.finish(Self::INNER_KEYS, e);
            Some(KeylessPrefixIdentity {
                issuer: issuer?,
                url_prefix: url_prefix?,
            })
        })?;
        Some(KeylessPrefix { identities })
    }
}

impl SignerKind for KeylessPrefix {
    fn key(&self) -> &'static str {
        Self::KEY
    }

    fn constraints(&self) -> Vec<SignerConstraint<'_>> {
        vec![SignerConstraint::KeylessPrefix(&self.identities)]
    }

    fn each_signer(&self) -> Option<Vec<SignerConstraint<'_>>> {
        Some(
            self.identities
                .iter()
                .map(|identity| SignerConstraint::KeylessPrefix(std::slice::from_ref(identity)))
                .collect(),
        )
    }

    /// The same issuer, and URL prefixes one of which contains the other.
    fn one_signature_satisfies_both(&self, earlier: usize, later: usize) -> bool {
        let (a, b) = (&self.identities[earlier], &self.identities[later]);
        a.issuer == b.issuer
            && (a.url_prefix.starts_with(&b.url_prefix) || b.url_prefix.starts_with(&a.url_prefix))
    }

    fn follow_up<'a>(&'a self, constraint: &SignerConstraint<'a>) -> Option<FollowUp<'a>> {
        match *constraint {
            SignerConstraint::KeylessPrefix(identities) => Some(FollowUp::KeylessSigners(
                identities.iter().map(IdentityMatch::prefix).collect(),
            )),
            _ => None,
        }
    }

    fn is_keyless(&self) -> bool {
        true
    }
}

/// The established policy documents `urlPrefix` but parses only `url_prefix`; both spellings are
/// accepted so existing settings keep working, and giving both is ambiguous.
fn url_prefix(fields: &mut Fields<'_>, errors: &mut SettingsErrors) -> Option<String> {
    let camel = fields.take("urlPrefix");
    let snake = fields.take("url_prefix");
    let (key, value) = match (camel, snake) {
        (Some(_), Some(_)) => {
            errors.add(fields.path(), "give urlPrefix or url_prefix, not both");
            return None;
        }
        (Some(v), None) => ("urlPrefix", v),
        (None, Some(v)) => ("url_prefix", v),
        (None, None) => {
            errors.add(fields.path_of("urlPrefix"), "is required");
            return None;
        }
    };
    let path = fields.path_of(key);
    let prefix = string(value, &path, errors)?;
    match check_https_url(&prefix) {
        Ok(()) => Some(prefix),
        Err(problem) => {
            errors.add(path, format!("{prefix:?} {problem}"));
            None
        }
    }
}

/// Kubewarden hosts parse the prefix as a URL and fail hard on a bad one, so it is checked here.
/// This accepts a conservative subset of absolute https URLs (ASCII host, optional port, plain
/// path); the tests check that the `url` crate hosts use parses everything accepted here.
fn check_https_url(prefix: &str) -> Result<(), &'static str> {
    const NOT_HTTPS: &str = "is not an absolute https URL";
    let rest = prefix.strip_prefix("https://").ok_or(NOT_HTTPS)?;
    let (authority, path) = match rest.find('/') {
        Some(i) => rest.split_at(i),
        None => (rest, ""),
    };
    if authority.contains('@') || path.contains(['?', '#']) {
        return Err("must not carry a query, fragment or user name");
    }
    let (host, port) = match authority.rsplit_once(':') {
        Some((host, port)) => (host, Some(port)),
        None => (authority, None),
    };
    if host.is_empty() {
        return Err(NOT_HTTPS);
    }
    let label_ok = |label: &str| {
        !label.is_empty()
            && !label.starts_with('-')
            && !label.ends_with('-')
            && label
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-')
    };
    if !host.split('.').all(label_ok) {
        return Err("has an invalid host name");
    }
    if port.is_some_and(|p| p.parse::<u16>().is_err() || p.starts_with('+')) {
        return Err("has an invalid port");
    }
    let path_ok = path
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b"-._~!$&'()*+,;=:@/%".contains(&b));
    if !path_ok {
        return Err("has characters that must be percent-encoded");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use rstest::rstest;

    #[rstest]
    #[case("https://github.com/acme", Ok(()))]
    #[case("https://github.com/acme/", Ok(()))]
    #[case("https://example.com", Ok(()))]
    #[case("gh.com/x", Err("is not an absolute https URL"))]
    #[case("http://github.com/acme", Err("is not an absolute https URL"))]
    #[case("https://", Err("is not an absolute https URL"))]
    #[case(
        "https://github.com/acme?x=1",
        Err("must not carry a query, fragment or user name")
    )]
    #[case(
        "https://github.com/acme#x",
        Err("must not carry a query, fragment or user name")
    )]
    #[case(
        "https://u@github.com/acme",
        Err("must not carry a query, fragment or user name")
    )]
    #[case("https://git hub.com/acme", Err("has an invalid host name"))]
    #[case("https://-x.com/acme", Err("has an invalid host name"))]
    #[case("https://github.com:99999/acme", Err("has an invalid port"))]
    #[case("https://github.com:8443/acme", Ok(()))]
    #[case(
        "https://github.com/ac me",
        Err("has characters that must be percent-encoded")
    )]
    #[case("https://github.com/acme%20x", Ok(()))]
    #[case("HTTPS://github.com/acme", Err("is not an absolute https URL"))]
    fn url_prefix_must_be_absolute_https(#[case] prefix: &str, #[case] expected: Result<(), &str>) {
        assert_eq!(check_https_url(prefix), expected);
    }

    #[test]
    fn every_accepted_prefix_parses_as_an_https_url() {
        let hosts = [
            "github.com",
            "a.b-c.example",
            "gitlab.example.com:8443",
            "h",
        ];
        let paths = [
            "",
            "/",
            "/acme",
            "/acme/",
            "/a~b/c.d_e",
            "/%41x",
            "/a:b@c",
            "/a(b)!$&'*+,;=",
        ];
        for host in hosts {
            for path in paths {
                let prefix = format!("https://{host}{path}");
                assert_eq!(check_https_url(&prefix), Ok(()), "{prefix}");
                let parsed = url::Url::parse(&prefix).unwrap_or_else(|e| panic!("{prefix}: {e}"));
                assert_eq!(parsed.scheme(), "https");
                assert!(parsed.host_str().is_some());
            }
        }
    }
}
