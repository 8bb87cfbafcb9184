"""Type stubs of headroom's C++ core (pybind11). Use the wrappers in `headroom` rather than these directly."""

from typing import Any, Callable

class InputError(ValueError): ...

class ModelCard:
    name: str
    source: str
    model_type: str
    architecture: str
    family: str
    is_encoder: bool
    hidden_size: int
    num_layers: int
    num_attention_heads: int
    num_kv_heads: int
    head_dim: int
    intermediate_size: int
    vocab_size: int
    max_position_embeddings: int
    tie_word_embeddings: bool
    sliding_window: int
    num_experts: int
    experts_per_token: int
    kv_lora_rank: int
    guessed: list[str]
    @property
    def is_moe(self) -> bool: ...
    @property
    def is_mla(self) -> bool: ...
    @property
    def layer_kinds(self) -> list[str]: ...
    def params(self) -> dict[str, int]: ...
    def weight_bytes(self, dtype: str = "bf16") -> float: ...
    def kv_bytes_per_token(self, dtype: str = "bf16") -> float: ...
    def kv_bytes_for_context(self, tokens: int, dtype: str = "bf16") -> float: ...
    def linear_flops_per_token(self) -> float: ...
    def attention_flops_per_token(self, context: int) -> float: ...
    def prefill_flops(self, tokens: int) -> float: ...

class GpuProfile:
    name: str
    display_name: str
    aliases: list[str]
    file: str
    memory_shared_with_cpu: bool
    price_read_on: str
    def fields(self) -> dict[str, tuple[float, str]]: ...
    def memory_bytes(self) -> float: ...
    def usable_memory_bytes(self) -> float: ...
    def memory_bandwidth_bytes_per_s(self) -> float: ...
    def peak_flops(self, dtype: str = "bf16") -> float: ...

class KvPlan:
    kv_heads_per_gpu: int
    kv_heads_replicated: bool
    usable_bytes: float
    budget_bytes: float
    weight_bytes: float
    reserve_bytes: float
    kv_budget_bytes: float
    kv_bytes_per_token: float
    block_bytes: float
    num_blocks: int
    kv_tokens: int
    sequence_bytes_at_context: float
    max_concurrency_at_context: int
    max_context_at_concurrency: int
    fits: bool
    why_not: str
    context: int
    concurrency: int
    max_model_len: int
    reserve: dict[str, float]
    def to_dict(self) -> dict[str, Any]: ...

class Scenario:
    name: str
    file: str
    model: ModelCard
    gpu: GpuProfile
    tp: int
    replicas: int
    seed: int

def version() -> str: ...
def git_commit() -> str: ...
def load_model(spec: str) -> ModelCard: ...
def parse_model_config(text: str, file: str, name: str) -> ModelCard: ...
def shipped_models() -> list[str]: ...
def load_gpu(spec: str) -> GpuProfile: ...
def gpu_names() -> list[str]: ...
def apply_gpu_override(gpu: GpuProfile, assignment: str) -> GpuProfile: ...
def kv_plan(model: ModelCard, gpu: GpuProfile, tp: int = 1, weights_dtype: str = "bf16", kv_dtype: str = "bf16",
            gpu_memory_utilization: float = 0.9, block_size: int = 16, max_model_len: int = 0,
            max_num_batched_tokens: int = 0, max_num_seqs: int = 0, reserve_bytes: float = -1.0,
            context: int = 0, concurrency: int = 1, pp: int = 1, dp: int = 1, expert_parallel: bool = False,
            all2all_backend: str = "allgather_reducescatter", cuda_graphs: bool = True) -> KvPlan: ...
def cost(model: ModelCard, gpu: GpuProfile, batch: list[tuple[int, int]], tp: int = 1, weights_dtype: str = "auto",
         kv_dtype: str = "bf16", cuda_graphs: bool = True, step_overhead_s: float = 1e-3, predictor: str = "auto",
         async_scheduling: bool = True, moe_routing: str = "", calibration: str = "",
         kernel_tables: str = "") -> tuple[list[dict[str, Any]], float, int]: ...
def load_scenario(path: str, overrides: list[str] = ...) -> Scenario: ...
def parse_scenario(text: str, file: str, base_dir: str, overrides: list[str] = ...) -> Scenario: ...
def simulate(scenario: Scenario, keep_all_steps: bool = False, keep_requests: bool = True) -> tuple[str, dict[str, list], dict[str, list]]: ...
def sweep(path: str, overrides: list[str], load_kind: str, loads: list[float],
          axes: list[tuple[str, list[str]]], counterfactuals: bool = True, jobs: int = 0,
          progress: Callable[[int, int], None] | None = None, refine: int = 4,
          remote: Callable[[list[str]], list[bytes]] | None = None) -> str: ...
def simulate_recipe(recipe: str) -> bytes: ...
def validate_against(result: str, scenario: str, model: str, gpu: str, overrides: list[str], seed: int = 0,
                     benchmark: int = -1) -> str: ...
def validate_against_sweep(results: list[str], scenario: str, model: str, gpu: str, overrides: list[str], seed: int = 0,
                           benchmark: int = -1) -> str: ...
def plan(model: str, qps: float, slo: str, gpus: list[str], workload: str, overrides: list[str],
         duration_s: float = 0.0, top: int = 5, jobs: int = 0,
         progress: Callable[[int, int], None] | None = None,
         remote: Callable[[list[str]], list[bytes]] | None = None, disaggregate: bool = False) -> str: ...
