// Which all-reduce vLLM runs for a TP group's message, by GPU and message size: the kernel tables' vLLM rows
// time that call (KernelTablePredictor), and a calibration fits a line to each path's rows
// (Calibration::allreduce).
#pragma once

#include <cstdint>
#include <string>

namespace headroom {

// Which all-reduce vLLM 0.24 runs for a TP group's message (CudaCommunicator.all_reduce): its custom
// all-reduce below custom_max_bytes (CustomAllreduce's 8 MiB, for 2, 4, 6 or 8 GPUs, and beyond 2 only where
// NVLink connects them all, `nvlink`: "not supported on more than two PCIe-only GPUs"; on Hopper and
// Blackwell, where torch symmetric memory is on by default, VLLM_ALLREDUCE_USE_SYMM_MEM, held to
// CUSTOM_ALL_REDUCE_MAX_SIZES), then torch symmetric memory below symm_max_bytes
// (SYMM_MEM_ALL_REDUCE_MAX_SIZES; Hopper and Blackwell only; multimem at 6 and 8 GPUs, two-shot at 2 and 4),
// then NCCL (vllm/distributed/device_communicators/all_reduce_utils.py).
struct VllmAllreduce {
    enum class Path { CUSTOM, SYMM_MEM, NCCL };
    int64_t gpus = 0;
    double custom_max_bytes = 0.0;
    double symm_max_bytes = 0.0;  // 0: no symmetric memory on this GPU
    Path path(double bytes) const;
    std::string name(Path p) const;  // what `cost` says: "its custom all-reduce", ...
};
VllmAllreduce vllm_allreduce(double compute_capability, int64_t gpus, bool nvlink = true);

}  // namespace headroom
