# The fault runs of `scripts/load --faults` (sourced by scripts/load, which provides the
# fixtures, the requests and the helpers): (a) the fixtures' registry stopped for a few seconds
# under load and brought back; (b) a registry that accepts connections and never answers (a
# tarpit) behind a catch-all rule, two such Pods in flight and a DELETE sent meanwhile.
# shellcheck shell=bash

REGISTRY_DOWN_SECONDS="${REGISTRY_DOWN_SECONDS:-6}"

registry_pid() { cat "$FIXTURES_DIR/registry.pid"; }

stop_registry() {
  local pid
  pid=$(registry_pid)
  kill "$pid"
  local _
  for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || return 0; sleep 0.1; done
  kill -KILL "$pid" 2>/dev/null || true
}

# As fixtures/up starts it (same storage, same address), detached, its pid where
# fixtures/down looks for it.
start_registry() {
  (
    for fd in "/proc/$BASHPID/fd/"*; do
      fd=${fd##*/}
      if ((fd > 2)); then eval "exec $fd>&-" 2>/dev/null || true; fi
    done
    exec setsid docker-registry serve "$FIXTURES_DIR/registry.yml" >>"$FIXTURES_DIR/registry.log" 2>&1 </dev/null
  ) &
  echo $! >"$FIXTURES_DIR/registry.pid"
  local _
  for _ in $(seq 100); do
    curl -fsS -o /dev/null --max-time 1 "http://$REGISTRY/v2/" 2>/dev/null && return 0
    sleep 0.1
  done
  die "the registry did not come back"
}

# probe POLICY_ID BODY: "allowed after N ms: message" for one request.
probe() {
  local out="$WORK/probe.json" seconds
  seconds=$(curl -sS -o "$out" -w '%{time_total}' --max-time 30 -X POST -H 'Content-Type: application/json' \
    --data-binary "@$WORK/$2.json" "$POLICY_SERVER_URL/validate/$1") || { echo "no answer"; return; }
  jq -r --arg ms "$(awk -v t="$seconds" 'BEGIN {printf "%.0f", t * 1000}')" \
    '"\(if .response.allowed then "admitted" else "rejected" end) in \($ms) ms\(if .response.status.message then ": " + (.response.status.message | gsub("\\s*\n\\s*"; " ") | .[0:600]) else "" end)"' "$out"
}

phase() { # LABEL SECONDS: one hey run on the cached Pod, as a table row
  local figures rps p50 p99 bad
  figures=$(hey_round ours-pubkeys pod1 "$2")
  read -r rps p50 p99 bad <<<"$figures"
  echo "| $1 | $rps | $p50 ms | $p99 ms | $bad |"
}

run_registry_down() {
  review_file pod1-fresh "$(pod_request "$(tag_signed_a fault-fresh)" 1)"
  review_file pod1-unsigned "$(pod_request "$IMAGE_UNSIGNED" 1)"
  server_start "$(policies_file \
    "$(policy_entry ours-pubkeys "$PUBKEYS_SETTINGS")" \
    "$(established_entry established-pubkeys "$PUBKEYS_SETTINGS")")"
  local warm_ours warm_est
  warm_ours=$(check_first ours-pubkeys pod1 yes)
  warm_est=$(check_first established-pubkeys pod1 yes)
  echo "### The registry stopped under load (this policy, Pod with 1 container, pubKeys, hey -c $CONCURRENCY)"
  echo
  echo "Host cache warmed for \`$IMAGE_SIGNED_A\` (this policy: $warm_ours; established: $warm_est);"
  echo "\`${IMAGE_SIGNED_A%:*}:fault-fresh\` (same digest, never asked) is uncached; \`$IMAGE_UNSIGNED\` is unsigned."
  echo
  echo "| phase | req/s | p50 | p99 | errors |"
  echo "| --- | --- | --- | --- | --- |"
  phase "registry up" 3
  local down_at up_at
  down_at=$(date +%s.%N)
  stop_registry
  hey_round ours-pubkeys pod1 "$REGISTRY_DOWN_SECONDS" >"$WORK/down.txt" &
  local hey_pid=$!
  sleep 1
  local probes="$WORK/probes.md"
  {
    echo "- cached Pod, this policy: $(probe ours-pubkeys pod1)"
    echo "- cached Pod, established: $(probe established-pubkeys pod1)"
    echo "- uncached signed Pod, this policy: $(probe ours-pubkeys pod1-fresh)"
    echo "- uncached signed Pod, established: $(probe established-pubkeys pod1-fresh)"
    echo "- unsigned Pod, this policy: $(probe ours-pubkeys pod1-unsigned)"
    echo "- unsigned Pod, established: $(probe established-pubkeys pod1-unsigned)"
  } >"$probes"
  wait "$hey_pid"
  start_registry
  up_at=$(date +%s.%N)
  local rps p50 p99 bad
  read -r rps p50 p99 bad <"$WORK/down.txt"
  echo "| registry stopped (${REGISTRY_DOWN_SECONDS} s of load) | $rps | $p50 ms | $p99 ms | $bad |"
  phase "registry back" 3
  echo
  printf 'Registry down %.1f s. While it was down (under that load):\n\n' "$(awk -v a="$down_at" -v b="$up_at" 'BEGIN {print b - a}')"
  cat "$probes"
  echo
  echo "After it came back:"
  echo
  echo "- uncached signed Pod, this policy: $(probe ours-pubkeys pod1-fresh)"
  echo "- uncached signed Pod, established: $(probe established-pubkeys pod1-fresh)"
  echo "- unsigned Pod, this policy: $(probe ours-pubkeys pod1-unsigned)"
  policy_server_stop
}

run_tarpit() {
  local port
  port=$(free_port)
  python3 -c '
import socket, sys, time
server = socket.socket()
server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
server.bind(("127.0.0.1", int(sys.argv[1])))
server.listen(64)
held = []
while True:
    held.append(server.accept()[0])  # accepted, never answered, never closed
' "$port" &
  TARPIT_PID=$!
  local _
  for _ in $(seq 50); do port_in_use "$port" && break; sleep 0.1; done
  review_file pod-tarpit-1 "$(pod_request "127.0.0.1:$port/app:v1" 1)"
  review_file pod-tarpit-2 "$(pod_request "127.0.0.1:$port/worker:v1" 1)"
  admission_review "$REQUESTS/pod_delete_operation.json" >"$WORK/pod-delete.json"
  server_start "$(policies_file \
    "$(policy_entry ours-pubkeys "$PUBKEYS_SETTINGS")" \
    "$(policy_entry ours-catch-all "$(settings_for "*" "$(key_a)")")")"
  echo
  echo "### A registry that never answers (tarpit on 127.0.0.1:$port), rule \`image: \"*\"\`, 2 workers"
  echo
  echo "Two Pods on the tarpit sent 0.5 s apart (their clients give up after ${TARPIT_WAIT} s), then a DELETE."
  echo
  local i started curls=()
  started=$(date +%s.%N)
  for i in 1 2; do
    curl -sS -o "$WORK/tarpit-$i.json" -w '%{http_code} %{time_total}\n' --max-time "$TARPIT_WAIT" -X POST \
      -H 'Content-Type: application/json' --data-binary "@$WORK/pod-tarpit-$i.json" \
      "$POLICY_SERVER_URL/validate/ours-catch-all" >"$WORK/tarpit-$i.time" 2>/dev/null &
    curls+=($!)
    sleep 0.5
  done
  sleep 1
  local delete
  # The DELETE's client waits longer than the Pods' clients: does it get its answer only once
  # they give up (their connections closed)?
  delete=$(curl -sS -o "$WORK/delete-answer.json" -w '%{http_code} %{time_total}' --max-time $((TARPIT_WAIT + 15)) -X POST \
    -H 'Content-Type: application/json' --data-binary "@$WORK/pod-delete.json" \
    "$POLICY_SERVER_URL/validate/ours-pubkeys" 2>/dev/null) || true
  local delete_done
  delete_done=$(date +%s.%N)
  wait "${curls[@]}" || true
  for i in 1 2; do
    local code seconds
    read -r code seconds <"$WORK/tarpit-$i.time" || true
    if [[ "$code" == 200 ]]; then
      echo "- tarpit Pod $i: answered after $seconds s: $(jq -r '"allowed \(.response.allowed): \(.response.status.message // "" | .[0:240])"' "$WORK/tarpit-$i.json")"
    else
      echo "- tarpit Pod $i: no answer within ${TARPIT_WAIT} s (curl gave up after ${seconds:-?} s)"
    fi
  done
  read -r code seconds <<<"$delete"
  if [[ "$code" == 200 ]]; then
    printf -- '- DELETE sent 1 s after the second Pod (no host call needed): answered after %s s (%.1f s after the first Pod was sent), allowed %s\n' \
      "$seconds" "$(awk -v a="$started" -v b="$delete_done" 'BEGIN {print b - a}')" "$(jq -r '.response.allowed' "$WORK/delete-answer.json")"
  else
    echo "- DELETE sent 1 s after the second Pod (no host call needed): no answer within $((TARPIT_WAIT + 15)) s"
  fi
  printf -- '- all of it took %.1f s\n' "$(awk -v a="$started" -v b="$(date +%s.%N)" 'BEGIN {print b - a}')"
  policy_server_stop
  kill "$TARPIT_PID" 2>/dev/null || true
  TARPIT_PID=""
}

run_faults() {
  echo "## Faults under load ($("$POLICY_SERVER" --version | head -n1), $(date -u +%F), load average before: $LOAD_BEFORE)"
  echo
  run_registry_down
  run_tarpit
  echo
  echo "Load average after: $(cut -d' ' -f1-3 /proc/loadavg)"
}
