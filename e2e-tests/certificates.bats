#!/usr/bin/env bats
# Certificate signatures: the image must be signed with the configured certificate's key, the
# certificate must chain to certificateChain, and a Rekor bundle is required unless switched off.

setup() { load helpers; }

certs() {
  local rekor="${1:-true}" chain="${2:-$CERT_CHAIN_PEM}"
  jq -cn --rawfile cert "$CERT_PEM" --rawfile chain "$chain" --argjson rekor "$rekor" '
    {certificates: [$cert],
     certificateChain: [$chain | split("-----END CERTIFICATE-----")[] | select(test("BEGIN")) | . + "-----END CERTIFICATE-----\n" | sub("^\\s+"; "")],
     requireRekorBundle: $rekor}'
}

@test "certificate with chain and Rekor bundle: admitted and pinned" {
  evaluate "$(settings_for "$REGISTRY/*" "$(certs)")" "$(request pod_generated_name.json "$IMAGE_CERT_BUNDLE")"
  assert_accepted
  [[ "$(patched_value /spec/containers/0/image)" == "$IMAGE_CERT_BUNDLE@$DIGEST_CERT_BUNDLE" ]]
}

@test "certificate without Rekor bundle: rejected when a bundle is required (the default)" {
  evaluate "$(settings_for "$REGISTRY/*" "$(certs true)")" "$(request pod_generated_name.json "$IMAGE_CERT_NO_BUNDLE")"
  assert_rejected
  assert_message_contains "failed signatures[0] (certificates)"
}

@test "certificate without Rekor bundle: admitted when requireRekorBundle is false" {
  evaluate "$(settings_for "$REGISTRY/*" "$(certs false)")" "$(request pod_generated_name.json "$IMAGE_CERT_NO_BUNDLE")"
  assert_accepted
  [[ "$(patched_value /spec/containers/0/image)" == "$IMAGE_CERT_NO_BUNDLE@$DIGEST_CERT_NO_BUNDLE" ]]
}

@test "certificate: an image signed by a key is rejected" {
  evaluate "$(settings_for "$REGISTRY/*" "$(certs false)")" "$(request pod_generated_name.json "$IMAGE_SIGNED_A")"
  assert_rejected
}

@test "certificate not issued by the configured chain: the settings are refused" {
  evaluate "$(settings_for "$REGISTRY/*" "$(certs true "$CERT_UNTRUSTED_CHAIN_PEM")")" "$(request pod_generated_name.json "$IMAGE_CERT_BUNDLE")"
  [[ "$status" -eq 1 ]]
  [[ "$stderr" == *"Provided settings are not valid: "*"signatures[0].certificates[0]: not issued by certificateChain: its issuer is"* ]]
}
