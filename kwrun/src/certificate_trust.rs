//! `kubewarden/crypto/v1/is_certificate_trusted`: does a certificate chain to
//! the chain the policy gave, and is it valid at the times asked about.
//!
//! Unlike a cluster's policy server, kwrun has no system trust store (Mozilla
//! roots) to fall back on, so a request without a chain is answered
//! "not trusted" with that reason rather than trusted by accident.

use std::cmp::Ordering;

use chrono::{DateTime, Utc};
use openssl::asn1::{Asn1Time, Asn1TimeRef};
use openssl::stack::Stack;
use openssl::x509::store::X509StoreBuilder;
use openssl::x509::verify::X509VerifyFlags;
use openssl::x509::{X509StoreContext, X509};

use kubewarden_policy_sdk::host_capabilities::crypto::{Certificate, CertificateEncoding};
pub use kubewarden_policy_sdk::host_capabilities::crypto_v1::{
    CertificateVerificationRequest, CertificateVerificationResponse,
};

/// Answers one request; `Err` only when the request itself is malformed.
pub fn is_certificate_trusted(payload: &[u8], now: DateTime<Utc>) -> Result<Vec<u8>, String> {
    let request: CertificateVerificationRequest = serde_json::from_slice(payload)
        .map_err(|e| format!("invalid certificate verification request: {e}"))?;
    let verdict = judge(&request, now)?;
    let response = match verdict {
        Ok(()) => CertificateVerificationResponse {
            trusted: true,
            reason: String::new(),
        },
        Err(reason) => CertificateVerificationResponse {
            trusted: false,
            reason,
        },
    };
    serde_json::to_vec(&response).map_err(|e| e.to_string())
}

/// Outer `Err`: malformed request. Inner `Err`: the reason it is not trusted.
fn judge(
    request: &CertificateVerificationRequest,
    now: DateTime<Utc>,
) -> Result<Result<(), String>, String> {
    let cert = parse(&request.cert).map_err(|e| format!("cert: {e}"))?;
    let chain = request
        .cert_chain
        .iter()
        .flatten()
        .enumerate()
        .map(|(i, c)| parse(c).map_err(|e| format!("cert_chain[{i}]: {e}")))
        .collect::<Result<Vec<X509>, String>>()?;
    let not_after = match request.not_after.as_deref().filter(|s| !s.is_empty()) {
        Some(text) => Some(
            DateTime::parse_from_rfc3339(text)
                .map_err(|e| format!("not_after {text:?} is not an RFC 3339 time: {e}"))?,
        ),
        None => None,
    };
    let now_asn1 = asn1_time(now.timestamp())?;

    if before(&now_asn1, cert.not_before())? {
        return Ok(Err(format!(
            "certificate is not valid before {}",
            cert.not_before()
        )));
    }
    if let Some(not_after) = not_after {
        let required = asn1_time(not_after.timestamp())?;
        if before(cert.not_after(), &required)? {
            return Ok(Err(format!(
                "certificate expires at {}, before the required {not_after}",
                cert.not_after()
            )));
        }
    }
    let Some((root, intermediates)) = chain.split_last() else {
        return Ok(Err(
            "no certificate chain given, and kwrun has no system trust roots to use instead"
                .to_string(),
        ));
    };
    for (i, ca) in chain.iter().enumerate() {
        if before(&now_asn1, ca.not_before())? || before(ca.not_after(), &now_asn1)? {
            return Ok(Err(format!(
                "cert_chain[{i}] is not valid now ({} to {})",
                ca.not_before(),
                ca.not_after()
            )));
        }
    }
    chains_to(&cert, root, intermediates).map_err(|e| format!("openssl: {e}"))
}

/// Verifies signatures from `cert` up to `root` (the only trust anchor)
/// through `intermediates`. Times were checked by the caller against the
/// request's own notion of expiry, so OpenSSL's clock check is off.
fn chains_to(
    cert: &X509,
    root: &X509,
    intermediates: &[X509],
) -> Result<Result<(), String>, openssl::error::ErrorStack> {
    let mut store = X509StoreBuilder::new()?;
    store.add_cert(root.clone())?;
    store.set_flags(X509VerifyFlags::NO_CHECK_TIME)?;
    let store = store.build();
    let mut untrusted = Stack::new()?;
    for intermediate in intermediates {
        untrusted.push(intermediate.clone())?;
    }
    let mut context = X509StoreContext::new()?;
    context.init(&store, cert, &untrusted, |ctx| {
        Ok(if ctx.verify_cert()? {
            Ok(())
        } else {
            Err(format!(
                "certificate does not chain to the given root: {}",
                ctx.error().error_string()
            ))
        })
    })
}

fn parse(cert: &Certificate) -> Result<X509, String> {
    match cert.encoding {
        CertificateEncoding::Pem => X509::from_pem(&cert.data),
        CertificateEncoding::Der => X509::from_der(&cert.data),
    }
    .map_err(|e| format!("cannot parse {:?} certificate: {e}", cert.encoding))
}

fn asn1_time(unix: i64) -> Result<Asn1Time, String> {
    Asn1Time::from_unix(unix).map_err(|e| format!("time {unix} out of range: {e}"))
}

fn before(a: &Asn1TimeRef, b: &Asn1TimeRef) -> Result<bool, String> {
    a.compare(b)
        .map(|o| o == Ordering::Less)
        .map_err(|e| format!("cannot compare certificate times: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use openssl::ec::{EcGroup, EcKey};
    use openssl::hash::MessageDigest;
    use openssl::nid::Nid;
    use openssl::pkey::{PKey, Private};
    use openssl::x509::extension::BasicConstraints;
    use openssl::x509::X509NameBuilder;
    use serde_json::json;

    fn key() -> PKey<Private> {
        let group = EcGroup::from_curve_name(Nid::X9_62_PRIME256V1).unwrap();
        PKey::from_ec_key(EcKey::generate(&group).unwrap()).unwrap()
    }

    /// A certificate for `cn` valid over [from, to] (unix seconds), signed by
    /// `issuer` or self-signed.
    fn cert(
        cn: &str,
        key: &PKey<Private>,
        issuer: Option<(&X509, &PKey<Private>)>,
        ca: bool,
        from: i64,
        to: i64,
    ) -> X509 {
        let mut name = X509NameBuilder::new().unwrap();
        name.append_entry_by_text("CN", cn).unwrap();
        let name = name.build();
        let mut builder = X509::builder().unwrap();
        builder.set_version(2).unwrap();
        builder.set_subject_name(&name).unwrap();
        builder
            .set_issuer_name(issuer.map_or(&name, |(c, _)| c.subject_name()))
            .unwrap();
        builder.set_pubkey(key).unwrap();
        builder
            .set_not_before(&Asn1Time::from_unix(from).unwrap())
            .unwrap();
        builder
            .set_not_after(&Asn1Time::from_unix(to).unwrap())
            .unwrap();
        if ca {
            builder
                .append_extension(BasicConstraints::new().critical().ca().build().unwrap())
                .unwrap();
        }
        builder
            .sign(issuer.map_or(key, |(_, k)| k), MessageDigest::sha256())
            .unwrap();
        builder.build()
    }

    fn pem(cert: &X509) -> serde_json::Value {
        json!({"encoding": "Pem", "data": cert.to_pem().unwrap()})
    }

    /// The SDK always sends `not_after` (null when unset); cases that leave it out get null.
    fn answer(mut request: serde_json::Value, now: i64) -> CertificateVerificationResponse {
        request
            .as_object_mut()
            .unwrap()
            .entry("not_after")
            .or_insert(serde_json::Value::Null);
        let bytes = is_certificate_trusted(
            request.to_string().as_bytes(),
            DateTime::from_timestamp(now, 0).unwrap(),
        )
        .unwrap();
        let value: serde_json::Value = serde_json::from_slice(&bytes).unwrap();
        CertificateVerificationResponse {
            trusted: value["trusted"].as_bool().unwrap(),
            reason: value["reason"].as_str().unwrap().to_string(),
        }
    }

    const DAY: i64 = 86_400;
    const NOW: i64 = 1_750_000_000;

    struct Pki {
        root: X509,
        intermediate: X509,
        leaf: X509,
        other_root: X509,
    }

    fn pki() -> Pki {
        let (root_key, int_key, leaf_key, other_key) = (key(), key(), key(), key());
        let root = cert("root", &root_key, None, true, NOW - DAY, NOW + 100 * DAY);
        let intermediate = cert(
            "intermediate",
            &int_key,
            Some((&root, &root_key)),
            true,
            NOW - DAY,
            NOW + 50 * DAY,
        );
        let leaf = cert(
            "leaf",
            &leaf_key,
            Some((&intermediate, &int_key)),
            false,
            NOW - DAY,
            NOW + 10 * DAY,
        );
        let other_root = cert("other", &other_key, None, true, NOW - DAY, NOW + 100 * DAY);
        Pki {
            root,
            intermediate,
            leaf,
            other_root,
        }
    }

    #[test]
    fn leaf_chaining_through_intermediate_to_root_is_trusted() {
        let p = pki();
        let response = answer(
            json!({"cert": pem(&p.leaf), "cert_chain": [pem(&p.intermediate), pem(&p.root)], "not_after": null}),
            NOW,
        );
        assert_eq!(
            response,
            CertificateVerificationResponse {
                trusted: true,
                reason: String::new()
            }
        );
        let der = json!({"encoding": "Der", "data": p.leaf.to_der().unwrap()});
        assert!(answer(json!({"cert": der, "cert_chain": [pem(&p.intermediate), pem(&p.root)], "not_after": ""}), NOW).trusted);
    }

    #[test]
    fn untrusted_cases_say_why() {
        let p = pki();
        let chain = json!([pem(&p.intermediate), pem(&p.root)]);
        let cases = [
            (
                json!({"cert": pem(&p.leaf), "cert_chain": [pem(&p.intermediate), pem(&p.other_root)]}),
                NOW,
                "does not chain",
            ),
            (
                json!({"cert": pem(&p.leaf), "cert_chain": [pem(&p.root)]}),
                NOW,
                "does not chain",
            ),
            (
                json!({"cert": pem(&p.leaf), "cert_chain": null}),
                NOW,
                "no certificate chain given",
            ),
            (
                json!({"cert": pem(&p.leaf), "cert_chain": chain, "not_after": "2099-01-01T00:00:00Z"}),
                NOW,
                "expires at",
            ),
            (
                json!({"cert": pem(&p.leaf), "cert_chain": chain}),
                NOW - 2 * DAY,
                "not valid before",
            ),
            (
                json!({"cert": pem(&p.leaf), "cert_chain": chain}),
                NOW + 60 * DAY,
                "cert_chain[0] is not valid now",
            ),
        ];
        for (request, now, reason) in cases {
            let response = answer(request.clone(), now);
            assert!(!response.trusted, "{request}");
            assert!(
                response.reason.contains(reason),
                "{} should contain {reason}",
                response.reason
            );
        }
    }

    #[test]
    fn expired_leaf_without_not_after_is_not_checked_for_expiry() {
        let p = pki();
        // The leaf expired at NOW + 10 days; the chain is still valid.
        let response = answer(
            json!({"cert": pem(&p.leaf), "cert_chain": [pem(&p.intermediate), pem(&p.root)]}),
            NOW + 20 * DAY,
        );
        assert!(response.trusted, "{}", response.reason);
    }

    #[test]
    fn malformed_requests_are_errors() {
        let now = DateTime::from_timestamp(NOW, 0).unwrap();
        assert!(is_certificate_trusted(b"{}", now)
            .unwrap_err()
            .contains("invalid certificate verification request"));
        let bad = json!({"cert": {"encoding": "Pem", "data": [1, 2, 3]}, "not_after": null});
        assert!(is_certificate_trusted(bad.to_string().as_bytes(), now)
            .unwrap_err()
            .starts_with("cert: cannot parse"));
        let p = pki();
        let bad_time = json!({"cert": pem(&p.leaf), "not_after": "tomorrow"});
        assert!(is_certificate_trusted(bad_time.to_string().as_bytes(), now)
            .unwrap_err()
            .contains("RFC 3339"));
    }
}
