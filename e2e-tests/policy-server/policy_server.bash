# Kubewarden's policy-server, the host a cluster runs, started without a cluster: one server per
# bats file serving one policy id per settings set, AdmissionReviews sent to it over HTTP, its
# AdmissionResponse read with helpers.bash's allowed/message/patch/warnings.
#
# Needs ../helpers.bash loaded first (request, settings_for, declared_capabilities, allowed, ...).
#
#   setup_file()    { load ../helpers; load policy_server; require_policy_server
#                     [[ -z "${POLICY_SERVER_MISSING:-}" ]] || return 0
#                     policy_server_start "$(policies_file "$(policy_entry ID SETTINGS_JSON)" ...)"; }
#   teardown_file() { policy_server_stop; }
#   setup()         { load ../helpers; load policy_server; skip_without_policy_server; }
#   teardown()      { policy_server_log_on_failure; }
#   @test ... { validate ID REQUEST_FILE; assert_accepted; ... }

# The release this suite was written against (../shared/tools, beside the repository).
POLICY_SERVER_DEFAULT="$REPO_ROOT/../shared/tools/policy-server/1.36.0-beta.1/policy-server"
POLICY_SERVER="${POLICY_SERVER:-$POLICY_SERVER_DEFAULT}"
# Bounds: the server must answer its readiness probe within this (it compiles each module first),
# and a server that is never stopped (bats killed) exits after POLICY_SERVER_LIFETIME anyway.
POLICY_SERVER_READY_SECONDS="${POLICY_SERVER_READY_SECONDS:-90}"
POLICY_SERVER_LIFETIME="${POLICY_SERVER_LIFETIME:-1800}"

# require_policy_server: in setup_file. Without a policy-server binary it fails the file when
# REQUIRE_POLICY_SERVER is set (CI), else exports POLICY_SERVER_MISSING, the reason with which
# skip_without_policy_server (in setup) skips each test: bats 1.8 cannot skip from setup_file.
require_policy_server() {
  unset POLICY_SERVER_MISSING
  [[ -x "$POLICY_SERVER" ]] && return 0
  local reason="no policy-server binary at $POLICY_SERVER (set POLICY_SERVER=/path/to/policy-server)"
  if [[ -n "${REQUIRE_POLICY_SERVER:-}" ]]; then
    echo "$reason; REQUIRE_POLICY_SERVER is set" >&2
    return 1
  fi
  export POLICY_SERVER_MISSING="$reason"
}

skip_without_policy_server() {
  [[ -z "${POLICY_SERVER_MISSING:-}" ]] || skip "$POLICY_SERVER_MISSING"
}

# policy_entry ID SETTINGS_JSON [MODULE]: one policies.yml entry (JSON is YAML), the module as a
# file:// URL unless it is a URL already, allowed to mutate, granted exactly the host capabilities
# metadata.yml declares (policy-server denies every capability a policy is not granted), or
# ALLOWED_CAPABILITIES (space-separated) when set.
policy_entry() {
  local id="$1" settings="$2" module="${3:-$POLICY}"
  [[ "$module" == *://* ]] || module="file://$(realpath "$module")"
  local capabilities
  capabilities=$(if [[ -n "${ALLOWED_CAPABILITIES:-}" ]]; then tr ' ' '\n' <<<"$ALLOWED_CAPABILITIES"; else declared_capabilities; fi)
  jq -cR --arg id "$id" --arg url "$module" --argjson settings "$settings" -s '
    {($id): {"module": $url, allowedToMutate: true, settings: $settings,
             hostCapabilities: (split("\n") | map(select(. != "")))}}' <<<"$capabilities"
}

# policies_file ENTRY_JSON...: the entries merged into one policies.yml; prints its path.
policies_file() {
  local dir="${BATS_FILE_TMPDIR:-$BATS_TEST_TMPDIR}"
  local file entry
  for entry in "$@"; do
    jq -e 'type == "object"' <<<"$entry" >/dev/null 2>&1 || { echo "policies_file: not a policy entry: [$entry]" >&2; return 1; }
  done
  file=$(mktemp "$dir/policies-XXXXXX.yml")
  printf '%s\n' "$@" | jq -s 'add' >"$file"
  echo "$file"
}

port_in_use() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

free_port() {
  local port
  for _ in $(seq 50); do
    port=$((20000 + RANDOM % 40000))
    port_in_use "$port" || { echo "$port"; return 0; }
  done
  return 1
}

# policy_server_command DIR PORT PROBE_PORT POLICIES_FILE [VERIFICATION_CONFIG]: the flags a
# cluster's PolicyServer would get, with the fixtures' registry (sources) and Sigstore trust,
# everything it writes in DIR; with VERIFICATION_CONFIG (`--verification-path`), it loads only
# policy modules whose own signatures satisfy that config.
# Its environment is a cluster's: no RUST_BACKTRACE (with it, host errors, and so the policy's
# messages, carry a Rust backtrace), no NO_COLOR (it reads that as --log-no-color, which takes
# only true or false: NO_COLOR=1 stops it at start).
policy_server_command() {
  local dir="$1" port="$2" probe="$3" policies="$4" verification="${5:-}"
  mkdir -p "$dir/downloads" "$dir/sigstore"
  printf '%s\n' env -u RUST_BACKTRACE -u NO_COLOR "$POLICY_SERVER" --policies "$policies" --addr 127.0.0.1 --port "$port" \
    --readiness-probe-port "$probe" --workers 2 \
    --policies-download-dir "$dir/downloads" --sigstore-cache-dir "$dir/sigstore" \
    --sources-path "$SOURCES_PATH" --sigstore-trust-config "$TRUST_CONFIG" \
    --ignore-kubernetes-connection-failure --log-level warn
  [[ -z "$verification" ]] || printf '%s\n' --verification-path "$verification"
}

# Its text logs are coloured whatever the flags say.
strip_colours() { sed 's/\x1b\[[0-9;]*m//g'; }

# policy_server_start POLICIES_FILE [VERIFICATION_CONFIG]: starts the server on free loopback
# ports and waits (at most POLICY_SERVER_READY_SECONDS) until it is ready. Sets POLICY_SERVER_PID,
# POLICY_SERVER_URL, POLICY_SERVER_LOG. On failure it prints the log, leaves nothing running and
# returns 1.
policy_server_start() {
  local policies="$1" verification="${2:-}"
  local dir="${BATS_FILE_TMPDIR:-$BATS_TEST_TMPDIR}/policy-server"
  mkdir -p "$dir"
  POLICY_SERVER_LOG="$dir/policy-server.log"
  export POLICY_SERVER_LOG
  local attempt port probe
  for attempt in 1 2 3; do
    port=$(free_port) && probe=$(free_port) && [[ "$port" != "$probe" ]] || continue
    local -a command
    mapfile -t command < <(policy_server_command "$dir" "$port" "$probe" "$policies" "$verification")
    # `timeout` is the backstop if this file never reaches teardown_file (bats killed); fd 3 is
    # closed so bats does not wait for the server before it reports. Its pid is the one to
    # signal: timeout passes SIGTERM on to the server.
    echo "== start $attempt: ${command[*]}" >>"$POLICY_SERVER_LOG"
    timeout --kill-after=5 "$POLICY_SERVER_LIFETIME" "${command[@]}" >>"$POLICY_SERVER_LOG" 2>&1 3>&- </dev/null &
    POLICY_SERVER_PID=$!
    export POLICY_SERVER_PID
    local deadline=$((SECONDS + POLICY_SERVER_READY_SECONDS))
    while ((SECONDS < deadline)); do
      if curl -fsS -o /dev/null --max-time 2 "http://127.0.0.1:$probe/readiness" 2>/dev/null; then
        POLICY_SERVER_URL="http://127.0.0.1:$port"
        export POLICY_SERVER_URL
        return 0
      fi
      kill -0 "$POLICY_SERVER_PID" 2>/dev/null || break
      sleep 0.2
    done
    local outcome="was not ready within ${POLICY_SERVER_READY_SECONDS}s"
    kill -0 "$POLICY_SERVER_PID" 2>/dev/null || outcome="exited before it was ready"
    policy_server_stop
    # Lost a race for a port: try others. Anything else is a real failure.
    grep -q "Address already in use" "$POLICY_SERVER_LOG" || break
  done
  echo "policy-server $outcome; its log:" >&2
  strip_colours <"$POLICY_SERVER_LOG" >&2
  return 1
}

# policy_server_stop: SIGTERM, then SIGKILL after 10 s; safe when nothing runs.
policy_server_stop() {
  local pid="${POLICY_SERVER_PID:-}"
  [[ -n "$pid" ]] || return 0
  unset POLICY_SERVER_PID
  kill -0 "$pid" 2>/dev/null || return 0
  kill -TERM "$pid" 2>/dev/null || true
  local _
  for _ in $(seq 50); do
    kill -0 "$pid" 2>/dev/null || return 0
    sleep 0.2
  done
  pkill -KILL -P "$pid" 2>/dev/null || true
  kill -KILL "$pid" 2>/dev/null || true
}

# policy_server_log_on_failure: in teardown, the end of the server's log when the test failed.
policy_server_log_on_failure() {
  [[ -n "${BATS_TEST_COMPLETED:-}" || ! -f "${POLICY_SERVER_LOG:-}" ]] && return 0
  echo "# policy-server log (last 40 lines of $POLICY_SERVER_LOG):"
  tail -n 40 "$POLICY_SERVER_LOG" | strip_colours
}

# admission_review REQUEST_FILE: the AdmissionReview the API server would send for it.
admission_review() {
  jq -c '{apiVersion: "admission.k8s.io/v1", kind: "AdmissionReview", request: .}' "$1"
}

# validate POLICY_ID REQUEST_FILE: POST /validate/POLICY_ID. Sets $review (the AdmissionReview
# answered), $output (its response, so helpers.bash's allowed/message/patch/warnings read it),
# $stderr and $status (0 only for HTTP 200 with a response).
validate() {
  local id="$1" request="$2" body="$BATS_TEST_TMPDIR/review-$1.json"
  admission_review "$request" >"$body"
  run --separate-stderr curl -sS --fail-with-body --max-time 60 -X POST \
    -H 'Content-Type: application/json' --data-binary "@$body" "$POLICY_SERVER_URL/validate/$id"
  review="$output"
  if [[ "$status" -eq 0 ]] && jq -e '.response | type == "object"' <<<"$review" >/dev/null 2>&1; then
    output=$(jq -c '.response' <<<"$review")
  else
    stderr="HTTP request failed (curl exit $status): $stderr $review"
    [[ "$status" -ne 0 ]] || status=1
  fi
}

# policy_server_refuses POLICIES_FILE [VERIFICATION_CONFIG]: runs a server that is expected to
# exit at start; sets
# $status, $output (its log, on stdout) and $stderr (where it says why it stopped), colours
# stripped. Bounded: a server that starts instead is stopped after POLICY_SERVER_READY_SECONDS
# (timeout's status 124).
policy_server_refuses() {
  local dir
  dir=$(mktemp -d "${BATS_TEST_TMPDIR}/refused-XXXXXX")
  local -a command
  mapfile -t command < <(policy_server_command "$dir" "$(free_port)" "$(free_port)" "$1" "${2:-}")
  run --separate-stderr timeout --kill-after=5 "$POLICY_SERVER_READY_SECONDS" "${command[@]}" 3>&- </dev/null
  output=$(strip_colours <<<"$output")
  stderr=$(strip_colours <<<"$stderr")
}
