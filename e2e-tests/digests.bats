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

@test "digestPolicy pinPodsOnly leaves a Deployment as written and pins the Pod" {
  local settings
  settings="$(settings_for "$REGISTRY/*" "$(key_a)" '{}' '{"digestPolicy": "pinPodsOnly"}')"
  evaluate "$settings" "$(request deployment_every_image_field.json)"
  assert_accepted
  assert_no_patch
  # The Deployment is still verified: an unsigned image in its template is refused.
  evaluate "$settings" "$(request deployment_every_image_field.json "$IMAGE_SIGNED_A" init="$IMAGE_UNSIGNED")"
  assert_rejected
  assert_message_contains "spec.template.spec.initContainers[0].image \"$IMAGE_UNSIGNED\" failed signatures[0] (pubKeys)"

  evaluate "$settings" "$(request pod_generated_name.json)"
  assert_accepted
  [[ "$(patched_value /spec/containers/0/image)" == "$IMAGE_SIGNED_A@$DIGEST_SIGNED_A" ]]
}

@test "digestPolicy keep verifies without a patch" {
  evaluate "$(settings_for "$REGISTRY/*" "$(key_a)" '{}' '{"digestPolicy": "keep"}')" "$(request pod_generated_name.json)"
  assert_accepted
  assert_no_patch
}

@test "digestPolicy require refuses a tag-only image, naming the digest to write, and admits it written with that digest" {
  local settings
  settings="$(settings_for "$REGISTRY/*" "$(key_a)" '{}' '{"digestPolicy": "require"}')"
  evaluate "$settings" "$(request pod_generated_name.json)"
  assert_rejected
  assert_message_contains "spec.containers[0].image \"$IMAGE_SIGNED_A\": the image must be written with its digest (digestPolicy: require); the verified digest is $DIGEST_SIGNED_A"

  evaluate "$settings" "$(request pod_generated_name.json "$IMAGE_SIGNED_A@$DIGEST_SIGNED_A")"
  assert_accepted
  assert_no_patch

  # The digest written must still be the signed one.
  evaluate "$settings" "$(request pod_generated_name.json "$IMAGE_SIGNED_A@$DIGEST_UNSIGNED")"
  assert_rejected
}

@test "digestPolicy contradicting modifyImagesWithDigest is refused at load time" {
  evaluate "$(settings_for "$REGISTRY/*" "$(key_a)" '{}' '{"digestPolicy": "keep", "modifyImagesWithDigest": true}')" "$(request pod_generated_name.json)"
  [[ "$status" -eq 1 ]]
  [[ "$stderr" == *"digestPolicy: \"keep\" contradicts modifyImagesWithDigest: true"* ]]
}
