#!/usr/bin/env bats
# Every workload kind and every image field: containers, init containers, ephemeral containers
# and image volumes are verified and pinned; the rest of the object is left exactly as it was.

setup() { load helpers; }


pinned_paths() { patch | jq -r '[.[] | select(.op == "replace") | .path] | sort | join(" ")'; }

check_kind() {
  local fixture="$1" spec="$2"
  evaluate "$(settings_for "$REGISTRY/*" "$(key_a)")" "$(request "$fixture")"
  assert_accepted
  local expected="$spec/containers/0/image $spec/containers/1/image $spec/containers/2/image $spec/initContainers/0/image $spec/volumes/1/image/reference"
  [[ "$(pinned_paths)" == "$expected" ]] || { echo "pinned: $(pinned_paths)"; return 1; }
  # Only image strings change, each to the signed image at its verified digest.
  [[ "$(patch | jq -r '[.[] | .op] | unique | join(",")')" == "replace" ]]
  [[ "$(patch | jq -r '[.[] | .value] | unique | join(",")')" == "$IMAGE_SIGNED_A@$DIGEST_SIGNED_A" ]]
}

@test "Pod" { check_kind pod_every_image_field.json /spec; }
@test "Pod ephemeral containers (kubectl debug): all verified, only the debug container pinned" {
  evaluate "$(settings_for "$REGISTRY/*" "$(key_a)")" "$(request pod_kubectl_debug_ephemeralcontainers.json)"
  assert_accepted
  [[ "$(pinned_paths)" == "/spec/ephemeralContainers/0/image" ]]
  [[ "$(patched_value /spec/ephemeralContainers/0/image)" == "$IMAGE_SIGNED_A@$DIGEST_SIGNED_A" ]]
}
@test "Deployment" { check_kind deployment_every_image_field.json /spec/template/spec; }
@test "ReplicaSet" { check_kind replicaset_every_image_field.json /spec/template/spec; }
@test "StatefulSet" { check_kind statefulset_every_image_field.json /spec/template/spec; }
@test "DaemonSet" { check_kind daemonset_every_image_field.json /spec/template/spec; }
@test "ReplicationController" { check_kind replicationcontroller_every_image_field.json /spec/template/spec; }
@test "Job" { check_kind job_every_image_field.json /spec/template/spec; }
@test "CronJob" { check_kind cronjob_every_image_field.json /spec/jobTemplate/spec/template/spec; }

@test "a Deployment with one unsigned init container is rejected, naming it" {
  evaluate "$(settings_for "$REGISTRY/*" "$(key_a)")" "$(request deployment_every_image_field.json "$IMAGE_SIGNED_A" init="$IMAGE_UNSIGNED")"
  assert_rejected
  assert_message_contains "Deployment shop/web: 1 image not verified: spec.template.spec.initContainers[0].image \"$IMAGE_UNSIGNED\" failed signatures[0] (pubKeys)"
}

@test "a CronJob with two unsigned images lists both" {
  evaluate "$(settings_for "$REGISTRY/*" "$(key_a)")" "$(request cronjob_every_image_field.json "$IMAGE_SIGNED_A" proxy="$IMAGE_UNSIGNED" model="$IMAGE_SIGNED_B")"
  assert_rejected
  assert_message_contains "CronJob shop/nightly: 2 images not verified: spec.jobTemplate.spec.template.spec.containers[2].image \"$IMAGE_UNSIGNED\""
  assert_message_contains "; spec.jobTemplate.spec.template.spec.volumes[1].image.reference \"$IMAGE_SIGNED_B\" failed signatures[0] (pubKeys)"
}

@test "an unsigned debug container cannot be attached with kubectl debug" {
  evaluate "$(settings_for "$REGISTRY/*" "$(key_a)")" "$(request pod_kubectl_debug_ephemeralcontainers.json debug="$IMAGE_UNSIGNED")"
  assert_rejected
  assert_message_contains "spec.ephemeralContainers[0].image \"$IMAGE_UNSIGNED\""
}

@test "other kinds are admitted untouched" {
  evaluate "$(settings_for "*" "$(key_a)")" "$REQUESTS/service_without_pod_spec.json"
  assert_accepted
  assert_no_patch
}
