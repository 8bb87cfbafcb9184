// Collectives across NVLink domains as SimGrid flows (ReplicaLoop::set_network, platform.cpp) against closed
// forms: alone on their links the flows give back the predictor's closed form (so by default they go on the
// network only where a link is shared), a pipeline's too; two TP rings, or two stage hops, through one NIC take
// twice its bandwidth term; KV transfers that share NICs with a TP ring take longer than alone.
#include <gtest/gtest.h>

#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <utility>

#include "headroom/sim/engine.hpp"
#include "headroom/sim/scenario.hpp"

using namespace headroom;

namespace {

using Flows = SimulationOptions::FabricFlows;

SimulationResult run(const Scenario& sc, Flows flows, bool all_steps = false) {
    SimulationOptions o;
    o.keep_requests = true;
    o.keep_all_steps = all_steps;
    o.fabric_flows = flows;
    return simulate(sc, o);
}

// With every collective on the network (ALWAYS) and with none (NEVER), every request finishes at the same time
// (up to rounding), so by default (SHARED), where no link is shared, the loop keeps the closed form.
void expect_flows_equal_the_closed_form(const Scenario& sc, size_t requests) {
    const SimulationResult a = run(sc, Flows::ALWAYS), b = run(sc, Flows::NEVER);
    ASSERT_EQ(a.requests.size(), requests);
    ASSERT_EQ(a.requests.size(), b.requests.size());
    for (size_t i = 0; i < a.requests.size(); ++i) {
        EXPECT_NEAR(a.requests[i].finish_s, b.requests[i].finish_s, 1e-9 * b.requests[i].finish_s) << i;
        EXPECT_EQ(a.requests[i].generated, b.requests[i].generated);
    }
    EXPECT_EQ(a.summary.steps, b.summary.steps);
    EXPECT_NE(a.summary.placement.find("as SimGrid flows"), std::string::npos);
    const SimulationResult c = run(sc, Flows::SHARED);
    EXPECT_EQ(c.summary.placement.find("as SimGrid flows"), std::string::npos);
    // the link report counts the same bytes whether they ran as flows (a) or in closed form (c); none with NEVER
    EXPECT_GT(a.summary.busiest_link_bytes, 0.0);
    EXPECT_NEAR(c.summary.busiest_link_bytes, a.summary.busiest_link_bytes, 1e-9 * a.summary.busiest_link_bytes);
    EXPECT_EQ(c.summary.link_names, a.summary.link_names);
    EXPECT_EQ(a.summary.busiest_link_kv_bytes, 0.0);
    EXPECT_TRUE(b.summary.busiest_link.empty());
}

// Two nodes of two H100s with ONE 50 GB/s NIC each, on one leaf: both GPUs of a node reach the other node
// through the same NIC link.
std::string tiny_cluster() {
    const std::filesystem::path p = std::filesystem::temp_directory_path() / ("headroom-tiny-" + std::to_string(::getpid()) + ".yaml");
    std::ofstream(p) << R"(name: tiny-2x2
nodes:
  - name: box
    count: 2
    gpu: h100-sxm
    gpus_per_node: 2
    nvlink:
      bandwidth_gb_per_s: {value: 450, source: "test"}
      latency_us: {value: 2.0, source: "test"}
    pcie:
      bandwidth_gb_per_s: {value: 64, source: "test"}
      latency_us: {value: 1.0, source: "test"}
    nics:
      count: {value: 1, source: "test: one NIC for both GPUs of a node"}
      bandwidth_gb_per_s: {value: 50, source: "test"}
      latency_us: {value: 1.0, source: "test"}
fabric:
  kind: rail_optimized
  technology: InfiniBand NDR
  switch_ports: {value: 64, source: "test"}
  switch_latency_us: {value: 0.2, source: "test"}
  link_bandwidth_gb_per_s: {value: 50, source: "test"}
  oversubscription: {value: 1, source: "test"}
)";
    return p.string();
}

// Llama-3.1-8B in `layout` ("tp: 4") on tiny_cluster(), one request of 1,000 prompt tokens and 2 output
// tokens: every step with its collectives as flows where a link is shared (first) and in closed form (second).
std::pair<SimulationResult, SimulationResult> one_request_on_the_tiny_cluster(const std::string& layout) {
    const std::string cluster = tiny_cluster();
    const Scenario sc = parse_scenario("model: meta-llama/Llama-3.1-8B-Instruct\ngpu: h100\n" + layout + "\ncluster: " + cluster + R"(
workload:
  shape: batch
  requests: 1
  prompt_tokens: {dist: fixed, value: 1000}
  output_tokens: {dist: fixed, value: 2}
seed: 1
)", "tiny.yaml", ".");
    std::pair<SimulationResult, SimulationResult> out{run(sc, Flows::SHARED, true), run(sc, Flows::NEVER, true)};
    std::filesystem::remove(cluster);
    return out;
}

}  // namespace

TEST(Collectives, FlowsAloneOnTheirLinksGiveTheClosedForm) {
    // Llama-3.3-70B at TP 16 over two DGX nodes: each GPU's ring flow runs on its own rail, nothing shares a link,
    // so every request finishes when the closed form says (up to rounding)
    const Scenario sc = parse_scenario(R"(model: meta-llama/Llama-3.3-70B-Instruct
gpu: h100
tp: 16
cluster: h100-4node-ib
workload:
  shape: single
  arrival: {process: poisson, rate: 3}
  prompt_tokens: {dist: lognormal, median: 1500, sigma: 0.5, min: 64, max: 8000}
  output_tokens: {dist: lognormal, median: 100, sigma: 0.5, min: 4, max: 400}
  requests: 60
seed: 5
)", "tp16.yaml", ".");
    expect_flows_equal_the_closed_form(sc, 60);
}

TEST(Collectives, AllToAllFlowsAloneGiveTheClosedForm) {
    // Qwen1.5-MoE as DP 24 x EP 24 over three DGX nodes: each GPU sends half its fabric share of the all-to-all to
    // the GPU of its rail in each other node; its two flows share its NIC, and each NIC receives two, so each
    // GPU's share crosses at the NIC's rate, as the closed form has it
    const Scenario sc = parse_scenario(R"(model: Qwen/Qwen1.5-MoE-A2.7B
gpu: h100
data_parallel: 24
expert_parallel: true
cluster: h100-4node-ib
workload:
  shape: single
  arrival: {process: poisson, rate: 20}
  prompt_tokens: {dist: lognormal, median: 1000, sigma: 0.5, min: 64, max: 4000}
  output_tokens: {dist: lognormal, median: 100, sigma: 0.5, min: 4, max: 400}
  requests: 100
seed: 3
)", "ep24.yaml", ".");
    expect_flows_equal_the_closed_form(sc, 100);
}

TEST(Collectives, TwoRingsThroughOneNicTakeTwiceTheBandwidthTerm) {
    // Llama-3.1-8B at TP 4 on two nodes of two GPUs: GPUs 0 and 1 each send their ring shard to the other node
    // through the node's one NIC. One request of 1,000 prompt tokens: its prefill step has 32 layers x 2
    // all-reduces of 1,000 x 4,096 x 2 B; each GPU's cross-domain ring (2 domains of g = 2) moves
    // 2 (2-1)/2 x 8,192,000 / 2 = 4,096,000 B per all-reduce, 262,144,000 B in the step. The closed form
    // prices it at 50 GB/s (5.24288 ms); sharing the NIC, each flow gets 25 GB/s, so the step takes
    // 262,144,000 / 50e9 = 5.24288 ms longer with flows than without.
    const auto [a, b] = one_request_on_the_tiny_cluster("tp: 4");
    ASSERT_GE(a.timeseries.size(), 2u);
    ASSERT_EQ(a.timeseries[0].prefill_tokens, 1000);
    ASSERT_EQ(b.timeseries[0].prefill_tokens, 1000);
    EXPECT_NEAR(a.timeseries[0].dt_s - b.timeseries[0].dt_s, 262'144'000.0 / 50e9, 1e-7);
    // the decode step's rings: 1 token, 64 x 4,096 B = 262,144 B per GPU, 5.24 us more shared
    EXPECT_NEAR(a.timeseries[1].dt_s - b.timeseries[1].dt_s, 262'144.0 / 50e9, 1e-8);
    EXPECT_NE(a.summary.placement.find("as SimGrid flows"), std::string::npos);
    // the link report: 1,001 tokens of rings, 262,406,144 B per GPU; each node's NIC link carries its two GPUs'
    // flows out and the other node's two in: 4 x 262,406,144 = 1,049,624,576 B, none of it KV
    EXPECT_NEAR(a.summary.busiest_link_bytes, 1'049'624'576.0, 1.0);
    EXPECT_EQ(a.summary.busiest_link_kv_bytes, 0.0);
}

TEST(Collectives, PipelineStageHopsAreCountedOnTheRails) {
    // Llama-3.3-70B at TP 8 x PP 2 over two DGX nodes: stage 0 on one node, stage 1 on the other. Each step's
    // micro-batches cross between the stages as each TP rank's slice of the hidden state and residual:
    // tokens x 8,192 x 2 x 2 B / 8 = 4,096 B a token per GPU, over its own rail (GPU to NIC, NIC up to the rail's
    // leaf, down to the other node's NIC of the same rail, to its GPU). 20 requests of 1,000 prompt tokens and 10 output tokens,
    // all at once: 20 x 1,000 + 20 x 9 = 20,180 new tokens (the first output token comes with the prefill) =
    // 82,657,280 B on each of those links. The TP rings stay inside the nodes.
    const Scenario sc = parse_scenario(R"(model: meta-llama/Llama-3.3-70B-Instruct
gpu: h100
tp: 8
pp: 2
cluster: h100-4node-ib
workload:
  shape: batch
  requests: 20
  prompt_tokens: {dist: fixed, value: 1000}
  output_tokens: {dist: fixed, value: 10}
seed: 2
)", "pp2.yaml", ".");
    const SimulationResult r = run(sc, Flows::SHARED);
    ASSERT_EQ(r.summary.completed, 20);
    ASSERT_EQ(r.summary.prefix_hit_tokens, 0);
    ASSERT_EQ(r.summary.preemptions, 0);
    ASSERT_EQ(r.summary.link_names.size(), 32u);  // 8 rails x 4 links
    for (const double b : r.summary.link_bytes) EXPECT_NEAR(b, 82'657'280.0, 1.0);
    EXPECT_EQ(r.summary.busiest_link_kv_bytes, 0.0);
    EXPECT_EQ(r.summary.placement.find("as SimGrid flows"), std::string::npos);  // closed form: counted only
}

TEST(Collectives, PipelineFlowsAloneGiveTheClosedForm) {
    // Llama-3.3-70B at TP 8 x PP 4 over the four DGX nodes, a stage a node: each GPU's stage hop crosses to the
    // next node on its own rail (each direction of a link its own); alone on their links, the flows give back the
    // pipeline's closed form (FabricTraffic::round_s at y = 1) request by request
    const Scenario sc = parse_scenario(R"(model: meta-llama/Llama-3.3-70B-Instruct
gpu: h100
tp: 8
pp: 4
cluster: h100-4node-ib
workload:
  shape: single
  arrival: {process: poisson, rate: 4}
  prompt_tokens: {dist: lognormal, median: 1500, sigma: 0.5, min: 64, max: 8000}
  output_tokens: {dist: lognormal, median: 60, sigma: 0.5, min: 4, max: 200}
  requests: 40
seed: 7
)", "tp8pp4.yaml", ".");
    expect_flows_equal_the_closed_form(sc, 40);
}

TEST(Collectives, TwoStageHopsThroughOneNicTakeTwiceTheBandwidthTerm) {
    // Llama-3.1-8B at TP 2 x PP 2 on two nodes of two GPUs: stage 0 on one node, stage 1 on the other, the TP
    // rings inside the nodes. Both GPUs of stage 0 send their slices of the activations through the node's one
    // NIC. One request of 1,000 prompt tokens: its prefill is one micro-batch, a round of 2 t + h; each GPU sends
    // 1,000 x 4,096 x 2 x 2 B / 2 = 8,192,000 B, 163.84 us at the closed form's 50 GB/s. Sharing the NIC the hop's
    // bandwidth term takes twice that (y = 2), so the step takes 163.84 us longer with flows than without; a
    // decode's hop carries 8,192 B a GPU: 163.84 ns longer.
    const auto [a, b] = one_request_on_the_tiny_cluster("tp: 2\npp: 2");
    ASSERT_GE(a.timeseries.size(), 2u);
    ASSERT_EQ(a.timeseries[0].prefill_tokens, 1000);
    EXPECT_NEAR(a.timeseries[0].dt_s - b.timeseries[0].dt_s, 8'192'000.0 / 50e9, 1e-8);
    EXPECT_NEAR(a.timeseries[1].dt_s - b.timeseries[1].dt_s, 8'192.0 / 50e9, 1e-9);
    EXPECT_NE(a.summary.placement.find("as SimGrid flows"), std::string::npos);
    // the link report: 1,001 tokens of hops, 8,200,192 B per GPU of stage 0; each node's NIC link carries both
    // GPUs' flows (out of node 0, into node 1): 2 x 8,200,192 = 16,400,384 B
    EXPECT_NEAR(a.summary.busiest_link_bytes, 16'400'384.0, 1.0);
    EXPECT_NEAR(b.summary.busiest_link_bytes, 0.0, 0.0);
}

TEST(Collectives, KvTransfersShareTheNicsWithATpRing) {
    // A TP 16 prefill replica over two DGX nodes sends its KV to TP 8 decode replicas on the other two: the KV
    // leaves each prefill GPU's NIC while the ring's flows use the same NIC links, so transfers take longer with
    // the ring on the network than beside its closed form; nothing is lost either way
    const Scenario sc = parse_scenario(R"(model: meta-llama/Llama-3.3-70B-Instruct
gpu: h100
tp: 8
replicas: 2
disaggregation:
  prefill: {gpu: h100, tp: 16, replicas: 1}
  cluster: h100-4node-ib
workload:
  shape: single
  arrival: {process: poisson, rate: 4}
  prompt_tokens: {dist: lognormal, median: 3000, sigma: 0.5, min: 256, max: 12000}
  output_tokens: {dist: lognormal, median: 100, sigma: 0.5, min: 4, max: 400}
  requests: 150
seed: 9
)", "disagg16.yaml", ".");
    const SimulationResult a = run(sc, Flows::SHARED), b = run(sc, Flows::NEVER);
    EXPECT_EQ(a.summary.completed, 150);
    EXPECT_EQ(b.summary.completed, 150);
    EXPECT_EQ(a.summary.disaggregated, 150);
    EXPECT_GT(a.summary.kv_transfer_s.mean, 1.01 * b.summary.kv_transfer_s.mean);
    EXPECT_DOUBLE_EQ(a.summary.kv_transfer_bytes, b.summary.kv_transfer_bytes);
}
