#!/usr/bin/env bats
# The policy shipped as Kubewarden policies ship: the annotated module pushed to a registry with
# `kwctl push`, signed there (keyless by the release workflow, and by key A) with the fixture
# signer, and loaded by policy-server as `registry://…` only when a verification config
# (`--verification-path`) finds the signature it requires; `kwctl pull` and `kwctl verify` check
# the same. An unsigned module and one re-pushed over the signed tag are refused.

# shellcheck disable=SC2154 # $stderr, like $output and $status, is set by bats' run and policy_server_refuses

bats_require_minimum_version 1.5.0

# kwctl_at VERSION: the shared kwctl build of that version (../shared/tools).
kwctl_at() { echo "$REPO_ROOT/../shared/tools/kwctl/$1/kwctl"; }

# kwctl ARGS...: the kwctl that pushes and annotates ($KWCTL_PUSH, default 1.36.0-beta.1: `push`
# needs `--sources-path` for the plain-HTTP registry), writing its store and caches in this
# file's temporary directory; no backtraces in its errors.
kwctl() { kwctl_with "$KWCTL_PUSH" "$@"; }
kwctl_with() {
  local binary="$1"
  shift
  env -u RUST_BACKTRACE HOME="$BATS_FILE_TMPDIR/home" XDG_CACHE_HOME="$BATS_FILE_TMPDIR/home/.cache" \
    "$binary" "$@"
}

# push MODULE TAG: `kwctl push` to $POLICY_REPOSITORY:TAG; prints the manifest digest.
push() {
  kwctl push --sources-path "$SOURCES_PATH" -o json "$1" "registry://$REGISTRY/$POLICY_REPOSITORY:$2" |
    jq -r '.immutable_ref | split("@")[1]'
}

# rebuilt MODULE USAGE_TEXT: the module annotated again with another usage text (new bytes, the
# same policy), as a rebuild that nobody signed would be.
rebuilt() {
  local usage="$BATS_FILE_TMPDIR/usage-$2.md" out="$BATS_FILE_TMPDIR/$2.wasm"
  echo "$2" >"$usage"
  kwctl annotate -m "$REPO_ROOT/metadata.yml" -u "$usage" -o "$out" "$POLICY" >/dev/null 2>&1
  echo "$out"
}

# Kubewarden verification configs (policy-fetcher's VerificationConfigV1, the file
# policy-server's --verification-path and kwctl's --verification-config-path read).
requires_key_a() {
  jq -n --rawfile key "$KEY_A_PUB" '{apiVersion: "v1", allOf: [{kind: "pubKey", key: $key}]}'
}
# requires_release_workflow [REPO]: the README's config: signed keyless by a GitHub Actions
# workflow of $RELEASE_OWNER/REPO (default: the release repository), and by its release
# workflow at a tag (RELEASE_WORKFLOW is release.yml@refs/tags/v0.1.0).
requires_release_workflow() {
  jq -n --arg owner "$RELEASE_OWNER" --arg repo "${1:-$RELEASE_REPO}" --arg issuer "$GHA_ISSUER" \
    --arg prefix "https://github.com/$RELEASE_OWNER/${1:-$RELEASE_REPO}/.github/workflows/release.yml@refs/tags" \
    '{apiVersion: "v1", allOf: [
      {kind: "githubAction", owner: $owner, repo: $repo},
      {kind: "genericIssuer", issuer: $issuer, subject: {urlPrefix: $prefix}}]}'
}
# verification_file NAME JSON: the config as a file (JSON is YAML); prints its path.
verification_file() {
  local file="$BATS_FILE_TMPDIR/verification-$1.yml"
  echo "$2" >"$file"
  echo "$file"
}

# fixture_signer: the binary fixtures/up ran (FIXTURE_SIGNER, or the workspace's host build).
fixture_signer() {
  [[ -z "${FIXTURE_SIGNER:-}" ]] || { echo "$FIXTURE_SIGNER"; return 0; }
  echo "$(cd "$REPO_ROOT" && cargo metadata --format-version 1 --no-deps | jq -r .target_directory)/host/fixture-signer"
}

# served TAG: policies.yml serving $POLICY_REPOSITORY:TAG as policy `signed`, key A for images.
served() {
  policies_file "$(policy_entry signed "$(settings_for "$REGISTRY/*" "$(key_a)")" \
    "registry://$REGISTRY/$POLICY_REPOSITORY:$1")"
}

setup_file() {
  load ../helpers
  load policy_server
  require_policy_server
  [[ -z "${POLICY_SERVER_MISSING:-}" ]] || return 0
  export KWCTL_PUSH="${KWCTL_PUSH:-$(kwctl_at 1.36.0-beta.1)}"
  [[ -x "$KWCTL_PUSH" ]] || { echo "no kwctl at $KWCTL_PUSH (set KWCTL_PUSH)" >&2; return 1; }
  # A repository of its own per run: signatures follow digests, and the fixture registry may
  # outlive this run (fixtures/up reuses it).
  POLICY_REPOSITORY="policies/verify-image-signatures-$(date +%s)-$$"
  export POLICY_REPOSITORY
  local signed unsigned
  signed=$(push "$POLICY" v0.1.0)
  # What a release pipeline does after pushing: sign the pushed digest, keyless by the
  # release workflow and with the project's key.
  "$(fixture_signer)" sign --registry "$REGISTRY" --repository "$POLICY_REPOSITORY" \
    --digest "$signed" --out "$FIXTURES_DIR" --keyless --key A
  # The same signed bytes under a tag that is re-pushed later (the re-push test).
  [[ "$(push "$POLICY" overwritten)" == "$signed" ]]
  unsigned=$(push "$(rebuilt "$POLICY" "an-unsigned-build")" unsigned)
  [[ "$unsigned" != "$signed" ]]
  export SIGNED_DIGEST="$signed"
  verification_file key-a "$(requires_key_a)" >/dev/null
  verification_file release-workflow "$(requires_release_workflow)" >/dev/null
  verification_file other-repo "$(requires_release_workflow app)" >/dev/null
}

setup() {
  load ../helpers
  load policy_server
  skip_without_policy_server
}

teardown() {
  policy_server_log_on_failure
  policy_server_stop
}

# assert_loads_and_judges VERIFICATION_CONFIG: a server verifying the policy's own signature with
# it loads the signed module from the registry and admits a signed Pod (pinned) and rejects an
# unsigned one, as with the file:// module.
assert_loads_and_judges() {
  policy_server_start "$(served v0.1.0)" "$1"
  validate signed "$(request pod_generated_name.json)"
  assert_accepted
  [[ "$(patched_value /spec/containers/0/image)" == "$IMAGE_SIGNED_A@$DIGEST_SIGNED_A" ]] || { echo "patch: $(patch)"; return 1; }
  validate signed "$(request pod_generated_name.json "$IMAGE_UNSIGNED")"
  assert_rejected
  assert_message_contains "$IMAGE_UNSIGNED"
  assert_no_patch
  policy_server_stop
}

# assert_refused_at_start TAG VERIFICATION_CONFIG: policy-server exits 1 before serving, saying
# why in its own words.
assert_refused_at_start() {
  policy_server_refuses "$(served "$1")" "$2"
  [[ "$status" -eq 1 ]] || { echo "exit $status: $stderr"; return 1; }
  [[ "$stderr" == *"Error: Policy 'signed' cannot be verified: "* ]] || { echo "$stderr"; return 1; }
}

@test "policy-server loads the module signed with key A from the registry when its config requires key A, and judges as before" {
  assert_loads_and_judges "$BATS_FILE_TMPDIR/verification-key-a.yml"
}

@test "policy-server loads the module signed keyless by the release workflow when its config requires that GitHub Actions identity" {
  assert_loads_and_judges "$BATS_FILE_TMPDIR/verification-release-workflow.yml"
}

@test "policy-server refuses at start a module nobody signed" {
  for config in key-a release-workflow; do
    assert_refused_at_start unsigned "$BATS_FILE_TMPDIR/verification-$config.yml"
    [[ "$stderr" == *"no signatures found for image: $REGISTRY/$POLICY_REPOSITORY:unsigned"* ]] || { echo "$stderr"; return 1; }
  done
}

@test "policy-server refuses at start the signed module when the config requires a workflow of another repository" {
  assert_refused_at_start v0.1.0 "$BATS_FILE_TMPDIR/verification-other-repo.yml"
  [[ "$stderr" == *"Image verification failed: missing signatures"* ]] || { echo "$stderr"; return 1; }
}

@test "kwctl pull and kwctl verify (1.31.0 and 1.36.0-beta.1) accept the signed module and refuse the unsigned one" {
  local version binary pulled
  for version in 1.31.0 1.36.0-beta.1; do
    binary=$(kwctl_at "$version")
    [[ -x "$binary" ]] || { echo "no kwctl at $binary"; return 1; }
    for config in key-a release-workflow; do
      run -0 kwctl_with "$binary" verify --sources-path "$SOURCES_PATH" --sigstore-trust-config "$TRUST_CONFIG" \
        --verification-config-path "$BATS_FILE_TMPDIR/verification-$config.yml" "registry://$REGISTRY/$POLICY_REPOSITORY:v0.1.0"
      pulled="$BATS_TEST_TMPDIR/pulled-$version-$config.wasm"
      run -0 kwctl_with "$binary" pull --sources-path "$SOURCES_PATH" --sigstore-trust-config "$TRUST_CONFIG" \
        --verification-config-path "$BATS_FILE_TMPDIR/verification-$config.yml" -o "$pulled" \
        "registry://$REGISTRY/$POLICY_REPOSITORY:v0.1.0"
      cmp "$pulled" "$POLICY"
      for command in verify "pull -o $BATS_TEST_TMPDIR/refused.wasm"; do
        # shellcheck disable=SC2086 # the command and its output flag, split on purpose
        run -1 --separate-stderr kwctl_with "$binary" $command --sources-path "$SOURCES_PATH" --sigstore-trust-config "$TRUST_CONFIG" \
          --verification-config-path "$BATS_FILE_TMPDIR/verification-$config.yml" \
          "registry://$REGISTRY/$POLICY_REPOSITORY:unsigned"
        [[ "$stderr" == *"cannot be validated"*"no signatures found for image: $REGISTRY/$POLICY_REPOSITORY:unsigned"* ]] || { echo "$version $command: $stderr"; return 1; }
        [[ ! -e "$BATS_TEST_TMPDIR/refused.wasm" ]]
      done
    done
    run -1 --separate-stderr kwctl_with "$binary" verify --sources-path "$SOURCES_PATH" --sigstore-trust-config "$TRUST_CONFIG" \
      --verification-config-path "$BATS_FILE_TMPDIR/verification-other-repo.yml" "registry://$REGISTRY/$POLICY_REPOSITORY:v0.1.0"
    [[ "$stderr" == *"Image verification failed: missing signatures"* ]] || { echo "$version: $stderr"; return 1; }
  done
}

@test "a module re-pushed over the signed tag is refused by policy-server at start and by kwctl verify" {
  # Before: the tag holds the signed bytes and verifies.
  run -0 kwctl verify --sources-path "$SOURCES_PATH" --sigstore-trust-config "$TRUST_CONFIG" \
    --verification-config-path "$BATS_FILE_TMPDIR/verification-key-a.yml" "registry://$REGISTRY/$POLICY_REPOSITORY:overwritten"
  local repushed
  repushed=$(push "$(rebuilt "$POLICY" "a-re-pushed-build")" overwritten)
  [[ -n "$repushed" && "$repushed" != "$SIGNED_DIGEST" ]]
  for config in key-a release-workflow; do
    assert_refused_at_start overwritten "$BATS_FILE_TMPDIR/verification-$config.yml"
    [[ "$stderr" == *"no signatures found for image: $REGISTRY/$POLICY_REPOSITORY:overwritten"* ]] || { echo "$stderr"; return 1; }
    run -1 --separate-stderr kwctl verify --sources-path "$SOURCES_PATH" --sigstore-trust-config "$TRUST_CONFIG" \
      --verification-config-path "$BATS_FILE_TMPDIR/verification-$config.yml" "registry://$REGISTRY/$POLICY_REPOSITORY:overwritten"
    [[ "$stderr" == *"no signatures found for image: $REGISTRY/$POLICY_REPOSITORY:overwritten"* ]] || { echo "$stderr"; return 1; }
  done
}
