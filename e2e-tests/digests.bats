#!/usr/bin/env bats
# Digests: the pin is always the digest that was verified; an existing pin must match it.

setup() { load helpers; }


@test "with modifyImagesWithDigest false a signed image is admitted without a patch" {
  evaluate "$(settings_for "$REGISTRY/*" "$(key_a)" '{}' '{"modifyImagesWithDigest": false}')" "$(request pod_generated_name.json)"
  assert_accepted
  assert_no_patch
}

@test "an image already pinned to its verified digest is admitted unchanged" {
  evaluate "$(settings_for "$REGISTRY/*" "$(key_a)")" "$(request pod_generated_name.json "$IMAGE_SIGNED_A@$DIGEST_SIGNED_A")"
  assert_accepted
  assert_no_patch
}

@test "an image pinned to a digest other than the signed one is rejected" {
  # The tag is signed, but the pin names another image's digest.
  evaluate "$(settings_for "$REGISTRY/*" "$(key_a)")" "$(request pod_generated_name.json "$IMAGE_SIGNED_A@$DIGEST_UNSIGNED")"
  assert_rejected
  assert_message_contains "\"$IMAGE_SIGNED_A@$DIGEST_UNSIGNED\""
}

@test "a tag moved to an unsigned image after signing is rejected" {
  evaluate "$(settings_for "$REGISTRY/*" "$(key_a)")" "$(request pod_generated_name.json "$IMAGE_MOVED")"
  assert_rejected
  assert_message_contains "\"$IMAGE_MOVED\" failed signatures[0] (pubKeys)"
}

@test "the moved tag pinned to the digest that was signed is admitted as is" {
  evaluate "$(settings_for "$REGISTRY/*" "$(key_a)")" "$(request pod_generated_name.json "$IMAGE_MOVED@$DIGEST_MOVED_ORIGINAL")"
  assert_accepted
  assert_no_patch
}

@test "a multi-arch image is verified and pinned to its index digest" {
  evaluate "$(settings_for "$REGISTRY/*" "$(key_a)")" "$(request pod_generated_name.json "$IMAGE_MULTIARCH")"
  assert_accepted
  [[ "$(patched_value /spec/containers/0/image)" == "$IMAGE_MULTIARCH@$DIGEST_MULTIARCH" ]]
}
