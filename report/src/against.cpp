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

std::string read_text(const std::string& path) {
    std::error_code ec;
    if (!std::filesystem::is_regular_file(path, ec)) fail(path, "", "cannot open file");
    if (std::filesystem::file_size(path, ec) > (size_t{1} << 31)) fail(path, "", "larger than 2 GB: not a benchmark result");
    std::ifstream in(path);
    std::stringstream ss;
    ss << in.rdbuf();
    return ss.str();
}

json parse_text(const std::string& text, const std::string& path) {
    json j = parse_json_input<ScenarioError>(text, path);
    if (!j.is_object()) {
        fail(path, "", "expected a JSON object (a `vllm bench serve --save-result` file, GuideLLM's benchmarks.json or "
                       "AIPerf's profile_export_aiperf.json)");
    }
    return j;
}

// `path` with the key `k` below it ("a.b" and "c": "a.b.c"; "" and "c": "c").
std::string dotted(const std::string& path, const char* k) {
    return path.empty() ? std::string(k) : path + '.' + k;
}

// j[k1][k2]... named by its dotted path; missing or not an object on the way: one error naming it.
const json& at(const json& j, const std::string& file, const std::string& base, std::initializer_list<const char*> keys) {
    const json* cur = &j;
    std::string path = base;
    for (const char* k : keys) {
        if (!cur->is_object()) fail(file, path, "expected an object");
        path = dotted(path, k);
        if (!cur->contains(k) || (*cur)[k].is_null()) fail(file, path, "missing");
        cur = &(*cur)[k];
    }
    return *cur;
}

// A number at a dotted path, within [lo, hi].
double number_at(const json& j, const std::string& file, const std::string& base, std::initializer_list<const char*> keys,
                 double lo, double hi) {
    const json& v = at(j, file, base, keys);
    std::string path = base;
    for (const char* k : keys) path = dotted(path, k);
    if (!v.is_number()) fail(file, path, fmt::format("expected a number, got {}", v.dump()));
    const double x = v.get<double>();
    if (!std::isfinite(x) || x < lo || x > hi) fail(file, path, fmt::format("{} is out of range [{:g}, {:g}]", v.dump(), lo, hi));
    return x;
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

namespace {

BenchResult vllm_result(const json& j, const std::string& path) {
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

// GuideLLM's percentile keys and the names headroom compares them under.
const std::pair<const char*, const char*> GUIDELLM_PERCENTILES[] = {{"p90", "p90"}, {"p95", "p95"}, {"p99", "p99"}, {"p999", "p99.9"}};

BenchResult guidellm_result(const json& j, const std::string& path, int index) {
    BenchResult r;
    r.file = path;
    r.tool = "GuideLLM";
    const json& all = j["benchmarks"];
    if (!all.is_array() || all.empty()) fail(path, "benchmarks", "expected a non-empty list of benchmarks");
    auto strategy_of = [&](size_t i) -> const json& {
        const json& b = all[i];
        const std::string base = fmt::format("benchmarks[{}]", i);
        if (b.is_object() && b.contains("config") && b["config"].is_object() && b["config"].contains("strategy")) {
            return at(b, path, base, {"config", "strategy"});
        }
        return at(b, path, base, {"args", "strategy"});  // reports before GuideLLM 0.4
    };
    auto label_of = [&](size_t i) {
        const json& st = strategy_of(i);
        const std::string type = st.value("type_", std::string("?"));
        if (st.contains("rate") && st["rate"].is_number()) return fmt::format("{}@{:g}/s", type, st["rate"].get<double>());
        if (st.contains("streams") && st["streams"].is_number()) return fmt::format("{}@{}", type, st["streams"].dump());
        return type;
    };
    if (index < 0 && all.size() > 1) {
        std::string list;
        for (size_t i = 0; i < all.size(); ++i) list += fmt::format("{}{}: {}", list.empty() ? "" : ", ", i, label_of(i));
        fail(path, "benchmarks", fmt::format("holds {} benchmarks ({}); choose one with --benchmark I", all.size(), list));
    }
    const size_t i = index < 0 ? 0 : static_cast<size_t>(index);
    if (i >= all.size()) fail(path, "benchmarks", fmt::format("has {} benchmarks, no benchmark {}", all.size(), index));
    const json& b = all[i];
    const std::string base = fmt::format("benchmarks[{}]", i);
    if (all.size() > 1) r.selected = fmt::format("benchmark {} of {}: {}", i, all.size(), label_of(i));
    // the load: synchronous is one request at a time; concurrent keeps `streams` in flight; throughput sends all
    // at once; constant and poisson send at `rate`
    const json& st = strategy_of(i);
    const std::string sbase = base + (b.contains("config") ? ".config.strategy" : ".args.strategy");
    if (!st.contains("type_") || !st["type_"].is_string()) fail(path, sbase + ".type_", "missing");
    const std::string type = st["type_"].get<std::string>();
    if (type == "synchronous") {
        r.max_concurrency = 1;
    } else if (type == "concurrent") {
        const double streams = number_at(st, path, sbase, {"streams"}, 1, 1e6);
        if (streams != std::floor(streams)) fail(path, sbase + ".streams", "a whole number of streams");
        r.max_concurrency = static_cast<int64_t>(streams);
    } else if (type == "throughput") {
        if (st.contains("max_concurrency") && st["max_concurrency"].is_number()) {
            r.max_concurrency = static_cast<int64_t>(number_at(st, path, sbase, {"max_concurrency"}, 1, 1e6));
        }
    } else if (type == "constant" || type == "poisson") {
        r.request_rate = number_at(st, path, sbase, {"rate"}, 1e-6, 1e6);
        r.burstiness = type == "constant" ? std::numeric_limits<double>::infinity() : 1.0;
        if (st.contains("max_concurrency") && st["max_concurrency"].is_number()) {
            r.max_concurrency = static_cast<int64_t>(number_at(st, path, sbase, {"max_concurrency"}, 1, 1e6));
        }
    } else {
        fail(path, sbase + ".type_", fmt::format("unknown strategy \"{}\" (synchronous, concurrent, throughput, constant, poisson)", type));
    }
    const std::string m = base + ".metrics";
    const json& metrics = at(b, path, base, {"metrics"});
    auto total = [&](const char* k) {
        const double x = number_at(metrics, path, m, {"request_totals", k}, 0, 1e9);
        if (x != std::floor(x)) fail(path, m + ".request_totals." + k, "a whole number of requests");
        return static_cast<int64_t>(x);
    };
    r.completed = total("successful");
    r.failed = total("incomplete") + total("errored");
    r.num_prompts = total("total");
    if (r.completed == 0) fail(path, m + ".request_totals.successful", "0: no request completed, nothing to compare");
    if (r.completed + r.failed > r.num_prompts) fail(path, m + ".request_totals.total", "fewer than successful + incomplete + errored");
    if (b.contains("duration") && b["duration"].is_number()) {
        r.duration_s = number_at(b, path, base, {"duration"}, 0, 1e9);
    } else {
        r.duration_s = number_at(b, path, base, {"scheduler_metrics", "measure_end_time"}, 0, 1e12) -
                       number_at(b, path, base, {"scheduler_metrics", "measure_start_time"}, 0, 1e12);
    }
    r.request_throughput = number_at(metrics, path, m, {"requests_per_second", "successful", "mean"}, 0, 1e9);
    r.output_throughput = number_at(metrics, path, m, {"output_tokens_per_second", "successful", "mean"}, 0, 1e12);
    r.mean_input_tokens = number_at(metrics, path, m, {"prompt_token_count", "successful", "mean"}, 1, 1e7);
    r.mean_output_tokens = number_at(metrics, path, m, {"output_token_count", "successful", "mean"}, 0, 1e7);
    // (GuideLLM metric, headroom metric, seconds per unit): its ITL is vLLM's TPOT; request latency is in seconds
    const std::tuple<const char*, const char*, double> dists[] = {{"time_to_first_token_ms", "ttft", 1e-3},
                                                                  {"inter_token_latency_ms", "tpot", 1e-3},
                                                                  {"request_latency", "e2el", 1.0}};
    for (const auto& [key, metric, scale] : dists) {
        if (!metrics.contains(key)) continue;
        const json& d = at(metrics, path, m, {key, "successful"});
        const std::string dbase = m + "." + key + ".successful";
        r.stats.emplace_back(metric, "mean", number_at(d, path, dbase, {"mean"}, 0, 1e12) * scale);
        r.stats.emplace_back(metric, "median", number_at(d, path, dbase, {"median"}, 0, 1e12) * scale);
        for (const auto& [k, name] : GUIDELLM_PERCENTILES) {
            if (d.contains("percentiles") && d["percentiles"].contains(k)) {
                r.stats.emplace_back(metric, name, number_at(d, path, dbase, {"percentiles", k}, 0, 1e12) * scale);
            }
        }
    }
    if (r.stats.empty()) fail(path, m + ".time_to_first_token_ms", "missing: no latency distributions in the benchmark");
    return r;
}

// AIPerf's time units, in seconds.
double aiperf_scale(const std::string& unit, const std::string& file, const std::string& field) {
    if (unit == "ms") return 1e-3;
    if (unit == "s" || unit == "sec") return 1.0;
    if (unit == "us") return 1e-6;
    if (unit == "ns") return 1e-9;
    fail(file, field + ".unit", fmt::format("unknown time unit \"{}\" (ms, s, sec, us, ns)", unit));
}

BenchResult aiperf_result(const json& j, const std::string& path) {
    BenchResult r;
    r.file = path;
    r.tool = "AIPerf";
    auto avg = [&](const char* metric, double lo, double hi) { return number_at(j, path, "", {metric, "avg"}, lo, hi); };
    if (j.contains("input_config") && j["input_config"].is_object()) {
        const json& ic = j["input_config"];
        if (ic.contains("endpoint") && ic["endpoint"].is_object() && ic["endpoint"].contains("model_names")) {
            const json& names = ic["endpoint"]["model_names"];
            if (!names.is_array() || names.empty() || !names[0].is_string()) fail(path, "input_config.endpoint.model_names", "expected a list of model names");
            r.model_id = names[0].get<std::string>();
        }
        if (ic.contains("loadgen") && ic["loadgen"].is_object()) {
            const json& lg = ic["loadgen"];
            if (lg.contains("concurrency") && !lg["concurrency"].is_null()) {
                const double c = number_at(lg, path, "input_config.loadgen", {"concurrency"}, 1, 1e6);
                if (c != std::floor(c)) fail(path, "input_config.loadgen.concurrency", "a whole number of requests in flight");
                r.max_concurrency = static_cast<int64_t>(c);
            }
            if (lg.contains("request_rate") && !lg["request_rate"].is_null()) {
                r.request_rate = number_at(lg, path, "input_config.loadgen", {"request_rate"}, 1e-6, 1e6);
                const std::string mode = lg.value("request_rate_mode", std::string("poisson"));
                if (mode == "constant") r.burstiness = std::numeric_limits<double>::infinity();
            }
        }
    }
    const double count = avg("request_count", 1, 1e9);
    if (count != std::floor(count)) fail(path, "request_count.avg", "a whole number of requests");
    r.completed = static_cast<int64_t>(count);
    if (j.contains("error_request_count") && !j["error_request_count"].is_null()) {
        const json& e = j["error_request_count"];
        r.failed = static_cast<int64_t>(e.is_object() ? avg("error_request_count", 0, 1e9) : number(j, path, "error_request_count", 0, 1e9));
    }
    r.num_prompts = r.completed + r.failed;
    r.duration_s = avg("benchmark_duration", 0, 1e9);
    r.request_throughput = avg("request_throughput", 0, 1e9);
    r.output_throughput = avg("output_token_throughput", 0, 1e12);
    r.mean_input_tokens = avg("input_sequence_length", 1, 1e7);
    r.mean_output_tokens = avg("output_sequence_length", 0, 1e7);
    // its per-request inter_token_latency is vLLM's TPOT; inter-chunk gaps are not in the aggregate
    const std::pair<const char*, const char*> dists[] = {{"time_to_first_token", "ttft"}, {"inter_token_latency", "tpot"},
                                                         {"request_latency", "e2el"}};
    for (const auto& [key, metric] : dists) {
        if (!j.contains(key) || j[key].is_null()) continue;
        const json& d = j[key];
        if (!d.is_object() || !d.contains("unit") || !d["unit"].is_string()) fail(path, std::string(key) + ".unit", "missing");
        const double scale = aiperf_scale(d["unit"].get<std::string>(), path, key);
        r.stats.emplace_back(metric, "mean", number_at(d, path, key, {"avg"}, 0, 1e15) * scale);
        if (d.contains("p50")) r.stats.emplace_back(metric, "median", number_at(d, path, key, {"p50"}, 0, 1e15) * scale);
        for (const char* p : {"p90", "p95", "p99"}) {
            if (d.contains(p)) r.stats.emplace_back(metric, p, number_at(d, path, key, {p}, 0, 1e15) * scale);
        }
    }
    if (r.stats.empty()) fail(path, "time_to_first_token", "missing: no latency statistics in the file");
    return r;
}

}  // namespace

BenchResult read_vllm_bench_result(const std::string& path) { return vllm_result(parse_text(read_text(path), path), path); }

BenchResult read_bench_result(const std::string& path, int benchmark) { return parse_bench_result(read_text(path), path, benchmark); }

BenchResult parse_bench_result(const std::string& text, const std::string& path, int benchmark) {
    const json j = parse_text(text, path);
    if (j.contains("benchmarks")) return guidellm_result(j, path, benchmark);
    if (benchmark >= 0) fail(path, "benchmarks", "missing: --benchmark picks one of a GuideLLM report's benchmarks");
    if (j.contains("request_count") || j.contains("input_config")) return aiperf_result(j, path);
    for (const char* k : {"num_prompts", "model_id", "request_rate", "completed", "mean_ttft_ms"}) {
        if (j.contains(k)) return vllm_result(j, path);  // vLLM's reader names what is missing
    }
    fail(path, "", "not a result file headroom reads: expected `vllm bench serve --save-result` JSON (num_prompts), "
                   "GuideLLM's benchmarks.json (benchmarks) or AIPerf's profile_export_aiperf.json (request_count)");
}

AgainstResult validate_against(const AgainstRequest& rq) {
    AgainstResult out;
    out.measured = read_bench_result(rq.result_path, rq.benchmark);
    const BenchResult& m = out.measured;
    std::vector<std::string> overrides = rq.overrides;
    if (!rq.gpu.empty()) {
        overrides.push_back("gpu=" + rq.gpu);
    } else if (rq.scenario_path.empty()) {
        fail("", "gpu", "missing (a benchmark result does not record the GPU that served it: name it, or give a scenario)");
    }
    const std::string model = !rq.model.empty() ? rq.model : m.model_id;
    // where the file names its model: vLLM's model_id, AIPerf's model_names; GuideLLM's report names none
    const std::string model_field = m.tool == "AIPerf" ? "input_config.endpoint.model_names" : m.tool == "GuideLLM" ? "model" : "model_id";
    if (model.empty()) fail(m.file, model_field, "missing; name the model with --model");
    if (rq.model.empty()) {  // the result's model name is often a path on the benchmark machine
        try {
            (void)load_model(m.model_id);
        } catch (const InputError& e) {
            fail(m.file, model_field, fmt::format("{} cannot be read here ({}); name the model with --model (a shipped "
                                                 "name, a config.json or its directory)", m.model_id, e.reason()));
        }
    }
    overrides.push_back("model=" + model);
    out.scenario = load_scenario(rq.scenario_path, overrides);
    Scenario& sc = out.scenario;
    sc.name = "against-" + std::filesystem::path(m.file).stem().string();
    sc.seed = rq.seed;
    // The load the client offered: vLLM's gaps are gamma with shape `burstiness` (CV 1 / sqrt(burstiness));
    // GuideLLM's and AIPerf's constant rate is an infinite shape.
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
    } else if (std::isinf(m.burstiness)) {
        w.arrival = "constant";
        w.rate = m.request_rate;
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
                                        "has no per-request lengths{})",
                                        std::max(1.0, std::round(m.mean_input_tokens)),
                                        std::max(1.0, std::round(m.mean_output_tokens)),
                                        m.tool == "vllm bench serve" ? ": save it with --save-detailed" : ""));
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

AgainstSweep validate_against_sweep(const std::vector<AgainstRequest>& reqs) {
    AgainstSweep out;
    for (const AgainstRequest& rq : reqs) out.runs.push_back(validate_against(rq));
    auto load_of = [](const AgainstResult& r) {
        const WorkloadSpec& w = r.scenario.workload;
        return w.arrival == "closed_loop" ? static_cast<double>(w.users) : w.rate;
    };
    const bool users = out.runs.front().scenario.workload.arrival == "closed_loop";
    for (const AgainstResult& r : out.runs) {
        const bool u = r.scenario.workload.arrival == "closed_loop";
        if (u != users || r.scenario.workload.arrival == "batch") {
            fail(r.measured.file, "", "a sweep needs every file at a request rate, or every file at a concurrency");
        }
    }
    std::sort(out.runs.begin(), out.runs.end(), [&](const AgainstResult& a, const AgainstResult& b) { return load_of(a) < load_of(b); });
    for (size_t i = 1; i < out.runs.size(); ++i) {
        if (load_of(out.runs[i]) == load_of(out.runs[i - 1])) {
            fail(out.runs[i].measured.file, "", fmt::format("the same load as {} ({:g})", out.runs[i - 1].measured.file, load_of(out.runs[i])));
        }
    }
    out.concurrency = users;
    // the tail: the first TTFT statistic of p95, p99, p90, median that every file holds
    for (const char* stat : {"p95", "p99", "p90", "median"}) {
        bool all = true;
        for (const AgainstResult& r : out.runs) {
            bool has = false;
            for (const Comparison& c : r.rows) has = has || c.metric == std::string("TTFT ") + stat;
            all = all && has;
        }
        if (all) {
            out.ttft_stat = stat;
            break;
        }
    }
    std::vector<double> x, yp, ym, zp, zm;
    for (const AgainstResult& r : out.runs) {
        x.push_back(load_of(r));
        for (const Comparison& c : r.rows) {
            if (c.metric == "output throughput") {
                yp.push_back(c.predicted);
                ym.push_back(c.measured);
            }
            if (!out.ttft_stat.empty() && c.metric == "TTFT " + out.ttft_stat) {
                zp.push_back(c.predicted);
                zm.push_back(c.measured);
            }
        }
    }
    if (zp.size() != x.size()) zp = zm = std::vector<double>(x.size(), 0.0);  // no common TTFT statistic
    out.loads = x;
    out.predicted = detect_knee(x, yp, zp);
    out.measured = detect_knee(x, ym, zm);
    return out;
}

std::string validate_against_knee_json(const AgainstSweep& s) {
    auto knee = [](const Knee& k) { return k.found ? json(k.load) : json(nullptr); };
    json j;
    j["schema"] = "headroom.validate-against-knee/1";
    j["load_kind"] = s.concurrency ? "concurrency" : "qps";
    j["loads"] = s.loads;
    j["tail"] = s.ttft_stat.empty() ? json(nullptr) : json("TTFT " + s.ttft_stat);
    j["predicted_knee"] = knee(s.predicted);
    j["measured_knee"] = knee(s.measured);
    j["predicted_knee_note"] = s.predicted.note;
    j["measured_knee_note"] = s.measured.note;
    return j.dump();
}

std::string validate_against_json(const AgainstResult& r) {
    json j;
    j["schema"] = "headroom.validate-against/1";
    j["against"] = r.measured.file;
    j["tool"] = r.measured.tool;
    if (!r.measured.selected.empty()) j["benchmark"] = r.measured.selected;
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
