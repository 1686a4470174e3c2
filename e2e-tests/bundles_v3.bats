#!/usr/bin/env bats
# Cosign v3 signatures: what `cosign sign` writes since v3, a Sigstore bundle v0.3 (DSSE
# envelope over an in-toto statement, leaf certificate, log entry with inclusion proof) stored
# as an OCI referrer of the image (here under the sha256-<hex> fallback tag: the local registry
# has no referrers API), beside or instead of the classic .sig layout.
#
# Hosts whose sigstore crate reads only the classic layout (kwctl up to 1.36.0-beta.1, sigstore
# 0.13) cannot verify these: that is probed once per file, and the v3 tests skip with the
# probe's answer. Tests that hold under every host run everywhere.

setup_file() {
  load helpers
  # `request` writes under BATS_TEST_TMPDIR, which only exists inside a test.
  local BATS_TEST_TMPDIR="$BATS_FILE_TMPDIR"
  # A v3-only image, correctly signed by this identity, must be admitted by a host that reads
  # v3 signatures; whether it is decides, not the host's version string.
  evaluate "$(settings_for "$REGISTRY/*" "$(keyless "$KEYLESS_ISSUER" "$KEYLESS_EMAIL")" '{}' "$(fulcio)")" \
    "$(request pod_generated_name.json "$IMAGE_V3_KEYLESS_EMAIL")"
  if [[ "$status" -eq 0 && "$(allowed)" == "true" ]]; then
    export V3_UNREADABLE=""
    return 0
  fi
  local answer
  # The host's own words, without the policy's preamble.
  answer=$(message | head -n1 | sed 's/.*Host error: //' | cut -c1-160)
  [[ -n "$answer" ]] || answer="exit $status: $(head -n1 <<<"$stderr")"
  # kwrun reads v3 signatures: a failed probe there is a bug, never a reason to skip.
  if [[ -z "${KWCTL:-}" ]]; then
    echo "kwrun rejected the correctly v3-signed probe image: $answer" >&2
    return 1
  fi
  export V3_UNREADABLE="this host does not verify cosign v3 (bundle-format) signatures: the v3-signed probe image was rejected ($answer)"
}

setup() { load helpers; }

skip_unless_host_reads_v3() {
  [[ -z "$V3_UNREADABLE" ]] || skip "$V3_UNREADABLE"
}

keyless() { jq -cn --arg i "$1" --arg s "$2" '{keyless: [{issuer: $i, subject: $s}]}'; }
prefix() { jq -cn --arg i "$1" --arg p "$2" '{keylessPrefix: [{issuer: $i, urlPrefix: $p}]}'; }
gha() { jq -cn --arg o "$1" --arg r "$2" '{githubActions: {owner: $o, repo: $r}}'; }

@test "v3 keyless: the exact issuer and email subject admit a v3-only image, pinned" {
  skip_unless_host_reads_v3
  evaluate "$(settings_for "$REGISTRY/*" "$(keyless "$KEYLESS_ISSUER" "$KEYLESS_EMAIL")" '{}' "$(fulcio)")" "$(request pod_generated_name.json "$IMAGE_V3_KEYLESS_EMAIL")"
  assert_accepted
  [[ "$(patched_value /spec/containers/0/image)" == "$IMAGE_V3_KEYLESS_EMAIL@$DIGEST_V3_KEYLESS_EMAIL" ]]
}

@test "v3 keyless: another subject or issuer is rejected" {
  skip_unless_host_reads_v3
  evaluate "$(settings_for "$REGISTRY/*" "$(keyless "$KEYLESS_ISSUER" "mallory@example.com")" '{}' "$(fulcio)")" "$(request pod_generated_name.json "$IMAGE_V3_KEYLESS_EMAIL")"
  assert_rejected
  assert_message_contains "failed signatures[0] (keyless)"
  assert_no_patch
  evaluate "$(settings_for "$REGISTRY/*" "$(keyless "https://other-issuer.test" "$KEYLESS_EMAIL")" '{}' "$(fulcio)")" "$(request pod_generated_name.json "$IMAGE_V3_KEYLESS_EMAIL")"
  assert_rejected
}

@test "v3 keylessPrefix: a subject under the prefix is admitted, pinned; another prefix is rejected" {
  skip_unless_host_reads_v3
  evaluate "$(settings_for "$REGISTRY/*" "$(prefix "$KEYLESS_ISSUER" "$KEYLESS_URL_PREFIX")" '{}' "$(fulcio)")" "$(request pod_generated_name.json "$IMAGE_V3_KEYLESS_URI")"
  assert_accepted
  [[ "$(patched_value /spec/containers/0/image)" == "$IMAGE_V3_KEYLESS_URI@$DIGEST_V3_KEYLESS_URI" ]]
  evaluate "$(settings_for "$REGISTRY/*" "$(prefix "$KEYLESS_ISSUER" "https://github.com/other")" '{}' "$(fulcio)")" "$(request pod_generated_name.json "$IMAGE_V3_KEYLESS_URI")"
  assert_rejected
  assert_message_contains "failed signatures[0] (keylessPrefix)"
}

@test "v3 githubActions: the right owner and repository admit, pinned; another repository is rejected" {
  skip_unless_host_reads_v3
  evaluate "$(settings_for "$REGISTRY/*" "$(gha "$GHA_OWNER" "$GHA_REPO")" '{}' "$(fulcio)")" "$(request pod_generated_name.json "$IMAGE_V3_GHA")"
  assert_accepted
  [[ "$(patched_value /spec/containers/0/image)" == "$IMAGE_V3_GHA@$DIGEST_V3_GHA" ]]
  evaluate "$(settings_for "$REGISTRY/*" "$(gha "$GHA_OWNER" "other")" '{}' "$(fulcio)")" "$(request pod_generated_name.json "$IMAGE_V3_GHA")"
  assert_rejected
  assert_message_contains "failed signatures[0] (githubActions)"
}

@test "v3 annotations: an annotations rule never matches a v3-only signature, and the message says why" {
  skip_unless_host_reads_v3
  evaluate "$(settings_for "$REGISTRY/*" "$(keyless "$KEYLESS_ISSUER" "$KEYLESS_EMAIL")" '{"annotations": {"env": "prod"}}' "$(fulcio)")" "$(request pod_generated_name.json "$IMAGE_V3_KEYLESS_EMAIL")"
  assert_rejected
  assert_message_contains "failed signatures[0] (keyless)"
  assert_no_patch
  # The explanation is the host's; kwrun gives it.
  if [[ -z "${KWCTL:-}" ]]; then
    assert_message_contains "cosign v3 (bundle format) signatures carry no annotations"
    assert_message_contains "cosign sign --new-bundle-format=false"
  fi
}

@test "v3 forgeries: a bundle naming this image with a copied certificate and log entry, or a genuine bundle copied from another image, is rejected" {
  for image in "$IMAGE_V3_FORGED" "$IMAGE_V3_COPIED"; do
    evaluate "$(settings_for "$REGISTRY/*" "$(keyless "$KEYLESS_ISSUER" "$KEYLESS_EMAIL")" '{}' "$(fulcio)")" "$(request pod_generated_name.json "$image")"
    assert_rejected
    assert_message_contains "failed signatures[0] (keyless)"
    assert_no_patch
  done
}

@test "mixed image (classic and v3 signatures): the classic signature admits it under every host" {
  evaluate "$(settings_for "$REGISTRY/*" "$(prefix "$KEYLESS_ISSUER" "$KEYLESS_URL_PREFIX")" '{}' "$(fulcio)")" "$(request pod_generated_name.json "$IMAGE_MIXED")"
  assert_accepted
  [[ "$(patched_value /spec/containers/0/image)" == "$IMAGE_MIXED@$DIGEST_MIXED" ]]
}

@test "mixed image (classic and v3 signatures): the v3 signature admits it too, its classic layers proven" {
  skip_unless_host_reads_v3
  # Only the v3 bundle is by this identity; the policy still proves the classic .sig layers.
  evaluate "$(settings_for "$REGISTRY/*" "$(keyless "$KEYLESS_ISSUER" "$KEYLESS_EMAIL")" '{}' "$(fulcio)")" "$(request pod_generated_name.json "$IMAGE_MIXED")"
  assert_accepted
  [[ "$(patched_value /spec/containers/0/image)" == "$IMAGE_MIXED@$DIGEST_MIXED" ]]
}

@test "mixed image: a forged classic layer beside a genuine v3 signature is rejected under every host" {
  # The host may trust the v3 bundle (kwrun) or the forged layer (kwctl); either way the
  # policy asks the host whether the layer's certificate key signed it, and it did not.
  evaluate "$(settings_for "$REGISTRY/*" "$(keyless "$KEYLESS_ISSUER" "$KEYLESS_EMAIL")" '{}' "$(fulcio)")" "$(request pod_generated_name.json "$IMAGE_MIXED_FORGED_CLASSIC")"
  assert_rejected
  assert_message_contains "failed signatures[0] (keyless)"
  # No reason text is asserted: kwrun trusts the v3 bundle here, so whether its reason for
  # dropping the forged layer reaches the message depends on which question the policy
  # rejects at, not on the host.
  assert_no_patch
}
