# Shared steps for the e2e suite: build requests from test_data fixtures, run the policy through
# kwctl or kwrun with the same flags, and read the AdmissionResponse.
bats_require_minimum_version 1.5.0

POLICY="${POLICY:-$REPO_ROOT/annotated-policy.wasm}"
RUNNER="${KWCTL:-${KWRUN_BIN:-$REPO_ROOT/target/host/kwrun}}"
REQUESTS="$REPO_ROOT/test_data/requests"

# request FIXTURE [IMAGE] [ROLE=IMAGE ...]: a fixture request whose images are replaced: every
# image by IMAGE (default: the image signed by key A), then each named role by its own image.
# Roles, by the fixtures' placeholder images: app (ghcr.io/acme/app:v1), init
# (ghcr.io/acme/migrate:v2), proxy (nginx:1.27), model (ghcr.io/acme/model:7b, also the image
# volume), debug (busybox:1.36, the ephemeral container).
request() {
  local fixture="$1"
  shift
  local all="$IMAGE_SIGNED_A"
  if [[ $# -gt 0 && "$1" != *=* ]]; then
    all="$1"
    shift
  fi
  local -A role=([app]="$all" [init]="$all" [proxy]="$all" [model]="$all" [debug]="$all")
  local assignment
  for assignment in "$@"; do
    [[ -v "role[${assignment%%=*}]" ]] || { echo "request: unknown role in $assignment" >&2; return 1; }
    role[${assignment%%=*}]="${assignment#*=}"
  done
  local out="$BATS_TEST_TMPDIR/request-$fixture"
  jq --arg app "${role[app]}" --arg init "${role[init]}" --arg proxy "${role[proxy]}" \
    --arg model "${role[model]}" --arg debug "${role[debug]}" '
    def swap: {"ghcr.io/acme/app:v1": $app, "ghcr.io/acme/migrate:v2": $init, "nginx:1.27": $proxy,
               "ghcr.io/acme/model:7b": $model, "busybox:1.36": $debug}[.] // .;
    (.. | objects | select(has("image") and (.image | type) == "string") | .image) |= swap
    | (.. | objects | select(has("reference") and (.reference | type) == "string") | .reference) |= swap
  ' "$REQUESTS/$fixture" >"$out"
  echo "$out"
}

# settings_for PATTERN SIGNER_JSON [EXTRA_RULE_JSON [TOP_LEVEL_JSON]]: one rule covering PATTERN.
settings_for() {
  local pattern="$1" signer="$2" extra="${3:-{\}}" top="${4:-{\}}"
  jq -cn --arg image "$pattern" --argjson signer "$signer" --argjson extra "$extra" --argjson top "$top" \
    '{signatures: [{image: $image} + $signer + $extra]} + $top'
}

pem() { jq -Rs . <"$1"; }

# pem_list FILE: the certificates of a PEM chain file as a JSON list, one PEM string each, in
# the file's order (what certificateChain and fulcioCertificateChain take).
pem_list() {
  jq -Rs '[split("-----END CERTIFICATE-----")[] | select(test("BEGIN"))
           | . + "-----END CERTIFICATE-----\n" | sub("^\\s+"; "")]' <"$1"
}

# fulcio [CHAIN_FILE]: the top-level settings that make the policy trust CHAIN_FILE (default:
# the fixtures' keyless CA, intermediate first, root last) as the Fulcio that issues keyless
# certificates. Every keyless, keylessPrefix and githubActions test passes it: the default is
# Sigstore's public-good Fulcio, which issued none of the fixtures.
fulcio() {
  jq -cn --argjson chain "$(pem_list "${1:-$KEYLESS_CHAIN_PEM}")" '{fulcioCertificateChain: $chain}'
}

# The signer JSON of a pubKeys rule trusting key A.
key_a() { echo "{\"pubKeys\": [$(pem "$KEY_A_PUB")]}"; }

# The host capabilities metadata.yml declares, one per line.
declared_capabilities() {
  sed -n '/^hostCapabilities:/,/^[^ -]/s/^  - //p' "$REPO_ROOT/metadata.yml"
}

# Hosts that take --allowed-host-capabilities (kwrun, kwctl 1.36+) run every test with exactly
# the declared capabilities allowed, so an undeclared call fails the suite.
# The flag takes several values (kwctl refuses it twice), so it goes before the other flags.
allowed_capability_flags() {
  host_is_kwctl_older_than 1.36.0 && return 0
  echo "--allowed-host-capabilities"
  local capability
  for capability in ${ALLOWED_CAPABILITIES:-$(declared_capabilities)}; do
    echo "$capability"
  done
}

# evaluate SETTINGS_JSON REQUEST_FILE: sets $output (stdout), $stderr and $status.
evaluate() {
  local -a allowed
  mapfile -t allowed < <(allowed_capability_flags)
  run --separate-stderr "$RUNNER" run \
    "${allowed[@]}" \
    --request-path "$2" \
    --settings-json "$1" \
    --sources-path "$SOURCES_PATH" \
    --sigstore-trust-config "$TRUST_CONFIG" \
    "$POLICY"
}

# host_is_kwrun: true when the suite runs under kwrun, which checks every signature layer itself
# and names a forged layer's fault in its answer; kwctl leaves that to the policy's questions.
host_is_kwrun() { [[ -z "${KWCTL:-}" ]]; }

# host_is_kwctl_older_than VERSION: true under a kwctl older than VERSION (kwrun counts as current).
host_is_kwctl_older_than() {
  [[ -n "${KWCTL:-}" ]] || return 1
  local version
  version=$("$KWCTL" --version 2>/dev/null | grep -oE '[0-9]+\.[0-9]+\.[0-9]+' | head -n1)
  [[ "$(printf '%s\n%s\n' "$version" "$1" | sort -V | head -n1)" != "$1" ]]
}

# skip_before_kwctl VERSION REASON: skip this test, saying why, under a kwctl older than VERSION.
skip_before_kwctl() {
  if host_is_kwctl_older_than "$1"; then
    skip "needs kwctl $1 or newer ($2)"
  fi
}

allowed() { jq -r '.allowed' <<<"$output"; }
message() { jq -r '.status.message // ""' <<<"$output"; }
# The decoded JSON patch, or [] when the response carries none.
patch() {
  local encoded
  encoded=$(jq -r '.patch // empty' <<<"$output")
  if [[ -z "$encoded" ]]; then echo '[]'; else base64 -d <<<"$encoded" | jq -c .; fi
}
patched_value() { patch | jq -r --arg path "$1" '.[] | select(.path == $path) | .value'; }

assert_accepted() {
  [[ "$status" -eq 0 ]] || { echo "exit $status: $stderr"; return 1; }
  [[ "$(allowed)" == "true" ]] || { echo "expected acceptance, got: $output"; return 1; }
}

assert_rejected() {
  [[ "$status" -eq 0 ]] || { echo "exit $status: $stderr"; return 1; }
  [[ "$(allowed)" == "false" ]] || { echo "expected rejection, got: $output"; return 1; }
}

assert_message_contains() {
  [[ "$(message)" == *"$1"* ]] || { echo "message does not contain [$1]: $(message)"; return 1; }
}

warnings() { jq -r '.warnings // [] | join("\n")' <<<"$output"; }
# The policy's audit record: field path -> what happened to it.
audit_images() { jq -r '.auditAnnotations.images // "{}"' <<<"$output"; }

assert_no_patch() {
  [[ "$(patch)" == "[]" ]] || { echo "unexpected patch: $(patch)"; return 1; }
}

# The split-view registry (fixtures/split_view_proxy.py) at $SPLIT_VIEW_PROXY, in front of
# $REGISTRY: started by the bats files that use it, stopped by them, and reset to view A
# before each test so every host run is first shown view A.
start_split_view_proxy() {
  local log="$BATS_FILE_TMPDIR/split-view-proxy.log"
  # 3>&-: bats waits for every holder of its fd 3 before it finishes.
  python3 "$REPO_ROOT/e2e-tests/fixtures/split_view_proxy.py" --listen "$SPLIT_VIEW_PROXY" \
    --upstream "$REGISTRY" --repository "$SPLIT_VIEW_REPOSITORY" --digest "$DIGEST_SPLIT_VIEW" \
    --view-a "$SPLIT_VIEW_TAG_A" --view-b "$SPLIT_VIEW_TAG_B" >"$log" 2>&1 3>&- &
  export SPLIT_VIEW_PROXY_PID=$!
  # So fixtures/down stops it even when the bats run was cut short.
  echo "$SPLIT_VIEW_PROXY_PID" >"$FIXTURES_DIR/split-view-proxy.pid"
  local _
  for _ in $(seq 100); do
    split_view_state >/dev/null 2>&1 && return 0
    kill -0 "$SPLIT_VIEW_PROXY_PID" 2>/dev/null || break
    sleep 0.1
  done
  echo "split-view proxy did not start on $SPLIT_VIEW_PROXY:" >&2
  cat "$log" >&2
  return 1
}

stop_split_view_proxy() {
  [[ -n "${SPLIT_VIEW_PROXY_PID:-}" ]] || return 0
  kill "$SPLIT_VIEW_PROXY_PID" 2>/dev/null || true
  wait "$SPLIT_VIEW_PROXY_PID" 2>/dev/null || true
  rm -f "$FIXTURES_DIR/split-view-proxy.pid"
}

# Which view the proxy shows now: A or B.
split_view_state() { curl -fsS --max-time 2 "http://$SPLIT_VIEW_PROXY/-/state"; }
reset_split_view_proxy() { curl -fsS --max-time 2 -X POST -o /dev/null "http://$SPLIT_VIEW_PROXY/-/reset"; }
