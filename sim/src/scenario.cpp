// Scenario YAML -> Scenario. Unknown keys, wrong types and impossible values are rejected with the file and
// the field path. Overrides ("a.b=value") are applied to the YAML tree first, so they are checked the same way.
#include "headroom/sim/scenario.hpp"

#include "headroom/core/disaggregation.hpp"
#include "headroom/core/router.hpp"

#include <fmt/format.h>
#include <fmt/ranges.h>
#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <regex>
#include <set>
#include <sstream>

#include "headroom/hardware/profile_loader.hpp"
#include "headroom/hardware/yaml_fields.hpp"
#include "headroom/models/config_loader.hpp"
#include "headroom/core/kernel_table_predictor.hpp"
#include "headroom/core/kv_planner.hpp"
#include "headroom/core/scheduler.hpp"
#include "headroom/core/speculative.hpp"

namespace headroom {

// Generated from sim/scenarios/*.yaml by cmake/headroom_embed.cmake.
const std::vector<std::pair<std::string_view, std::string_view>>& embedded_scenarios();

namespace {

namespace fs = std::filesystem;

class Reader : public YamlFields {
public:
    Reader(std::string file, std::string base_dir) : file_(std::move(file)), base_(std::move(base_dir)) {}

    [[noreturn]] void fail(const std::string& field, const std::string& reason) const override {
        throw ScenarioError(file_, field, reason);
    }

    std::string path_of(const std::string& p) const {
        if (p.empty() || fs::path(p).is_absolute()) return p;
        const fs::path local = fs::path(base_) / p;
        std::error_code ec;
        return fs::exists(local, ec) ? local.string() : p;
    }

    // A number (fixed) or {dist: fixed|uniform|normal|lognormal|empirical, ...}.
    std::shared_ptr<Distribution> distribution(const YAML::Node& n, const std::string& path, double lo_limit,
                                               double hi_limit) const {
        if (n.IsScalar()) return fixed_distribution(number(n, path, lo_limit, hi_limit));
        if (!n.IsMap() || !n["dist"]) fail(path, "expected a number or {dist: fixed|uniform|normal|lognormal|empirical, ...}");
        const std::string d = string(n["dist"], path + ".dist");
        auto get = [&](const char* key) {
            if (!n[key]) fail(path + "." + key, fmt::format("missing (needed by dist: {})", d));
            return number(n[key], path + "." + key, lo_limit, hi_limit);
        };
        auto opt = [&](const char* key, double fallback) {
            return n[key] ? number(n[key], path + "." + key, lo_limit, hi_limit) : fallback;
        };
        if (d == "fixed") {
            only(n, path, {"dist", "value"});
            return fixed_distribution(get("value"));
        }
        if (d == "uniform") {
            only(n, path, {"dist", "min", "max"});
            const double a = get("min"), b = get("max");
            if (b < a) fail(path + ".max", "must be >= min");
            return uniform_distribution(a, b);
        }
        if (d == "normal") {
            only(n, path, {"dist", "mean", "std", "min", "max"});
            const double lo = opt("min", lo_limit), hi = opt("max", hi_limit);
            if (hi < lo) fail(path + ".max", "must be >= min");
            return normal_distribution(get("mean"), get("std"), lo, hi);
        }
        if (d == "lognormal") {
            only(n, path, {"dist", "median", "sigma", "min", "max"});
            const double median = get("median");
            if (median <= 0) fail(path + ".median", "must be > 0");
            const double lo = opt("min", lo_limit), hi = opt("max", hi_limit);
            if (hi < lo) fail(path + ".max", "must be >= min");
            if (!n["sigma"]) fail(path + ".sigma", "missing (needed by dist: lognormal)");
            return lognormal_distribution(median, number(n["sigma"], path + ".sigma", 0, 10), lo, hi);
        }
        if (d == "empirical") {
            only(n, path, {"dist", "trace", "column"});
            if (!n["trace"]) fail(path + ".trace", "missing (a CSV trace file)");
            const std::string col = n["column"] ? string(n["column"], path + ".column") : "";
            if (col != "prompt" && col != "output") fail(path + ".column", "expected prompt or output");
            std::vector<TraceRow> rows;
            try {
                rows = read_trace(path_of(string(n["trace"], path + ".trace"))).rows;
            } catch (const std::runtime_error& e) {
                fail(path + ".trace", e.what());
            }
            std::vector<double> v;
            for (const auto& r : rows) v.push_back(static_cast<double>(col == "prompt" ? r.prompt_tokens : r.output_tokens));
            return empirical_distribution(std::move(v));
        }
        fail(path + ".dist", fmt::format("unknown distribution \"{}\" (fixed, uniform, normal, lognormal, empirical)", d));
    }

    const std::string& file() const { return file_; }
    const std::string& base() const { return base_; }

private:
    std::string file_, base_;
};

constexpr double MAX_TOKENS = 1e7;
constexpr double MAX_SECONDS = 1e7;

// speculative: vLLM's speculative_config (method, num_speculative_tokens, the draft `model`) and the acceptance
// model: acceptance_rate (per position) or acceptance_lengths (P(accepted drafts = 0..k)), else the workload's
// speculative_acceptance.
void read_speculative(const Reader& r, const YAML::Node& n, Scenario& s) {
    r.only(n, "speculative", {"method", "num_speculative_tokens", "model", "acceptance_rate", "acceptance_lengths",
                              "draft_vocab_size"});
    SpeculativeConfig& c = s.engine.speculative;
    if (!n["method"]) r.fail("speculative.method", fmt::format("missing ({})", fmt::join(speculative_method_names(), ", ")));
    c.method = r.string(n["method"], "speculative.method");
    const auto names = speculative_method_names();
    if (std::find(names.begin(), names.end(), c.method) == names.end()) {
        r.fail("speculative.method", fmt::format("unknown method \"{}\" ({})", c.method, fmt::join(names, ", ")));
    }
    if (!n["num_speculative_tokens"]) r.fail("speculative.num_speculative_tokens", "missing");
    c.num_speculative_tokens = r.integer(n["num_speculative_tokens"], "speculative.num_speculative_tokens", 0, 64);  // 0: off
    if (n["draft_vocab_size"]) c.draft_vocab = r.integer(n["draft_vocab_size"], "speculative.draft_vocab_size", 1, 10'000'000);
    if (c.method == "draft_model") {
        if (!n["model"]) r.fail("speculative.model", "missing (the draft model's name or config.json)");
        c.draft_model = r.path_of(r.string(n["model"], "speculative.model"));
        try {
            c.draft = load_model(c.draft_model);
        } catch (const ModelConfigError& e) {
            r.fail("speculative.model", e.what());
        }
    } else if (n["model"]) {
        r.fail("speculative.model", fmt::format("only the draft_model method takes a model ({} drafts without one)", c.method));
    }
    if (n["acceptance_rate"] && n["acceptance_lengths"]) {
        r.fail("speculative.acceptance_lengths", "give acceptance_rate or acceptance_lengths, not both");
    }
    if (n["acceptance_rate"]) {
        c.acceptance_rate = r.number(n["acceptance_rate"], "speculative.acceptance_rate", 0, 0.999);
    } else if (const YAML::Node l = n["acceptance_lengths"]) {
        if (!l.IsSequence() || l.size() != static_cast<size_t>(c.num_speculative_tokens + 1)) {
            r.fail("speculative.acceptance_lengths",
                   fmt::format("expected {} probabilities, of 0 to {} drafts accepted", c.num_speculative_tokens + 1, c.num_speculative_tokens));
        }
        double sum = 0.0;
        for (size_t i = 0; i < l.size(); ++i) {
            c.acceptance_lengths.push_back(r.number(l[i], fmt::format("speculative.acceptance_lengths[{}]", i), 0, 1));
            sum += c.acceptance_lengths.back();
        }
        if (std::fabs(sum - 1.0) > 1e-6) r.fail("speculative.acceptance_lengths", fmt::format("must sum to 1, got {:.6g}", sum));
    } else if (s.workload.speculative_acceptance >= 0) {
        c.acceptance_rate = s.workload.speculative_acceptance;
    } else {
        r.fail("speculative.acceptance_rate", "missing (give acceptance_rate or acceptance_lengths, or workload.speculative_acceptance)");
    }
}

void read_workload(const Reader& r, const YAML::Node& w, Scenario& s) {
    r.only(w, "workload", {"shape", "arrival", "prompt_tokens", "output_tokens", "turns", "followup_tokens",
                           "think_time_s", "tool_latency_s", "retrieval_latency_s", "retrieved_tokens", "requests",
                           "duration_s", "output_scale", "prefix_groups", "timeout_s", "speculative_acceptance"});
    WorkloadSpec& ws = s.workload;
    const std::string shape = w["shape"] ? r.string(w["shape"], "workload.shape") : "single";
    if (!parse_shape(shape, ws.shape)) {
        r.fail("workload.shape", fmt::format("unknown shape \"{}\" (single, chat, agent, batch, embedding, rag)", shape));
    }
    if (w["requests"]) ws.max_requests = r.integer(w["requests"], "workload.requests", 1, 100'000'000);
    if (w["duration_s"]) ws.duration_s = r.number(w["duration_s"], "workload.duration_s", 0, MAX_SECONDS, true);
    if (w["output_scale"]) ws.output_scale = r.number(w["output_scale"], "workload.output_scale", 0, 100, true);
    if (w["timeout_s"]) ws.timeout_s = r.number(w["timeout_s"], "workload.timeout_s", 0, MAX_SECONDS, true);
    if (w["speculative_acceptance"]) {
        ws.speculative_acceptance = r.number(w["speculative_acceptance"], "workload.speculative_acceptance", 0, 0.999);
    }
    if (const YAML::Node g = w["prefix_groups"]) {
        r.only(g, "workload.prefix_groups", {"groups", "questions", "system_prompt_tokens"});
        for (const char* k : {"groups", "questions", "system_prompt_tokens"}) {
            if (!g[k]) r.fail(std::string("workload.prefix_groups.") + k, "missing");
        }
        ws.prefix_groups.groups = r.integer(g["groups"], "workload.prefix_groups.groups", 1, 1'000'000);
        ws.prefix_groups.questions = r.integer(g["questions"], "workload.prefix_groups.questions", 1, 1'000'000'000);
        ws.prefix_groups.system_prompt_tokens =
            r.integer(g["system_prompt_tokens"], "workload.prefix_groups.system_prompt_tokens", 1, static_cast<int64_t>(MAX_TOKENS));
    }

    const YAML::Node a = w["arrival"];
    ws.arrival = ws.shape == Shape::BATCH ? "batch" : "poisson";
    if (a) {
        r.only(a, "workload.arrival", {"process", "rate", "cv", "users", "think_time_s", "file", "time_scale", "hash_block_tokens"});
        if (a["process"]) ws.arrival = r.string(a["process"], "workload.arrival.process");
        if (!find_arrival(ws.arrival)) {
            r.fail("workload.arrival.process", fmt::format("unknown arrival process \"{}\" ({})", ws.arrival, arrival_names_text()));
        }
        if (a["rate"]) ws.rate = r.number(a["rate"], "workload.arrival.rate", 0, MAX_ARRIVAL_RATE, true);
        if (a["cv"]) ws.cv = r.number(a["cv"], "workload.arrival.cv", 0, 100, true);
        if (a["users"]) ws.users = r.integer(a["users"], "workload.arrival.users", 1, MAX_USERS);
        if (a["think_time_s"]) ws.user_think_time_s = r.distribution(a["think_time_s"], "workload.arrival.think_time_s", 0, MAX_SECONDS);
        if (a["time_scale"]) ws.trace_time_scale = r.number(a["time_scale"], "workload.arrival.time_scale", 0, 1e6, true);
        const int64_t block_tokens = a["hash_block_tokens"]
                                         ? r.integer(a["hash_block_tokens"], "workload.arrival.hash_block_tokens", 1, 1 << 20)
                                         : MOONCAKE_BLOCK_TOKENS;
        if (a["file"]) {
            try {
                ws.trace_file = r.path_of(r.string(a["file"], "workload.arrival.file"));
                Trace t = read_trace(ws.trace_file, block_tokens);
                ws.trace = std::move(t.rows);
                ws.trace_blocks = std::move(t.blocks);
                ws.trace_format = std::move(t.format);
                ws.trace_skipped = t.skipped;
                ws.trace_reordered = t.reordered;
                ws.trace_block_tokens = t.block_tokens;
            } catch (const std::runtime_error& e) {
                r.fail("workload.arrival.file", e.what());
            }
        }
    }
    const bool open = find_arrival(ws.arrival)->make != nullptr;  // a rate process
    if (open && !(a && a["rate"])) r.fail("workload.arrival.rate", fmt::format("missing (needed by {} arrivals)", ws.arrival));
    if (ws.arrival == "closed_loop" && ws.users == 0) r.fail("workload.arrival.users", "missing (needed by closed_loop)");
    if (ws.arrival == "trace" && ws.trace.empty()) r.fail("workload.arrival.file", "missing (needed by trace arrivals)");
    if (!ws.trace_file.empty() && ws.arrival != "trace" && ws.arrival != "closed_loop") {
        r.fail("workload.arrival.file", fmt::format("read by trace and closed_loop arrivals only, not {}", ws.arrival));
    }
    const bool rows = !ws.trace_file.empty();  // the trace's rows give every request's lengths
    if (rows && ws.prefix_groups.enabled()) {
        r.fail("workload.prefix_groups", "a trace's prompts are replayed as recorded (prefix groups apply to generated prompts)");
    }
    if (ws.arrival == "batch" && ws.max_requests == 0) r.fail("workload.requests", "missing (how many requests the batch holds)");
    if ((open || (ws.arrival == "closed_loop" && !rows)) && ws.max_requests == 0 && ws.duration_s == 0) {
        r.fail("workload", "needs requests or duration_s to stop");
    }

    auto dist = [&](const char* key, double lo, double hi) -> std::shared_ptr<Distribution> {
        return w[key] ? r.distribution(w[key], std::string("workload.") + key, lo, hi) : nullptr;
    };
    ws.prompt_tokens = dist("prompt_tokens", 1, MAX_TOKENS);
    ws.output_tokens = dist("output_tokens", 1, MAX_TOKENS);
    ws.turns = dist("turns", 1, 10'000);
    ws.followup_tokens = dist("followup_tokens", 1, MAX_TOKENS);
    ws.think_time_s = dist("think_time_s", 0, MAX_SECONDS);
    ws.tool_latency_s = dist("tool_latency_s", 0, MAX_SECONDS);
    ws.retrieval_latency_s = dist("retrieval_latency_s", 0, MAX_SECONDS);
    ws.retrieved_tokens = dist("retrieved_tokens", 0, MAX_TOKENS);
    if (ws.trace_file.empty()) {
        if (!ws.prompt_tokens) r.fail("workload.prompt_tokens", "missing");
        if (!ws.output_tokens && ws.shape != Shape::EMBEDDING) r.fail("workload.output_tokens", "missing");
    } else {
        for (const char* k : {"prompt_tokens", "output_tokens"}) {
            if (w[k]) r.fail(std::string("workload.") + k, "the trace's rows give every request's lengths (arrival.file)");
        }
    }
    if ((ws.shape == Shape::CHAT || ws.shape == Shape::AGENT) && !ws.turns) r.fail("workload.turns", "missing (needed by " + shape + ")");
    if (ws.shape == Shape::RAG && !ws.retrieved_tokens) r.fail("workload.retrieved_tokens", "missing (needed by rag)");
}

// "<metric>_p<percentile>": the metric and the percentile, or false. Percentiles may have decimals (p99.9).
bool parse_slo_name(const std::string& name, std::string& metric, double& pct) {
    static const std::regex key(R"((ttft|tpot|itl|e2e)_p(\d{1,2}(?:\.\d{1,6})?))");
    std::smatch m;
    if (!std::regex_match(name, m, key)) return false;
    metric = m[1].str();
    pct = std::stod(m[2].str());  // at most 2 + 6 digits: always in range
    return true;
}

void read_slos(const Reader& r, const YAML::Node& n, Scenario& s) {
    if (!n.IsMap()) r.fail("slo", "expected a mapping like {ttft_p95_s: 2.0, tpot_p95_s: 0.05}");
    for (const auto& kv : n) {
        if (!kv.first.IsScalar()) r.fail("slo", "keys must be plain names");
        const std::string k = kv.first.Scalar();
        std::string metric;
        double pct = 0;
        if (k.size() < 3 || k.compare(k.size() - 2, 2, "_s") != 0 || !parse_slo_name(k.substr(0, k.size() - 2), metric, pct)) {
            r.fail("slo." + k, "unknown SLO (write <ttft|tpot|itl|e2e>_p<percentile>_s, e.g. ttft_p95_s or e2e_p99.9_s)");
        }
        if (pct <= 0 || pct >= 100) r.fail("slo." + k, "percentile must be in (0, 100)");
        s.slos.push_back({metric, pct, r.number(kv.second, "slo." + k, 0, MAX_SECONDS, true)});
    }
}

void apply_override(YAML::Node root, const std::string& assignment, const std::string& file) {
    const auto eq = assignment.find('=');
    if (eq == std::string::npos || eq == 0) {
        throw ScenarioError(file, assignment, "expected key=value, e.g. scheduler.max_num_batched_tokens=2048");
    }
    const std::string key = assignment.substr(0, eq), value = assignment.substr(eq + 1);
    std::vector<std::string> parts;
    std::stringstream ss(key);
    for (std::string p; std::getline(ss, p, '.');) parts.push_back(p);
    // An SLO name may hold a dot (slo.ttft_p99.9_s): below `slo`, the rest of the path is one key.
    if (parts.size() > 2 && parts[0] == "slo") {
        std::string rest = key.substr(4);
        parts = {"slo", rest};
    }
    // yaml-cpp nodes are handles: walk with copies, assign on the last one.
    std::vector<YAML::Node> chain{root};
    for (size_t i = 0; i + 1 < parts.size(); ++i) {
        YAML::Node next = chain.back()[parts[i]];
        if (next.IsDefined() && !next.IsMap() && !next.IsNull()) {
            throw ScenarioError(file, key, fmt::format("{} is not a section", parts[i]));
        }
        chain.push_back(next);
    }
    YAML::Node v;
    try {
        v = YAML::Load(value);
    } catch (const YAML::Exception&) {
        v = YAML::Node(value);
    }
    chain.back()[parts.back()] = v;
}

void read_disaggregation(const Reader& r, const YAML::Node& n, Scenario& s) {
    r.only(n, "disaggregation", {"prefill", "decision", "min_prompt_tokens", "min_cache_hit_share", "decode_router", "cluster", "link"});
    DisaggregationSpec& d = s.disaggregation;
    d.enabled = true;
    const YAML::Node p = n["prefill"];
    if (!p) r.fail("disaggregation.prefill", "missing: the prefill pool, e.g. {gpu: h100, tp: 2, replicas: 2}");
    r.only(p, "disaggregation.prefill", {"gpu", "tp", "replicas", "expert_parallel"});
    d.prefill.gpu_spec = p["gpu"] ? r.path_of(r.string(p["gpu"], "disaggregation.prefill.gpu")) : s.deployment.gpu_spec;
    try {
        d.prefill.gpu = scenario_gpu(s, d.prefill.gpu_spec);
    } catch (const InputError& e) {
        r.fail("disaggregation.prefill.gpu", e.what());
    }
    if (p["tp"]) d.prefill.tp = r.integer(p["tp"], "disaggregation.prefill.tp", 1, 1024);
    // 0 turns the block off (colocated serving), so that one sweep can compare: --set disaggregation.prefill.replicas=0,2
    if (p["replicas"]) d.prefill.replicas = r.integer(p["replicas"], "disaggregation.prefill.replicas", 0, 4096);
    if (p["expert_parallel"]) {
        d.prefill.expert_parallel = r.boolean(p["expert_parallel"], "disaggregation.prefill.expert_parallel");
    }
    if (n["decision"]) d.decision = r.string(n["decision"], "disaggregation.decision");
    const auto decisions = prefill_decision_names();
    if (std::find(decisions.begin(), decisions.end(), d.decision) == decisions.end()) {
        r.fail("disaggregation.decision", fmt::format("unknown decision \"{}\" ({})", d.decision, fmt::join(decisions, ", ")));
    }
    if (n["min_cache_hit_share"]) d.min_cache_hit_share = r.number(n["min_cache_hit_share"], "disaggregation.min_cache_hit_share", 0, 1);

    if (n["min_prompt_tokens"]) d.min_prompt_tokens = r.integer(n["min_prompt_tokens"], "disaggregation.min_prompt_tokens", 0, 1 << 30);
    if (n["decode_router"]) d.decode_router = r.string(n["decode_router"], "disaggregation.decode_router");
    const auto routers = decode_router_names();
    if (std::find(routers.begin(), routers.end(), d.decode_router) == routers.end()) {
        r.fail("disaggregation.decode_router", fmt::format("unknown decode router \"{}\" (least_kv, round_robin)", d.decode_router));
    }
    if (n["cluster"] && n["link"]) r.fail("disaggregation.link", "give a cluster or an ideal link, not both");
    if (n["cluster"] && s.cluster) r.fail("disaggregation.cluster", "the scenario names a cluster already (cluster:); give it once");
    if (s.cluster && n["link"]) r.fail("disaggregation.link", "the scenario's cluster carries the KV; drop the ideal link or the cluster");
    if (s.cluster) {
        d.cluster_spec = s.cluster_spec;
        d.cluster = s.cluster;
    } else if (n["cluster"]) {
        d.cluster_spec = r.path_of(r.string(n["cluster"], "disaggregation.cluster"));
        try {
            d.cluster = std::make_shared<const ClusterTopology>(load_cluster(d.cluster_spec));
        } catch (const InputError& e) {
            r.fail("disaggregation.cluster", e.what());
        }
        s.cluster_spec = d.cluster_spec;
        s.cluster = d.cluster;
        s.cluster_field = "disaggregation.cluster";
    }
    if (const YAML::Node l = n["link"]) {
        r.only(l, "disaggregation.link", {"bandwidth_gb_per_s", "latency_us"});
        if (l["bandwidth_gb_per_s"]) d.link_bytes_per_s = r.number(l["bandwidth_gb_per_s"], "disaggregation.link.bandwidth_gb_per_s", 0, 1e6) * 1e9;
        if (l["latency_us"]) d.link_latency_s = r.number(l["latency_us"], "disaggregation.link.latency_us", 0, 1e9) * 1e-6;
    }
    if (d.prefill.replicas == 0) d = DisaggregationSpec{};
}

}  // namespace

Scenario parse_scenario(const std::string& text, const std::string& file, const std::string& base_dir,
                        const std::vector<std::string>& overrides) {
    YAML::Node root;
    try {
        root = YAML::Load(text);
    } catch (const YAML::Exception& e) {
        throw ScenarioError(file, "", fmt::format("not valid YAML (line {}, column {}): {}", e.mark.line + 1,
                                                  e.mark.column + 1, e.msg));
    }
    if (!root.IsMap()) throw ScenarioError(file, "", "expected a YAML mapping at the top level");
    for (const auto& o : overrides) apply_override(root, o, "--set");

    Reader r(file, base_dir);
    r.only(root, "",
           {"name",
            "model",
            "gpu",
            "gpu_overrides",
            "tp",
            "pp",
            "pp_layer_partition",
            "data_parallel",
            "expert_parallel",
            "all2all_backend",
            "expert_imbalance",
            "moe_routing",
            "cluster",
            "replicas",
            "router",
            "weights_dtype",
            "kv_dtype",
            "predictor",
            "calibration",
            "kernel_tables",
            "api_server",
            "scheduler",
            "speculative",
            "workload",
            "slo",
            "seed",
            "metric_percentiles",
            "disaggregation"});
    Scenario s;
    s.file = file;
    s.name = root["name"] ? r.string(root["name"], "name") : fs::path(file).stem().string();
    if (!root["model"]) r.fail("model", "missing");
    if (!root["gpu"]) r.fail("gpu", "missing");
    if (!root["workload"]) r.fail("workload", "missing");
    s.deployment.model_spec = r.path_of(r.string(root["model"], "model"));
    s.deployment.gpu_spec = r.path_of(r.string(root["gpu"], "gpu"));
    s.deployment.model = load_model(s.deployment.model_spec);
    s.deployment.gpu = load_gpu(s.deployment.gpu_spec);
    if (const YAML::Node g = root["gpu_overrides"]) {
        if (!g.IsMap()) r.fail("gpu_overrides", "expected a mapping of profile fields to numbers");
        for (const auto& kv : g) {
            if (!kv.first.IsScalar()) r.fail("gpu_overrides", "keys must be plain names");
            s.gpu_overrides.push_back(kv.first.Scalar() + "=" + r.string(kv.second, "gpu_overrides"));
            apply_gpu_override(s.deployment.gpu, s.gpu_overrides.back(), file + ": gpu_overrides");
        }
    }
    if (root["tp"]) s.deployment.tp = r.integer(root["tp"], "tp", 1, 1024);
    if (root["pp"]) s.deployment.pp = r.integer(root["pp"], "pp", 1, 1024);
    if (const YAML::Node n = root["pp_layer_partition"]) {  // vLLM's VLLM_PP_LAYER_PARTITION, a count a stage
        if (!n.IsSequence() || n.size() == 0)
            r.fail("pp_layer_partition", "expected a list of layer counts, one a stage");
        for (const auto& x : n)
            s.deployment.pp_layer_partition.push_back(r.integer(x, "pp_layer_partition", 1, 1 << 20));
    }
    if (root["data_parallel"]) s.deployment.dp = r.integer(root["data_parallel"], "data_parallel", 1, 4096);
    if (root["expert_parallel"]) s.deployment.expert_parallel = r.boolean(root["expert_parallel"], "expert_parallel");
    // the busiest EP rank's token-expert pairs over the mean, as measured (EPLB statistics); 0: from uniform routing
    if (root["expert_imbalance"]) {
        s.deployment.expert_imbalance = r.number(root["expert_imbalance"], "expert_imbalance", 0, 1e4);
        if (s.deployment.expert_imbalance > 0 && s.deployment.expert_imbalance < 1) {
            r.fail("expert_imbalance", fmt::format("{:g} is below 1: the busiest rank carries at least the mean", s.deployment.expert_imbalance));
        }
    }
    // vLLM's all2all_backend: how DP + EP layers reach their experts (gather every rank's tokens, or dispatch)
    if (root["all2all_backend"]) {
        const std::string b = r.string(root["all2all_backend"], "all2all_backend");
        if (const std::string why = unknown_all2all_backend(b); !why.empty()) r.fail("all2all_backend", why);
        s.deployment.all2all_backend = b;
    }
    if (root["moe_routing"] && !root["moe_routing"].IsNull()) {  // null: the default
        try {
            s.deployment.moe_routing = moe_routing_for(s.deployment.model, r.string(root["moe_routing"], "moe_routing"));
        } catch (const PlanError& x) {
            r.fail("moe_routing", x.reason());
        }
    }
    if (root["cluster"]) {
        s.cluster_spec = r.path_of(r.string(root["cluster"], "cluster"));
        try {
            s.cluster = std::make_shared<const ClusterTopology>(load_cluster(s.cluster_spec));
        } catch (const InputError& e) {
            r.fail("cluster", e.what());
        }
    }
    if (root["replicas"]) s.deployment.replicas = r.integer(root["replicas"], "replicas", 1, 4096);
    if (root["router"]) s.deployment.router = r.string(root["router"], "router");
    if (const auto routers = router_names(); std::find(routers.begin(), routers.end(), s.deployment.router) == routers.end()) {
        r.fail("router", fmt::format("unknown router \"{}\" ({})", s.deployment.router, fmt::join(routers, ", ")));
    }
    auto dtype = [&](const char* key, Dtype& out) {
        if (!root[key]) return;
        const std::string v = r.string(root[key], key);
        auto d = parse_dtype(v);
        if (!d) r.fail(key, fmt::format("unknown dtype \"{}\" (expected one of {})", v, dtype_choices()));
        out = *d;
    };
    if (root["predictor"]) s.deployment.predictor = r.string(root["predictor"], "predictor");
    if (s.deployment.predictor != "auto" && s.deployment.predictor != "tables" && s.deployment.predictor != "calibrated" && s.deployment.predictor != "roofline") {
        r.fail("predictor", fmt::format("unknown predictor \"{}\" (auto, tables, calibrated, roofline)", s.deployment.predictor));
    }
    if (const YAML::Node a = root["api_server"]) {
        r.only(a, "api_server", {"fixed_ms", "tokenize_tokens_per_s"});
        if (a["fixed_ms"]) s.engine.api_server.fixed_s = r.number(a["fixed_ms"], "api_server.fixed_ms", 0, 1e6) * 1e-3;
        if (a["tokenize_tokens_per_s"]) {
            s.engine.api_server.tokenize_tokens_per_s = r.number(a["tokenize_tokens_per_s"], "api_server.tokenize_tokens_per_s", 0, 1e12);
        }
    }
    if (root["calibration"]) {
        try {
            s.deployment.calibration = std::make_shared<const Calibration>(load_calibration(r.path_of(r.string(root["calibration"], "calibration"))));
        } catch (const HardwareError& e) {
            r.fail("calibration", e.what());
        }
    }
    if (root["kernel_tables"]) {
        try {
            s.deployment.kernel_tables = std::make_shared<const KernelTables>(
                load_kernel_tables(r.path_of(r.string(root["kernel_tables"], "kernel_tables"))));
        } catch (const HardwareError& e) {
            r.fail("kernel_tables", e.what());
        }
    }
    // weights_dtype: every block matrix in one format; absent or "auto": as the checkpoint ships them
    if (root["weights_dtype"] && r.string(root["weights_dtype"], "weights_dtype") != "auto") {
        Dtype w = Dtype::BF16;
        dtype("weights_dtype", w);
        s.deployment.weight_dtype = w;
    }
    dtype("kv_dtype", s.deployment.kv_dtype);
    // vLLM V1 caches prefixes by default ("V1 turns on prefix caching by default", its test_prefix_caching_from_cli);
    // it cannot for a bidirectional encoder, whose every token sees the whole prompt
    s.engine.prefix_caching = !s.deployment.model.is_encoder;
    if (const YAML::Node sc = root["scheduler"]) {
        r.only(sc, "scheduler", {"policy", "gpu_memory_utilization", "block_size", "max_num_batched_tokens",
                                 "max_num_seqs", "max_model_len", "chunked_prefill", "prefix_caching", "cuda_graphs",
                                 "step_overhead_ms", "async_scheduling", "fuse_allreduce_rms", "reserve_gb"});
        if (sc["policy"]) s.engine.policy = r.string(sc["policy"], "scheduler.policy");
        const auto names = admission_policy_names();
        if (std::find(names.begin(), names.end(), s.engine.policy) == names.end()) {
            r.fail("scheduler.policy", fmt::format("unknown policy \"{}\" (continuous, static)", s.engine.policy));
        }
        if (sc["gpu_memory_utilization"]) {
            s.engine.gpu_memory_utilization = r.number(sc["gpu_memory_utilization"], "scheduler.gpu_memory_utilization", 0, 1, true);
        }
        if (sc["block_size"]) s.engine.block_size = r.integer(sc["block_size"], "scheduler.block_size", 1, 1024);
        if (sc["max_num_batched_tokens"]) {
            s.engine.max_num_batched_tokens = r.integer(sc["max_num_batched_tokens"], "scheduler.max_num_batched_tokens", 1, 10'000'000);
            s.engine.max_num_batched_tokens_set = true;
        }
        if (sc["max_num_seqs"]) {
            s.engine.max_num_seqs = r.integer(sc["max_num_seqs"], "scheduler.max_num_seqs", 1, 1'000'000);
            s.engine.max_num_seqs_set = true;
        }
        if (sc["max_model_len"]) s.engine.max_model_len = r.integer(sc["max_model_len"], "scheduler.max_model_len", 1, 1 << 30);
        if (sc["chunked_prefill"]) s.engine.chunked_prefill = r.boolean(sc["chunked_prefill"], "scheduler.chunked_prefill");
        if (sc["prefix_caching"]) s.engine.prefix_caching = r.boolean(sc["prefix_caching"], "scheduler.prefix_caching");
        if (sc["cuda_graphs"]) s.engine.cuda_graphs = r.boolean(sc["cuda_graphs"], "scheduler.cuda_graphs");
        if (sc["step_overhead_ms"]) s.engine.step_overhead_s = r.number(sc["step_overhead_ms"], "scheduler.step_overhead_ms", 0, 1e5) * 1e-3;
        if (sc["async_scheduling"]) s.engine.async_scheduling = r.boolean(sc["async_scheduling"], "scheduler.async_scheduling");
        if (sc["fuse_allreduce_rms"]) s.engine.fuse_allreduce_rms = r.boolean(sc["fuse_allreduce_rms"], "scheduler.fuse_allreduce_rms");
        if (sc["reserve_gb"]) s.engine.reserve_bytes = r.number(sc["reserve_gb"], "scheduler.reserve_gb", 0, 1e5) * 1e9;
    }
    s.engine = with_vllm_defaults(s.engine, s.deployment.gpu);
    read_workload(r, root["workload"], s);
    if (const YAML::Node sp = root["speculative"]) read_speculative(r, sp, s);
    // vLLM runs async scheduling beside EAGLE and MTP drafters only, and turns it off for the others (n-gram, a
    // draft model: PR #31998)
    const std::string& method = s.engine.speculative.method;
    if (s.engine.speculative.enabled() && method != "eagle" && method != "eagle3" && method != "mtp") {
        s.engine.async_scheduling = false;
    }
    if (root["slo"]) read_slos(r, root["slo"], s);
    if (const YAML::Node dg = root["disaggregation"]) read_disaggregation(r, dg, s);
    if (root["seed"]) s.seed = static_cast<uint64_t>(r.integer(root["seed"], "seed", 0, int64_t{1} << 53));
    if (const YAML::Node mp = root["metric_percentiles"]) {
        // a list, or one number (--set metric_percentiles=99.9)
        if (!mp.IsSequence() && !mp.IsScalar()) r.fail("metric_percentiles", "expected a list of percentiles, e.g. [50, 90, 99]");
        if (mp.IsSequence() && (mp.size() == 0 || mp.size() > 16)) r.fail("metric_percentiles", "expected 1 to 16 percentiles");
        s.metric_percentiles.clear();
        const size_t n = mp.IsSequence() ? mp.size() : 1;
        for (size_t i = 0; i < n; ++i) {
            const std::string field = mp.IsSequence() ? fmt::format("metric_percentiles[{}]", i) : "metric_percentiles";
            const double p = r.number(mp.IsSequence() ? mp[i] : mp, field, 0, 100, true);
            if (p >= 100) r.fail(field, fmt::format("{:g} is not a percentile below 100", p));
            if (std::find(s.metric_percentiles.begin(), s.metric_percentiles.end(), p) != s.metric_percentiles.end()) {
                r.fail(field, fmt::format("{:g} is listed twice", p));
            }
            s.metric_percentiles.push_back(p);
        }
    }
    check_scenario(s);
    return s;
}

namespace {

// The prefill pool must be servable and fit.
void check_disaggregation(const Scenario& s) {
    auto fail = [&](const std::string& field, const std::string& reason) { throw ScenarioError(s.file, field, reason); };
    const Deployment p = prefill_deployment(s);
    if (s.deployment.model.is_encoder) fail("disaggregation", fmt::format("{} is an encoder: nothing to decode", s.deployment.model.name));
    if (p.expert_parallel && !p.model.is_moe()) {
        fail("disaggregation.prefill.expert_parallel", fmt::format("{} has no experts", p.model.name));
    }
    if (s.disaggregation.decision == "prefix_cache" && !s.engine.prefix_caching) {
        fail("disaggregation.decision", "prefix_cache reads the decode replicas' prefix caches: turn scheduler.prefix_caching on");
    }
    try {
        check_serving_layout(p.model, p.gpu, p.tp, 1, p.kv_dtype, /*allow_encoder=*/false);
        (void)deployment_kv_plan(p, s.engine, s.file);
    } catch (const PlanError& x) {
        fail(x.field() == "--tp" ? "disaggregation.prefill.tp" : "disaggregation.prefill", x.reason());
    }
}

// On a cluster, every replica's GPUs must exist and be its pool's GPU.
void check_placement(const Scenario& s) {
    auto fail = [&](const std::string& field, const std::string& reason) { throw ScenarioError(s.file, field, reason); };
    const ClusterTopology* c = s.cluster.get();
    if (!c) return;
    const std::string& field = s.cluster_field;
    const auto gpus = replica_gpus(s);
    const int64_t needed = gpus.empty() || gpus.back().empty() ? 0 : gpus.back().back() + 1;
    const DisaggregationSpec& dg = s.disaggregation;
    if (needed > c->gpu_count()) {
        fail(field, dg.enabled ? fmt::format("{} has {} GPUs; the pools need {} ({} x TP {} prefill, {} x {} GPUs decode)",
                                             c->spec().name, c->gpu_count(), needed, dg.prefill.replicas, dg.prefill.tp,
                                             s.deployment.replicas, s.deployment.gpus_per_replica())
                               : fmt::format("{} has {} GPUs; {} replicas of {} GPUs (tp x pp x data_parallel) need {}",
                                             c->spec().name, c->gpu_count(), s.deployment.replicas,
                                             s.deployment.gpus_per_replica(), needed));
    }
    const int64_t prefill_replicas = dg.enabled ? dg.prefill.replicas : 0;
    for (size_t r = 0; r < gpus.size(); ++r) {
        const bool prefill = static_cast<int64_t>(r) < prefill_replicas;
        const std::string& want = prefill ? dg.prefill.gpu.name : s.deployment.gpu.name;
        for (int64_t g : gpus[r]) {
            if (c->gpu_profile(g) != want) {
                fail(field, fmt::format("GPU {} of {} is {}, but the {} runs on {}", g, c->spec().name, c->gpu_profile(g),
                                        prefill ? "prefill pool" : dg.enabled ? "decode pool" : "deployment", want));
            }
        }
    }
}

// pp, data_parallel and expert_parallel: what the model and the simulator can take.
void check_parallelism(const Scenario& s) {
    auto fail = [&](const std::string& field, const std::string& reason) { throw ScenarioError(s.file, field, reason); };
    const Deployment& d = s.deployment;
    if (d.pp > d.model.num_layers) {
        fail("pp", fmt::format("{} stages for {} layers: at most one stage per layer", d.pp, d.model.num_layers));
    }
    try {
        check_pp_layer_partition(d.model, d.pp, d.pp_layer_partition, "pp_layer_partition");
    } catch (const PlanError& x) {
        fail("pp_layer_partition", x.reason());
    }
    if (d.expert_parallel && !d.model.is_moe()) fail("expert_parallel", fmt::format("{} has no experts", d.model.name));
    if (d.dp > 1 && !d.expert_parallel) {
        fail("data_parallel", "data_parallel > 1 is attention DP with expert_parallel: true (an MoE model); for "
                              "independent copies of a model use replicas");
    }
    if (d.dp > 1 && d.pp > 1) fail("data_parallel", "data_parallel with pp > 1 is not modelled; use one of them");
    if (d.expert_imbalance > 0 && !d.expert_parallel) fail("expert_imbalance", "applies with expert_parallel: true");
    if ((d.pp > 1 || d.dp > 1) && d.model.is_encoder) fail(d.pp > 1 ? "pp" : "data_parallel", fmt::format("{} is an encoder: serve it with tp and replicas", d.model.name));
}

}  // namespace

void check_scenario(const Scenario& s) {
    auto fail = [&](const std::string& field, const std::string& reason) { throw ScenarioError(s.file, field, reason); };
    const Deployment& d = s.deployment;
    const EngineConfig& e = s.engine;
    if (d.calibration) {
        if (const std::string why = calibration_mismatch(*d.calibration, d.gpu); !why.empty())
            fail("calibration", why);
    }
    if (d.kernel_tables) {
        if (const std::string why = kernel_tables_mismatch(*d.kernel_tables, d.gpu); !why.empty())
            fail("kernel_tables", why);
    }
    if (d.predictor == "tables" && !d.kernel_tables && kernel_table_gpu(d.gpu).empty()) {
        fail("predictor", fmt::format("no kernel tables ship for {} (h100-sxm, h200, b200, gb200, a100-80gb, l40s have them; h100-pcie borrows h100-sxm's)", d.gpu.name));
    }
    // The layout must be servable: TP against the heads, a real KV-cache format. Named by the scenario's fields
    // (the same check backs `cost --tp` and `--kv-dtype`).
    try {
        check_serving_layout(d.model, d.gpu, d.tp, d.pp, d.kv_dtype, /*allow_encoder=*/true);
    } catch (const PlanError& x) {
        fail(x.field() == "--kv-dtype" ? "kv_dtype" : x.field() == "--tp" ? "tp" : x.field() == "--pp" ? "pp" : x.field(), x.reason());
    }
    if (e.max_model_len > d.model.max_position_embeddings) {
        fail("scheduler.max_model_len",
             fmt::format("{} exceeds the model's max_position_embeddings ({})", e.max_model_len, d.model.max_position_embeddings));
    }
    if (!e.chunked_prefill) {
        const int64_t len = e.max_model_len > 0 ? e.max_model_len : d.model.max_position_embeddings;
        if (e.max_num_batched_tokens < len) {
            fail("scheduler.max_num_batched_tokens",
                 fmt::format("{} is below max_model_len {}: without chunked prefill a prompt must fit one step (vLLM refuses "
                             "to start); raise it, lower max_model_len, or turn chunked_prefill on",
                             e.max_num_batched_tokens, len));
        }
    }
    if (e.speculative.enabled()) {
        if (d.model.is_encoder) fail("speculative", fmt::format("{} is an encoder: it does not decode", d.model.name));
        try {
            drafter_card(d.model, e.speculative);
        } catch (const PlanError& x) {
            fail(x.field(), x.reason());
        }
        if (const auto& dm = e.speculative.draft) {
            if (std::abs(dm->vocab_size - d.model.vocab_size) * 20 > d.model.vocab_size) {  // beyond padding
                fail("speculative.model", fmt::format("the draft's vocabulary ({}) is not {}'s ({}): vLLM needs one tokenizer",
                                                      dm->vocab_size, d.model.name, d.model.vocab_size));
            }
            if (dm->num_attention_heads % d.tp != 0) {
                fail("speculative.model", fmt::format("tp {} does not divide the draft's {} attention heads", d.tp, dm->num_attention_heads));
            }
        }
    }
    if (d.model.is_encoder && s.workload.shape != Shape::EMBEDDING) {
        fail("workload.shape", fmt::format("{} is an encoder: only the embedding shape applies", d.model.name));
    }
    check_parallelism(s);
    if (s.disaggregation.enabled) check_disaggregation(s);
    check_placement(s);
}

Deployment prefill_deployment(const Scenario& s) {
    Deployment d = s.deployment;
    d.gpu_spec = s.disaggregation.prefill.gpu_spec;
    d.gpu = s.disaggregation.prefill.gpu;
    if (d.gpu.name != s.deployment.gpu.name) {  // the scenario's calibration and tables are the decode GPU's
        d.calibration = nullptr;
        d.kernel_tables = nullptr;
    }
    d.tp = s.disaggregation.prefill.tp;
    d.pp = 1;  // a prefill pool of TP replicas
    d.dp = 1;
    d.replicas = s.disaggregation.prefill.replicas;
    if (s.disaggregation.prefill.expert_parallel)
        d.expert_parallel = *s.disaggregation.prefill.expert_parallel;
    return d;
}

int64_t fleet_gpus(const Scenario& s) {
    const DisaggregationSpec& d = s.disaggregation;
    return s.deployment.replicas * s.deployment.gpus_per_replica() + (d.enabled ? d.prefill.replicas * d.prefill.tp : 0);
}

double fleet_usd_per_hour(const Scenario& s) {
    const DisaggregationSpec& d = s.disaggregation;
    return static_cast<double>(s.deployment.replicas * s.deployment.gpus_per_replica()) * s.deployment.gpu.price_usd_per_gpu_hour.value +
           (d.enabled ? static_cast<double>(d.prefill.replicas * d.prefill.tp) * d.prefill.gpu.price_usd_per_gpu_hour.value : 0.0);
}

std::vector<std::vector<int64_t>> replica_gpus(const Scenario& s) {
    std::vector<std::vector<int64_t>> out;
    int64_t next = 0;
    auto pool = [&](int64_t replicas, int64_t gpus) {
        for (int64_t r = 0; r < replicas; ++r) {
            out.emplace_back();
            for (int64_t k = 0; k < gpus; ++k) out.back().push_back(next++);
        }
    };
    if (s.disaggregation.enabled) pool(s.disaggregation.prefill.replicas, s.disaggregation.prefill.tp);
    pool(s.deployment.replicas, s.deployment.gpus_per_replica());
    return out;
}

namespace {

std::string link_words(const LinkModel& l) {
    return fmt::format("{:.0f} GB/s, {:.1f} us", l.bytes_per_s / 1e9, l.latency_s * 1e6);
}

}  // namespace

ReplicaLinks replica_links(const ClusterTopology& c, const std::vector<int64_t>& gpus, const Deployment& d) {
    ReplicaLinks out;
    const int64_t tp = d.tp, dp = d.dp;
    auto gpu = [&](int64_t stage, int64_t rank, int64_t t) { return gpus[static_cast<size_t>((stage * dp + rank) * tp + t)]; };
    // the slowest link and the largest latency over some routes
    auto worst = [&](LinkModel& l, int64_t a, int64_t b) {
        const ClusterRoute r = c.route(a, b);
        l.bytes_per_s = l.bytes_per_s > 0 ? std::min(l.bytes_per_s, r.bottleneck_bytes_per_s) : r.bottleneck_bytes_per_s;
        l.latency_s = std::max(l.latency_s, r.latency_s);
    };
    std::vector<std::string> where;
    // TP rings that leave their NVLink domain
    bool spans = false;
    for (int64_t s = 0; s < d.pp; ++s) {
        for (int64_t r = 0; r < dp; ++r) {
            for (int64_t t = 0; t + 1 < tp; ++t) spans = spans || !c.same_nvlink_domain(gpu(s, r, t), gpu(s, r, t + 1));
        }
    }
    if (spans) {
        // NVLink domains of the group (GPUs of one domain are consecutive), and the rails between them
        int64_t domains = 1;
        for (int64_t t = 1; t < tp; ++t) domains += c.same_nvlink_domain(gpu(0, 0, t - 1), gpu(0, 0, t)) ? 0 : 1;
        out.tp_domains = domains;
        const int64_t g = gpus_per_domain(tp, domains);
        for (int64_t s = 0; s < d.pp; ++s) {
            for (int64_t r = 0; r < dp; ++r) {
                for (int64_t t = 0; t < tp; ++t) worst(out.tp, gpu(s, r, t), gpu(s, r, (t + g) % tp));
            }
        }
        where.push_back(fmt::format("TP {} over {} NVLink domains ({} between them)", tp, domains, link_words(out.tp)));
    } else if (tp > 1) {
        where.push_back(fmt::format("TP {} in one NVLink domain", tp));
    }
    if (d.pp > 1) {
        bool crosses = false;
        for (int64_t s = 0; s + 1 < d.pp; ++s) {
            for (int64_t t = 0; t < tp; ++t) {
                worst(out.stage, gpu(s, 0, t), gpu(s + 1, 0, t));
                crosses = crosses || !c.same_nvlink_domain(gpu(s, 0, t), gpu(s + 1, 0, t));
            }
        }
        where.push_back(fmt::format("{} stages {} ({})", d.pp, crosses ? "across NVLink domains" : "in one NVLink domain",
                                    link_words(out.stage)));
    }
    if (d.dp > 1 && d.expert_parallel) {
        // each GPU sends its share to every other GPU of the replica: to those of its NVLink domain over NVLink, to
        // the rest through its NIC; the slower part sets its rate
        const auto n = static_cast<double>(gpus.size());
        for (const int64_t a : gpus) {
            LinkModel in, out_dom;
            double inside = 0;
            for (const int64_t b : gpus) {
                if (b == a) continue;
                if (c.same_nvlink_domain(a, b)) {
                    inside += 1;
                    if (!in.present()) worst(in, a, b);
                } else if (!out_dom.present()) {
                    worst(out_dom, a, b);
                }
            }
            const double in_share = inside / (n - 1.0), out_share = 1.0 - in_share;
            const double per_byte = (in.present() ? in_share / in.bytes_per_s : 0.0);
            const double per_byte_out = out_dom.present() ? out_share / out_dom.bytes_per_s : 0.0;
            LinkModel l{1.0 / std::max(per_byte, per_byte_out), std::max(in.latency_s, out_dom.latency_s)};
            if (!out.ep.present() || l.bytes_per_s < out.ep.bytes_per_s) {
                out.ep = l;
                out.ep_fabric_share = out_dom.present() && per_byte_out >= per_byte ? out_share : 0.0;
            }
        }
        where.push_back(fmt::format("EP {} all-to-all ({})", d.ep(), link_words(out.ep)));
    }
    out.where = fmt::format("{} on {}", fmt::join(where, "; "), c.spec().name);
    return out;
}

namespace {

// The pool's deployment with the links of its slowest replica on the cluster (the first `skip` replicas of
// replica_gpus belong to another pool).
Deployment placed(const Scenario& s, Deployment d, size_t skip) {
    if (!s.cluster) return d;
    const auto gpus = replica_gpus(s);
    ReplicaLinks best;
    auto slower = [](const LinkModel& a, const LinkModel& b) {
        return b.present() && (!a.present() || b.bytes_per_s < a.bytes_per_s || (b.bytes_per_s == a.bytes_per_s && b.latency_s > a.latency_s));
    };
    for (size_t r = skip; r < skip + static_cast<size_t>(d.replicas) && r < gpus.size(); ++r) {
        const ReplicaLinks l = replica_links(*s.cluster, gpus[r], d);
        if (r == skip) {
            best = l;
            continue;
        }
        if (slower(best.tp, l.tp) || slower(best.stage, l.stage) || slower(best.ep, l.ep)) best.where = l.where;
        if (slower(best.tp, l.tp)) best.tp = l.tp;
        if (slower(best.stage, l.stage)) best.stage = l.stage;
        if (slower(best.ep, l.ep)) best.ep = l.ep, best.ep_fabric_share = l.ep_fabric_share;
    }
    d.links = best;
    return d;
}

}  // namespace

Deployment placed_deployment(const Scenario& s) {
    return placed(s, s.deployment, s.disaggregation.enabled ? static_cast<size_t>(s.disaggregation.prefill.replicas) : 0);
}

Deployment placed_prefill_deployment(const Scenario& s) { return placed(s, prefill_deployment(s), 0); }

GpuProfile scenario_gpu(const Scenario& s, const std::string& spec) {
    GpuProfile g = load_gpu(spec);
    for (const std::string& o : s.gpu_overrides) apply_gpu_override(g, o, s.file + ": gpu_overrides");
    return g;
}

void set_gpu(Scenario& s, const std::string& spec, const GpuProfile& gpu) {
    s.deployment.gpu_spec = spec;
    s.deployment.gpu = gpu;
    s.engine = with_vllm_defaults(s.engine, gpu);
}

std::vector<SloTarget> parse_slo_list(const std::string& text) {
    static const std::regex item(R"(([a-z0-9_.]+)=([0-9]{1,9}(?:\.[0-9]{1,9})?|\.[0-9]{1,9})(ms|s))");
    std::vector<SloTarget> out;
    size_t start = 0;
    while (start <= text.size()) {
        const size_t end = text.find(',', start);
        const std::string part = text.substr(start, end == std::string::npos ? std::string::npos : end - start);
        std::smatch m;
        std::string metric;
        double pct = 0;
        if (!std::regex_match(part, m, item) || !parse_slo_name(m[1].str(), metric, pct)) {
            throw std::invalid_argument(fmt::format("\"{}\" is not an SLO (write e.g. ttft_p95=2s,tpot_p99.9=50ms)", part));
        }
        if (pct <= 0 || pct >= 100) throw std::invalid_argument(fmt::format("\"{}\": percentile must be in (0, 100)", part));
        const double v = std::stod(m[2].str()) * (m[3].str() == "ms" ? 1e-3 : 1.0);  // at most 9 + 9 digits
        if (v <= 0) throw std::invalid_argument(fmt::format("\"{}\": threshold must be > 0", part));
        out.push_back({metric, pct, v});
        if (end == std::string::npos) break;
        start = end + 1;
    }
    return out;
}

Scenario load_scenario(const std::string& path, const std::vector<std::string>& overrides) {
    if (path.empty() || path == BUILTIN_SCENARIO) {
        for (const auto& [stem, text] : embedded_scenarios()) {
            if (stem == "default-chat") return parse_scenario(std::string(text), BUILTIN_SCENARIO, ".", overrides);
        }
    }
    std::ifstream in(path, std::ios::binary);
    if (!in) throw ScenarioError(path, "", "cannot open file");
    std::ostringstream ss;
    ss << in.rdbuf();
    return parse_scenario(ss.str(), path, fs::path(path).parent_path().string(), overrides);
}

SpeculativeConfig default_speculative(const Scenario& s, bool* assumed) {
    SpeculativeConfig c;
    c.method = "eagle3";
    c.num_speculative_tokens = 3;
    const bool given = s.workload.speculative_acceptance >= 0;
    c.acceptance_rate = given ? s.workload.speculative_acceptance : ASSUMED_SPECULATIVE_ACCEPTANCE;
    if (assumed) *assumed = !given;
    return c;
}

}  // namespace headroom
