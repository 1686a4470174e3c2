#!/usr/bin/env bats
# customResources: images of resources the policy does not know, found by JSONPath, are
# verified and pinned like container images and reported under their concrete paths.

setup() { load helpers; }

ROLLOUT_PATHS='{"customResources": [{"group": "argoproj.io", "kind": "Rollout", "paths": [
  "$.spec.template.spec.containers[*].image", "$.spec.template.spec.initContainers[*].image"]}]}'

pinned_paths() { patch | jq -r '[.[] | select(.op == "replace") | .path] | sort | join(" ")'; }

@test "an Argo Rollout's images are verified and pinned at the paths its JSONPaths find" {
  evaluate "$(settings_for "$REGISTRY/*" "$(key_a)" '{}' "$ROLLOUT_PATHS")" "$(request rollout_app_and_migrate_images.json)"
  assert_accepted
  [[ "$(pinned_paths)" == "/spec/template/spec/containers/0/image /spec/template/spec/containers/1/image /spec/template/spec/initContainers/0/image" ]] || { echo "pinned: $(pinned_paths)"; return 1; }
  [[ "$(patch | jq -r '[.[] | .value] | unique | join(",")')" == "$IMAGE_SIGNED_A@$DIGEST_SIGNED_A" ]]
}

@test "an unsigned image in a Rollout is rejected, naming its concrete path" {
  evaluate "$(settings_for "$REGISTRY/*" "$(key_a)" '{}' "$ROLLOUT_PATHS")" "$(request rollout_app_and_migrate_images.json "$IMAGE_SIGNED_A" init="$IMAGE_UNSIGNED")"
  assert_rejected
  assert_message_contains "Rollout shop/web: 1 image not verified: spec.template.spec.initContainers[0].image \"$IMAGE_UNSIGNED\" failed signatures[0] (pubKeys)"
}

@test "a Rollout is admitted untouched when customResources does not list it" {
  evaluate "$(settings_for "$REGISTRY/*" "$(key_a)")" "$(request rollout_app_and_migrate_images.json "$IMAGE_UNSIGNED")"
  assert_accepted
  assert_no_patch
}

@test "an invalid JSONPath is refused at load time" {
  local settings
  settings="$(settings_for "$REGISTRY/*" "$(key_a)" '{}' '{"customResources": [{"group": "argoproj.io", "kind": "Rollout", "paths": ["$.spec.containers[?(@.name == '"'"'web'"'"')].image"]}]}')"
  evaluate "$settings" "$(request rollout_app_and_migrate_images.json)"
  [[ "$status" -eq 1 ]]
  [[ "$stderr" == *"customResources[0].paths[0]: \"\$.spec.containers[?(@.name == 'web')].image\" is not a JSONPath the policy reads: unexpected '[' at character 18; supported: "* ]] || { echo "$stderr"; return 1; }
}
