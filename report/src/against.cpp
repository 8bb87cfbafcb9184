// `validate --against`: a vLLM benchmark result next to the simulation of the same load (see against.hpp).
#include "headroom/report/against.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <map>
#include <fstream>
#include <regex>
#include <sstream>
#include <tuple>

#include <nlohmann/json.hpp>

#include "headroom/models/config_loader.hpp"
#include "headroom/models/json_input.hpp"

namespace headroom {

namespace {

using json = nlohmann::json;

[[noreturn]] void fail(const std::string& file, const std::string& field, const std::string& why) {
    throw ScenarioError(file, field, why);
}

json parse_file(const std::string& path) {
    std::error_code ec;
    if (!std::filesystem::is_regular_file(path, ec)) fail(path, "", "cannot open file");
    if (std::filesystem::file_size(path, ec) > (size_t{1} << 31)) fail(path, "", "larger than 2 GB: not a benchmark result");
    std::ifstream in(path);
    std::stringstream ss;
    ss << in.rdbuf();
    json j = parse_json_input<ScenarioError>(ss.str(), path);
    if (!j.is_object()) fail(path, "", "expected a JSON object (a `vllm bench serve --save-result` file)");
    return j;
}

double number(const json& j, const std::string& file, const std::string& key, double lo, double hi) {
    if (!j.contains(key)) fail(file, key, "missing");
    const json& v = j[key];
    if (!v.is_number()) fail(file, key, fmt::format("expected a number, got {}", v.dump()));
    const double x = v.get<double>();
    if (!std::isfinite(x) || x < lo || x > hi) fail(file, key, fmt::format("{} is out of range [{:g}, {:g}]", v.dump(), lo, hi));
    return x;
}

int64_t count(const json& j, const std::string& file, const std::string& key, int64_t lo) {
    const double x = number(j, file, key, static_cast<double>(lo), 1e9);
    if (x != std::floor(x)) fail(file, key, fmt::format("{} is not a whole number", j[key].dump()));
    return static_cast<int64_t>(x);
}

std::vector<double> lengths(const json& j, const std::string& file, const std::string& key) {
    std::vector<double> out;
    if (!j.contains(key)) return out;
    if (!j[key].is_array()) fail(file, key, "expected a list of token counts");
    for (size_t i = 0; i < j[key].size(); ++i) {
        const json& v = j[key][i];
        if (!v.is_number() || v.get<double>() < 0 || v.get<double>() > 1e7 || v.get<double>() != std::floor(v.get<double>())) {
            fail(file, fmt::format("{}[{}]", key, i), fmt::format("expected a token count, got {}", v.dump()));
        }
        out.push_back(v.get<double>());
    }
    return out;
}

const char* const METRICS[] = {"ttft", "tpot", "itl", "e2el"};

}  // namespace

BenchResult read_vllm_bench_result(const std::string& path) {
    const json j = parse_file(path);
    BenchResult r;
    r.file = path;
    if (j.contains("model_id")) {
        if (!j["model_id"].is_string()) fail(path, "model_id", "expected a string");
        r.model_id = j["model_id"].get<std::string>();
    }
    r.num_prompts = count(j, path, "num_prompts", 1);
    r.completed = count(j, path, "completed", 0);
    if (j.contains("failed") && !j["failed"].is_null()) r.failed = count(j, path, "failed", 0);
    if (r.completed + r.failed > r.num_prompts) {
        fail(path, "completed", fmt::format("{} completed and {} failed of {} prompts", r.completed, r.failed, r.num_prompts));
    }
    if (!j.contains("request_rate")) fail(path, "request_rate", "missing");
    if (j["request_rate"].is_string()) {
        if (j["request_rate"].get<std::string>() != "inf") fail(path, "request_rate", "expected a number or \"inf\"");
    } else {
        r.request_rate = number(j, path, "request_rate", 1e-6, 1e6);
    }
    if (j.contains("burstiness") && !j["burstiness"].is_null()) r.burstiness = number(j, path, "burstiness", 1e-3, 1e3);
    if (j.contains("max_concurrency") && !j["max_concurrency"].is_null()) r.max_concurrency = count(j, path, "max_concurrency", 1);
    if (std::isinf(r.request_rate) && r.max_concurrency == 0 && r.num_prompts > 1'000'000) {
        fail(path, "num_prompts", "more than 1,000,000 requests at once");
    }
    r.duration_s = number(j, path, "duration", 0, 1e9);
    r.request_throughput = number(j, path, "request_throughput", 0, 1e9);
    r.output_throughput = number(j, path, "output_throughput", 0, 1e12);
    if (r.completed == 0) fail(path, "completed", "0: no request completed, nothing to compare");
    r.mean_input_tokens = number(j, path, "total_input_tokens", 1, 1e15) / static_cast<double>(r.completed);
    r.mean_output_tokens = number(j, path, "total_output_tokens", 0, 1e15) / static_cast<double>(r.completed);
    const std::vector<double> in = lengths(j, path, "input_lens"), out = lengths(j, path, "output_lens");
    if (in.size() != out.size()) fail(path, "output_lens", fmt::format("{} entries against {} input_lens", out.size(), in.size()));
    for (size_t i = 0; i < in.size(); ++i) {
        if (out[i] > 0 && in[i] > 0) {  // a failed request has no output (0)
            r.input_lens.push_back(in[i]);
            r.output_lens.push_back(out[i]);
        }
    }
    // mean_ttft_ms, median_ttft_ms, p99_ttft_ms, p99.9_ttft_ms, ... (std_* is not compared)
    const std::regex pct(R"(^p([0-9]+(\.[0-9]+)?)_(ttft|tpot|itl|e2el)_ms$)");
    for (const char* m : METRICS) {
        for (const char* stat : {"mean", "median"}) {
            const std::string key = fmt::format("{}_{}_ms", stat, m);
            if (j.contains(key)) r.stats.emplace_back(m, stat, number(j, path, key, 0, 1e12) / 1e3);
        }
        for (const auto& [key, value] : j.items()) {
            std::smatch sm;
            if (std::regex_match(key, sm, pct) && sm[3] == m) {
                const double p = std::stod(sm[1]);
                if (p <= 0 || p >= 100) fail(path, key, "a percentile between 0 and 100");
                r.stats.emplace_back(m, "p" + sm[1].str(), number(j, path, key, 0, 1e12) / 1e3);
            }
        }
    }
    if (r.stats.empty()) fail(path, "mean_ttft_ms", "no latency statistics in the file (mean_*_ms, median_*_ms, p*_*_ms)");
    return r;
}

AgainstResult validate_against(const AgainstRequest& rq) {
    AgainstResult out;
    out.measured = read_vllm_bench_result(rq.result_path);
    const BenchResult& m = out.measured;
    std::vector<std::string> overrides = rq.overrides;
    if (!rq.gpu.empty()) {
        overrides.push_back("gpu=" + rq.gpu);
    } else if (rq.scenario_path.empty()) {
        fail("", "gpu", "missing (a vLLM result does not record the GPU that served it: name it, or give a scenario)");
    }
    const std::string model = !rq.model.empty() ? rq.model : m.model_id;
    if (model.empty()) fail(m.file, "model_id", "missing; name the model with --model");
    if (rq.model.empty()) {  // the result's model_id is often a path on the benchmark machine
        try {
            (void)load_model(m.model_id);
        } catch (const InputError& e) {
            fail(m.file, "model_id", fmt::format("{} cannot be read here ({}); name the model with --model (a shipped "
                                                 "name, a config.json or its directory)", m.model_id, e.reason()));
        }
    }
    overrides.push_back("model=" + model);
    out.scenario = load_scenario(rq.scenario_path, overrides);
    Scenario& sc = out.scenario;
    sc.name = "against-" + std::filesystem::path(m.file).stem().string();
    sc.seed = rq.seed;
    // The load the client offered: vLLM's gaps are gamma with shape `burstiness` (CV 1 / sqrt(burstiness)).
    WorkloadSpec w;
    w.shape = Shape::SINGLE;
    w.max_requests = m.num_prompts;
    if (m.max_concurrency > 0) {
        w.arrival = "closed_loop";
        w.users = m.max_concurrency;
        if (!std::isinf(m.request_rate)) {
            out.notes.push_back(fmt::format("the client sent at {:g} req/s with at most {} in flight; simulated as {} "
                                            "closed-loop users (the rate cap is not modelled)",
                                            m.request_rate, m.max_concurrency, m.max_concurrency));
        }
    } else if (std::isinf(m.request_rate)) {
        w.arrival = "batch";
    } else {
        w.arrival = m.burstiness == 1.0 ? "poisson" : "gamma";
        w.rate = m.request_rate;
        w.cv = 1.0 / std::sqrt(m.burstiness);
    }
    if (!m.input_lens.empty()) {
        w.prompt_tokens = empirical_distribution(m.input_lens);
        w.output_tokens = empirical_distribution(m.output_lens);
    } else {
        w.prompt_tokens = fixed_distribution(std::max(1.0, std::round(m.mean_input_tokens)));
        w.output_tokens = fixed_distribution(std::max(1.0, std::round(m.mean_output_tokens)));
        out.notes.push_back(fmt::format("every request is {:.0f} prompt and {:.0f} output tokens, the run's means (the file "
                                        "has no per-request lengths: save it with --save-detailed)",
                                        std::max(1.0, std::round(m.mean_input_tokens)),
                                        std::max(1.0, std::round(m.mean_output_tokens))));
    }
    sc.workload = std::move(w);
    check_scenario(sc);
    (void)scenario_kv_plan(sc);

    SimulationOptions so;
    so.keep_requests = true;
    out.predicted = simulate(sc, so);
    const Summary& s = out.predicted.summary;

    std::vector<double> ttft, tpot, e2e;
    for (const RequestRecord& q : out.predicted.requests) {
        if (!q.completed()) continue;
        ttft.push_back(q.ttft_s());
        e2e.push_back(q.e2e_s());
        if (q.generated > 1) tpot.push_back(q.tpot_s());
    }
    for (auto* v : {&ttft, &tpot, &e2e}) std::sort(v->begin(), v->end());
    auto add = [&](const std::string& name, double pv, double mv, const char* unit) {
        out.rows.push_back(comparison(name, pv, mv, unit));
    };
    static const std::map<std::string, std::string> label = {{"ttft", "TTFT"}, {"tpot", "TPOT"}, {"itl", "ITL"}, {"e2el", "E2E"}};
    for (const auto& [metric, stat, measured] : m.stats) {
        const double p = stat == "mean" ? -1.0 : stat == "median" ? 50.0 : std::stod(stat.substr(1));
        double predicted = 0;
        if (metric == "itl") {  // per-token gaps: the summary's statistics (exact below 4 M gaps)
            const Percentiles& q = s.itl_s;
            if (p < 0) predicted = q.mean;
            else if (p == 50) predicted = q.p50;
            else if (p == 90) predicted = q.p90;
            else if (p == 95) predicted = q.p95;
            else if (p == 99) predicted = q.p99;
            else {
                out.notes.push_back(fmt::format("ITL {} is not compared (the simulation keeps ITL p50, p90, p95, p99)", stat));
                continue;
            }
        } else {
            const std::vector<double>& v = metric == "ttft" ? ttft : metric == "tpot" ? tpot : e2e;
            if (p < 0) {
                double sum = 0;
                for (double x : v) sum += x;
                predicted = v.empty() ? 0.0 : sum / static_cast<double>(v.size());
            } else {
                predicted = percentile(v, p);
            }
        }
        add(label.at(metric) + " " + stat, predicted, measured, "s");
    }
    add("request throughput", s.request_throughput, m.request_throughput, "req/s");
    add("output throughput", s.output_throughput, m.output_throughput, "tok/s");
    add("completed", static_cast<double>(s.completed), static_cast<double>(m.completed), "requests");
    add("duration", s.duration_s, m.duration_s, "s");
    out.notes.push_back("predicted TTFT includes headroom's API-server time (api_server in the scenario), as the client's does");
    return out;
}

std::string validate_against_json(const AgainstResult& r) {
    json j;
    j["schema"] = "headroom.validate-against/1";
    j["against"] = r.measured.file;
    j["tool"] = r.measured.tool;
    j["model"] = r.scenario.deployment.model.name;
    j["gpu"] = r.scenario.deployment.gpu.name;
    j["tp"] = r.scenario.deployment.tp;
    j["replicas"] = r.scenario.deployment.replicas;
    j["arrival"] = r.scenario.workload.arrival;
    const WorkloadSpec& w = r.scenario.workload;
    if (w.arrival == "poisson" || w.arrival == "gamma") j["rate"] = w.rate;
    if (w.arrival == "gamma") j["cv"] = w.cv;
    if (w.arrival == "closed_loop") j["users"] = w.users;
    j["requests"] = r.measured.num_prompts;
    j["notes"] = r.notes;
    j["comparison"] = json::array();
    for (const Comparison& c : r.rows) {
        j["comparison"].push_back({{"metric", c.metric}, {"predicted", c.predicted}, {"measured", c.measured},
                                   {"rel_error", c.rel_error}, {"unit", c.unit}});
    }
    return j.dump();
}

}  // namespace headroom
