// What the `headroom` command prints: a human table per command, and one JSON object with --json.
#pragma once

#include <string>
#include <vector>

#include "headroom/hardware/cluster.hpp"
#include "headroom/hardware/gpu_profile.hpp"
#include "headroom/models/config_loader.hpp"
#include "headroom/models/model_card.hpp"
#include "headroom/core/cost_model.hpp"
#include "headroom/core/kernel_table_predictor.hpp"
#include "headroom/sim/calibrate.hpp"
#include "headroom/core/kv_planner.hpp"
#include "headroom/sim/platform.hpp"

namespace headroom::cli {


void print_card(const ModelCard& m);
// `drafter`: the speculative drafter whose memory the plan holds ("eagle3", "draft model X"), or "".
void print_kv(const ModelCard& m, const GpuProfile& gpu, const KvPlan& plan, const std::string& drafter = "");
// `what` describes the batch ("prefill 4096 tokens", "decode 32 x 8192").
void print_cost(const CostModel& cm, const StepTimePredictor& p, const StepCost& s, const std::string& what);
void print_gpus(const std::vector<GpuProfile>& gpus);
void print_gpu(const GpuProfile& gpu);
void print_gpu_fields();
// `cluster show`: the topology, its bisection bandwidth, one route, and one transfer's time when bytes > 0.
void print_cluster(const ClusterTopology& t, const ClusterRoute& route, int64_t from, int64_t to, double bytes,
                   const TransferResult* simulated);
void print_models(const std::vector<ShippedModel>& shipped, const std::vector<ModelCard>& cards);

// Formatting shared by the tables.
std::string group(int64_t n);             // 131072 -> "131,072"
std::string gb(double bytes);             // "16.06 GB" (1 GB = 1e9 bytes)
std::string count(double n);              // 8.03e9 -> "8.03 B", 2.27e7 -> "22.7 M"

}  // namespace headroom::cli
