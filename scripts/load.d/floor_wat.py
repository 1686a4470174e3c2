#!/usr/bin/env python3
"""A waPC guest in WAT text for the load floors: it answers `validate` with
{"accepted":true} after making a fixed list of host calls, `validate_settings` with
{"valid":true} and `protocol_version` with "v1", telling the operations apart by the length
of their names alone, so it reads nothing of the request.

    floor_wat.py CALLS_JSON > floor.wat

CALLS_JSON is a file holding a JSON list of host calls, each
{"binding": ..., "namespace": ..., "operation": ..., "payload": <any JSON>}; the payload is
sent as its compact JSON text. An empty list makes the do-nothing floor. A host call that
fails makes `validate` answer {"accepted":false,...} so a floor that did not make its calls
cannot pass for a fast one."""
import json
import sys

ACCEPTED = b'{"accepted":true}'
REFUSED = b'{"accepted":false,"message":"floor: a host call failed"}'
VALID = b'{"valid":true}'
VERSION = b'"v1"'


def wat_bytes(data: bytes) -> str:
    return "".join(f"\\{b:02x}" for b in data)


def main() -> None:
    with open(sys.argv[1], encoding="utf-8") as f:
        calls = json.load(f)
    segments = []  # (offset, bytes)
    offset = 16

    def place(data: bytes) -> tuple[int, int]:
        nonlocal offset
        at = offset
        segments.append((at, data))
        offset += len(data) + (-len(data) % 8)
        return at, len(data)

    accepted, refused, valid, version = (place(x) for x in (ACCEPTED, REFUSED, VALID, VERSION))
    body = []
    for call in calls:
        parts = [place(call[k].encode()) for k in ("binding", "namespace", "operation")]
        payload = place(json.dumps(call["payload"], separators=(",", ":")).encode())
        args = " ".join(f"(i32.const {p}) (i32.const {n})" for p, n in parts + [payload])
        # The host's answer is copied in, as a policy reads it, then dropped.
        body.append(f"""
        (if (i32.eqz (call $host_call {args}))
          (then (call $guest_response (i32.const {refused[0]}) (i32.const {refused[1]}))
                (return (i32.const 1))))
        (call $reserve (call $host_response_len))
        (call $host_response (global.get $scratch))""")
    scratch = offset + 64
    pages = scratch // 65536 + 2
    data = "\n".join(f'  (data (i32.const {at}) "{wat_bytes(b)}")' for at, b in segments)
    print(f"""(module
  (import "wapc" "__guest_request" (func $guest_request (param i32 i32)))
  (import "wapc" "__guest_response" (func $guest_response (param i32 i32)))
  (import "wapc" "__guest_error" (func $guest_error (param i32 i32)))
  (import "wapc" "__host_call" (func $host_call (param i32 i32 i32 i32 i32 i32 i32 i32) (result i32)))
  (import "wapc" "__host_response_len" (func $host_response_len (result i32)))
  (import "wapc" "__host_response" (func $host_response (param i32)))
  (import "wapc" "__host_error_len" (func $host_error_len (result i32)))
  (import "wapc" "__host_error" (func $host_error (param i32)))
  (import "wapc" "__console_log" (func $console_log (param i32 i32)))
  (memory (export "memory") {pages})
  (global $scratch i32 (i32.const {scratch}))
{data}
  ;; Grows memory so a host answer of LEN bytes fits at $scratch.
  (func $reserve (param $len i32)
    (local $need i32)
    (local.set $need (i32.sub
      (i32.shr_u (i32.add (i32.add (global.get $scratch) (local.get $len)) (i32.const 65535)) (i32.const 16))
      (memory.size)))
    (if (i32.gt_s (local.get $need) (i32.const 0))
      (then (drop (memory.grow (local.get $need))))))
  (func (export "wapc_init"))
  (func (export "__guest_call") (param $op_len i32) (param $msg_len i32) (result i32)
    ;; "validate" (8), "validate_settings" (17), "protocol_version" (16).
    (if (i32.eq (local.get $op_len) (i32.const 8))
      (then {''.join(body)}
        (call $guest_response (i32.const {accepted[0]}) (i32.const {accepted[1]}))
        (return (i32.const 1))))
    (if (i32.eq (local.get $op_len) (i32.const 17))
      (then (call $guest_response (i32.const {valid[0]}) (i32.const {valid[1]}))
            (return (i32.const 1))))
    (if (i32.eq (local.get $op_len) (i32.const 16))
      (then (call $guest_response (i32.const {version[0]}) (i32.const {version[1]}))
            (return (i32.const 1))))
    (i32.const 0)))""")


if __name__ == "__main__":
    main()
