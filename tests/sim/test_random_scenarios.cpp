// Random legal scenarios, simulated whole: "a legal scenario never crashes". Each one is drawn from the
// scenario format's serving options (models of every attention and MoE kind, GPUs, TP, replicas and routers,
// DP with EP, speculative decoding, disaggregation, scheduler limits and switches, every workload shape,
// prefix groups, timeouts) with small loads and tight memory, so that limits bind: queues, preemptions,
// rejections, timeouts. A drawn combination the loader refuses is skipped (refusals are the loader's tests'
// business); of those it accepts, every one must simulate without an exception, account for every request
// (completed + failed + rejected = requests) and give the same result when run again.
#include <gtest/gtest.h>

#include <cstdlib>
#include <random>
#include <string>

#include "headroom/models/input_error.hpp"
#include "headroom/sim/engine.hpp"
#include "headroom/sim/scenario.hpp"

using namespace headroom;

namespace {

struct Draw {
    std::mt19937_64 rng;
    int64_t in(int64_t lo, int64_t hi) { return std::uniform_int_distribution<int64_t>(lo, hi)(rng); }
    bool coin(int percent) { return in(1, 100) <= percent; }
    template <class T, size_t N>
    const T& pick(const T (&xs)[N]) {
        return xs[static_cast<size_t>(in(0, static_cast<int64_t>(N) - 1))];
    }
};

struct ModelChoice {
    const char* name;
    bool moe;
};

std::string random_scenario(Draw& d) {
    static const ModelChoice models[] = {
        {"meta-llama/Llama-3.1-8B-Instruct", false}, {"Qwen/Qwen3-8B", false},
        {"mistralai/Mistral-7B-v0.1", false},         {"google/gemma-2-9b", false},
        {"microsoft/phi-2", false},                   {"openai/gpt-oss-20b", true},
        {"deepseek-ai/DeepSeek-V2-Lite", true},       {"Qwen/Qwen1.5-MoE-A2.7B", true}};
    static const char* gpus[] = {"h100", "h200", "a100", "l40s", "b200"};
    static const char* shapes[] = {"single", "chat", "agent", "batch", "rag"};
    static const char* routers[] = {"round_robin", "least_outstanding", "prefix_cache", "session_affinity"};
    const ModelChoice& m = d.pick(models);
    std::string y = std::string("model: ") + m.name + "\ngpu: " + d.pick(gpus) + "\nseed: " +
                    std::to_string(d.in(1, 1000)) + "\n";
    const int64_t tp = d.coin(70) ? 1 : 2;
    y += "tp: " + std::to_string(tp) + "\n";
    if (m.moe && d.coin(40)) {
        y += "data_parallel: " + std::to_string(d.in(2, 3)) + "\nexpert_parallel: true\n";
    } else if (d.coin(30)) {
        y += "replicas: " + std::to_string(d.in(2, 3)) + "\nrouter: " + d.pick(routers) + "\n";
    }
    const bool chunked = d.coin(80);
    const int64_t budget = chunked ? d.pick({256, 512, 2048, 8192}) : 2048;
    y += "scheduler: {max_model_len: 2048, max_num_batched_tokens: " + std::to_string(budget) +
         ", max_num_seqs: " + std::to_string(d.pick({2, 8, 64, 256})) +
         ", chunked_prefill: " + (chunked ? "true" : "false") +
         ", prefix_caching: " + (d.coin(70) ? "true" : "false") +
         ", async_scheduling: " + (d.coin(70) ? "true" : "false") +
         ", gpu_memory_utilization: " + (d.coin(40) ? "0.9" : "0.5") + "}\n";
    if (d.coin(20)) {
        y += d.coin(50) ? "speculative: {method: eagle3, num_speculative_tokens: 2, acceptance_rate: 0.6}\n"
                        : "speculative: {method: ngram, num_speculative_tokens: 3, acceptance_rate: 0.4}\n";
    } else if (d.coin(20)) {
        y += "disaggregation:\n  prefill: {gpu: h100, tp: 1, replicas: 1}\n";
    }
    const std::string shape = d.pick(shapes);
    y += "workload:\n  shape: " + shape + "\n";
    if (shape == "batch") {
        y += "  arrival: {process: batch}\n";
    } else if (d.coin(30)) {
        y += "  arrival: {process: closed_loop, users: " + std::to_string(d.in(1, 40)) + "}\n";
    } else {
        y += "  arrival: {process: poisson, rate: " + std::to_string(d.in(1, 60)) + "}\n";
    }
    y += "  prompt_tokens: {dist: lognormal, median: " + std::to_string(d.in(16, 1500)) +
         ", sigma: 0.8, min: 1, max: 3000}\n";
    y += "  output_tokens: {dist: uniform, min: 1, max: " + std::to_string(d.in(1, 300)) + "}\n";
    if (shape == "chat" || shape == "agent") {
        y += "  turns: {dist: uniform, min: 1, max: " + std::to_string(d.in(1, 5)) + "}\n";
        y += shape == "chat" ? "  think_time_s: {dist: uniform, min: 0.1, max: 3}\n"
                             : "  tool_latency_s: {dist: uniform, min: 0.05, max: 1}\n";
    } else if (shape == "rag") {
        y += "  retrieved_tokens: {dist: uniform, min: 100, max: " + std::to_string(d.in(100, 2000)) + "}\n";
        y += "  retrieval_latency_s: {dist: uniform, min: 0.01, max: 0.5}\n";
    }
    if (d.coin(25)) {
        y += "  prefix_groups: {groups: " + std::to_string(d.in(1, 5)) + ", questions: " +
             std::to_string(d.in(1, 10)) + ", system_prompt_tokens: " + std::to_string(d.in(16, 800)) + "}\n";
    }
    if (d.coin(25)) y += "  timeout_s: " + std::to_string(d.in(1, 20)) + "\n";
    y += "  requests: " + std::to_string(d.in(5, 60)) + "\n";
    return y;
}

}  // namespace

TEST(RandomScenarios, EveryLegalOneSimulatesAccountsForEveryRequestAndRepeats) {
    // HEADROOM_RANDOM_SEED and HEADROOM_RANDOM_COUNT draw others, or more (1,800 on three other seeds passed)
    const char* seed = std::getenv("HEADROOM_RANDOM_SEED");
    const char* count = std::getenv("HEADROOM_RANDOM_COUNT");
    Draw d{std::mt19937_64(seed ? std::stoull(seed) : 2026)};
    const int n = count ? std::stoi(count) : 150;
    int loaded = 0, refused = 0;
    for (int i = 0; i < n; ++i) {
        const std::string text = random_scenario(d);
        Scenario sc;
        try {
            sc = parse_scenario(text, "random.yaml", ".");
            (void)scenario_kv_plan(sc);  // a model that does not fit is refused here
        } catch (const InputError&) {
            ++refused;
            continue;
        }
        ++loaded;
        SimulationResult a, b;
        ASSERT_NO_THROW(a = simulate(sc)) << text;
        const auto& s = a.summary;
        EXPECT_EQ(s.completed + s.failed + s.rejected, s.requests) << text;
        EXPECT_GT(s.requests, 0) << text;
        if (i % 5 == 0) {  // determinism, on a fifth of them (it doubles their time)
            ASSERT_NO_THROW(b = simulate(sc)) << text;
            EXPECT_EQ(b.summary.completed, s.completed) << text;
            EXPECT_EQ(b.summary.duration_s, s.duration_s) << text;
            EXPECT_EQ(b.summary.ttft_s.mean, s.ttft_s.mean) << text;
        }
    }
    // the draws are meant to be legal: most must load, or the test checks little
    EXPECT_GE(loaded, n * 4 / 5) << refused << " refused";
}
