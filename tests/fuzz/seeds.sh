#!/usr/bin/env bash
# Seed corpora and dictionaries for the fuzz harnesses: ROOT OUT. Seeds are the shipped files and tests/data
# of each format; a dictionary holds the field names found in them (JSON keys, YAML keys, the trace header).
set -euo pipefail
ROOT=$1
OUT=$2
mkdir -p "$OUT/seeds"/{config,profile,scenario,trace,bench_result,cluster,kernel_tables}
cp "$ROOT"/models/configs/*.json "$ROOT"/tests/data/configs/*.json "$OUT/seeds/config/" 2>/dev/null || true
cp "$ROOT"/hardware/profiles/*.yaml "$ROOT"/tests/data/profiles/*.yaml "$OUT/seeds/profile/" 2>/dev/null || true
cp "$ROOT"/examples/*.yaml "$ROOT"/tests/data/scenarios/*.yaml "$ROOT"/tests/data/good/*.yaml "$OUT/seeds/scenario/" 2>/dev/null || true
cp "$ROOT"/hardware/clusters/*.yaml "$OUT/seeds/cluster/" 2>/dev/null || true
cp "$ROOT"/tests/data/bench_results/*.json "$OUT/seeds/bench_result/" 2>/dev/null || true
cp "$ROOT"/tests/data/kernel_tables/*.hkt "$OUT/seeds/kernel_tables/" 2>/dev/null || true
for f in "$ROOT"/examples/traces/*.csv "$ROOT"/tests/data/traces/*.csv "$ROOT"/tests/data/traces/*.jsonl; do
    [ -f "$f" ] && head -c 4096 "$f" > "$OUT/seeds/trace/$(basename "$f")"
done
dict() {  # one "name" entry per distinct key
    sort -u | awk 'length($0) > 0 && length($0) < 64 { gsub(/"/, ""); printf "\"%s\"\n", $0 }'
}
for t in config bench_result; do
    cat "$OUT"/seeds/$t/*.json | grep -oE '"[A-Za-z_][A-Za-z0-9_]*"[[:space:]]*:' | grep -oE '[A-Za-z_][A-Za-z0-9_]*' | dict > "$OUT/$t.dict"
done
for t in profile scenario cluster; do
    cat "$OUT"/seeds/$t/*.yaml | grep -oE '^[[:space:]]*[A-Za-z_][A-Za-z0-9_.]*:' | tr -d ' :' | dict > "$OUT/$t.dict"
done
cat > "$OUT/trace.dict" <<'DICT'
"arrived_at,num_prefill_tokens,num_decode_tokens"
"TIMESTAMP,ContextTokens,GeneratedTokens"
"Timestamp,Model,Request tokens,Response tokens"
"2023-11-16 18:15:46.6805900"
"+00:00"
"{\"timestamp\": 0, \"input_length\": 1024, \"output_length\": 10, \"hash_ids\": [1, 2]}"
"\"hash_ids\""
"\""
","
"\x0A"
"\x0D\x0A"
"1e9"
"-"
"nan"
DICT
cat > "$OUT/kernel_tables.dict" <<'DICT'
"# headroom kernel tables v1"
"gpu "
"device "
"source "
"table "
"axis "
"data"
"end"
"-"
"gemm"
"prefill_attention"
"decode_attention"
"moe"
"mla_prefill"
"mla_decode"
"mla_attention_prefill"
"mla_attention_decode"
"encoder_attention"
"vllm_allreduce"
"nccl"
"dtype="
"kv_dtype="
"window="
"heads="
"kv_heads="
"head_dim="
"hidden="
"inter="
"topk="
"experts="
"tp="
"ep="
"gpus="
"mode=graph"
"mode=eager"
"op=all_reduce"
"distribution=balanced"
"distribution=power_law_1.01"
"framework="
"activation=relu2_no_mul"
"fp8"
"fp8_block"
"bf16"
"mxfp4"
"batch_size"
"isl"
"step"
"num_tokens"
"message_size"
"1e9"
"1e-9"
DICT
