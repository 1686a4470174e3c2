#!/usr/bin/env bats
# A registry that answers the host and the policy differently (issue 17, finding 2): anyone who
# may create Pods and runs a registry a broad rule covers has that control. The proxy in front
# of the fixture registry shows the split-view image's signature tag as view A (a certificate
# and bundle copied from KEYLESS_EMAIL's genuine signature, a garbage signature over a payload
# naming this image) until A's payload has been fetched, then as view B (KEYLESS_EMAIL's genuine
# layer, copied whole: it names another image). Whichever view a reader gets, no layer that
# the certificate's key signed names this image.

setup_file() {
  load helpers
  start_split_view_proxy
}

teardown_file() {
  load helpers
  stop_split_view_proxy
}

setup() {
  load helpers
  reset_split_view_proxy
}

keyless() { jq -cn --arg i "$KEYLESS_ISSUER" --arg s "$KEYLESS_EMAIL" '{keyless: [{issuer: $i, subject: $s}]}'; }

# manifest_digest URL [METHOD]: the Docker-Content-Digest the registry at URL answers.
manifest_digest() {
  curl -fsS --max-time 5 -o /dev/null -D - -X "${2:-GET}" \
    -H "Accept: application/vnd.oci.image.manifest.v1+json" "$1" |
    tr -d '\r' | sed -n 's/^[Dd]ocker-[Cc]ontent-[Dd]igest: //p'
}

@test "the proxy shows view A until A's payload is fetched, then view B, on HEAD and GET" {
  local sig_tag="sha256-${DIGEST_SPLIT_VIEW#sha256:}.sig"
  local view_a view_b
  view_a=$(manifest_digest "http://$REGISTRY/v2/$SPLIT_VIEW_REPOSITORY/manifests/$SPLIT_VIEW_TAG_A")
  view_b=$(manifest_digest "http://$REGISTRY/v2/$SPLIT_VIEW_REPOSITORY/manifests/$SPLIT_VIEW_TAG_B")
  [[ -n "$view_a" && -n "$view_b" && "$view_a" != "$view_b" ]]
  # The registry itself holds no signature for the image.
  if curl -fsS --max-time 5 -o /dev/null "http://$REGISTRY/v2/$SPLIT_VIEW_REPOSITORY/manifests/$sig_tag" 2>/dev/null; then
    echo "the registry serves $sig_tag itself"
    return 1
  fi

  local sig_url="http://$SPLIT_VIEW_PROXY/v2/$SPLIT_VIEW_REPOSITORY/manifests/$sig_tag"
  [[ "$(manifest_digest "$sig_url" HEAD)" == "$view_a" ]]
  [[ "$(manifest_digest "$sig_url")" == "$view_a" ]]
  [[ "$(split_view_state)" == "A" ]]
  local payload
  payload=$(curl -fsS --max-time 5 -H "Accept: application/vnd.oci.image.manifest.v1+json" "$sig_url" | jq -r '.layers[0].digest')
  curl -fsS --max-time 5 -o /dev/null "http://$SPLIT_VIEW_PROXY/v2/$SPLIT_VIEW_REPOSITORY/blobs/$payload"
  [[ "$(split_view_state)" == "B" ]]
  [[ "$(manifest_digest "$sig_url" HEAD)" == "$view_b" ]]
  [[ "$(manifest_digest "$sig_url")" == "$view_b" ]]
  # The body served is view B's, byte for byte.
  [[ "sha256:$(curl -fsS --max-time 5 -H "Accept: application/vnd.oci.image.manifest.v1+json" "$sig_url" | sha256sum | cut -d' ' -f1)" == "$view_b" ]]
}

@test "split view: a keyless rule covering the lying registry rejects the image" {
  evaluate "$(settings_for "$SPLIT_VIEW_PROXY/*" "$(keyless)" '{}' "$(fulcio)")" "$(request pod_generated_name.json "$IMAGE_SPLIT_VIEW")"
  assert_rejected
  assert_message_contains "failed signatures[0] (keyless)"
  assert_no_patch
  # The host was shown view A and fetched its payload: the attack really ran.
  [[ "$(split_view_state)" == "B" ]]
}

@test "split view: the same proxy passes a genuinely signed image through, admitted and pinned" {
  local image="$SPLIT_VIEW_PROXY/keyless-email:v1"
  evaluate "$(settings_for "$SPLIT_VIEW_PROXY/*" "$(keyless)" '{}' "$(fulcio)")" "$(request pod_generated_name.json "$image")"
  assert_accepted
  [[ "$(patched_value /spec/containers/0/image)" == "$image@$DIGEST_KEYLESS_EMAIL" ]]
}
