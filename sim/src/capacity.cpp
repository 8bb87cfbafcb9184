// Capacity planning by search on rate and replicas (see capacity.hpp).
#include "headroom/sim/capacity.hpp"

#include <fmt/format.h>
#include <unistd.h>

#include <nlohmann/json.hpp>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <map>
#include <regex>
#include <stdexcept>

#include "headroom/hardware/profile_loader.hpp"
#include "headroom/models/config_loader.hpp"
#include "headroom/sim/sweep.hpp"

namespace headroom {

namespace {

constexpr double BISECT_RATIO = 1.12;    // stop bisecting when hi / lo is below this
constexpr double MAX_UP = 4.0;           // probe up to 4x the target on one replica
constexpr double MIN_DOWN = 1.0 / 512;   // give up below target / 512
constexpr double IDLE_POWER_SHARE = 0.3;  // estimate: a GPU draws ~30% of TDP when idle

struct Search {
    CapacityCandidate c;
    double lo = 0.0;     // highest rate known to meet every SLO
    double hi = 0.0;     // lowest rate known to miss (0: none yet)
    double probe = 0.0;  // next rate to simulate (0: done)
    bool dead = false;
    std::string why_dead;
};

std::vector<std::string> base_overrides(const CapacityRequest& req) {
    std::vector<std::string> o = req.overrides;
    if (req.workload_path.empty()) o.push_back("workload.shape=single");
    o.push_back("model=" + req.model_spec);
    // the plan takes the workload of a scenario, not its layout: its candidates are TP replicas
    for (const char* layout : {"pp=1", "data_parallel=1", "expert_parallel=false", "expert_imbalance=0"}) o.push_back(layout);
    // A workload's moe_routing describes its own MoE model's router: a dense model of the plan drops it (null: the
    // default). A model that does not load is left to the scenario's reader to report.
    try {
        if (!load_model(req.model_spec).is_moe()) o.push_back("moe_routing=~");
    } catch (const std::exception&) {
    }
    return o;
}

// The base workload (loaded once) with the GPU profiles of the plan (each loaded once): every candidate and
// rate is a typed edit of the base.
class Candidates {
public:
    Candidates(const CapacityRequest& req, Scenario base, SpeculativeConfig spec)
        : req_(req), base_(std::move(base)), spec_(std::move(spec)) {}
    const Scenario& base() const { return base_; }
    const GpuProfile& gpu(const std::string& name) {
        auto it = gpus_.find(name);
        if (it == gpus_.end()) it = gpus_.emplace(name, scenario_gpu(base_, name)).first;  // a bad name: input error
        return it->second;
    }
    Scenario make(const CapacityCandidate& c, double rate, int64_t replicas) {
        Scenario sc = base_;
        set_gpu(sc, c.gpu, gpu(c.gpu));
        if (sc.deployment.gpu.name !=
            base_.deployment.gpu.name) {  // the workload's calibration and tables are its GPU's
            sc.deployment.calibration = nullptr;
            sc.deployment.kernel_tables = nullptr;
        }
        sc.deployment.tp = c.tp;
        sc.deployment.pp = c.pp;
        sc.deployment.weight_dtype = c.weight_dtype;
        sc.deployment.kv_dtype = c.kv_dtype;
        // the candidate's budget is its GPU's default unless the workload set one or the search tries another;
        // only then does it bind a prefill pool on another GPU too
        sc.engine.max_num_batched_tokens_set =
            base_.engine.max_num_batched_tokens_set || c.max_num_batched_tokens != sc.engine.max_num_batched_tokens;
        sc.engine.max_num_batched_tokens = c.max_num_batched_tokens;
        sc.engine.speculative = c.speculative ? spec_ : SpeculativeConfig{};
        set_load(sc, LoadKind::QPS, rate);
        if (req_.duration_s > 0 || sc.workload.arrival != "trace") sc.workload.duration_s = req_.duration_s > 0 ? req_.duration_s : 60.0;
        sc.deployment.replicas = replicas;
        sc.deployment.router = "least_outstanding";
        if (!req_.slos.empty()) sc.slos = req_.slos;
        if (c.prefill_replicas > 0) {  // the pools: the candidate's GPU and TP, the workload's KV link
            DisaggregationSpec& d = sc.disaggregation;
            const std::string& pg = c.prefill_gpu.empty() ? c.gpu : c.prefill_gpu;
            const int64_t ptp = c.prefill_tp > 0 ? c.prefill_tp : c.tp;
            if (!d.enabled) {  // the assumed link: one NIC per TP rank on the side with fewer ranks
                d = DisaggregationSpec{};
                d.enabled = true;
                d.link_bytes_per_s = DEFAULT_KV_LINK_GB_PER_S * 1e9 * static_cast<double>(std::min(ptp, c.tp));
                d.link_latency_s = DEFAULT_KV_LINK_LATENCY_US * 1e-6;
            }
            d.prefill.gpu_spec = pg;
            d.prefill.gpu = gpu(pg);
            d.prefill.tp = ptp;
            d.prefill.replicas = c.prefill_replicas;
        } else {
            sc.disaggregation = {};
        }
        // candidates of other GPUs do not fit the workload's cluster: only its KV network stays
        sc.cluster = sc.disaggregation.cluster;
        sc.cluster_spec = sc.disaggregation.cluster_spec;
        sc.cluster_field = "disaggregation.cluster";
        check_scenario(sc);
        return sc;
    }

private:
    const CapacityRequest& req_;
    Scenario base_;
    SpeculativeConfig spec_;
    std::map<std::string, GpuProfile> gpus_;
};

// The plan's base workload and the speculative decoding its "speculative" candidates run (the scenario's own
// block, or default_speculative when asked to try it); input errors surface here.
struct PlanBase {
    Scenario scenario;
    SpeculativeConfig speculative;
    bool speculative_assumed = false;
};
PlanBase plan_base(const CapacityRequest& req) {
    PlanBase b{load_scenario(req.workload_path, base_overrides(req)), {}, false};
    if (b.scenario.engine.speculative.enabled()) {
        b.speculative = b.scenario.engine.speculative;
    } else if (req.try_speculative && !b.scenario.deployment.model.is_encoder) {
        b.speculative = default_speculative(b.scenario, &b.speculative_assumed);
    }
    return b;
}

// A simulation the plan asks for: a candidate at a rate on a number of replicas.
struct Probe {
    CapacityCandidate c;
    double rate = 0.0;
    int64_t replicas = 1;
};

// A candidate starts with the workload's own token budget, or vLLM's default for its GPU where the workload
// sets none (the refinement step tries others).
CapacityCandidate candidate(const Scenario& base, const GpuProfile& gpu, int64_t tp, std::optional<Dtype> w, Dtype kv,
                            int64_t pp = 1) {
    CapacityCandidate c;
    c.gpu = gpu.name;
    c.tp = tp;
    c.pp = pp;
    c.weight_dtype = w;
    c.weights = base.deployment.model.weights(w).short_label();
    c.kv_dtype = kv;
    c.max_num_batched_tokens = with_vllm_defaults(base.engine, gpu).max_num_batched_tokens;
    return c;
}

bool meets(const SimulationResult& r) { return r.summary.completed > 0 && r.summary.rejected == 0 && r.summary.slos_met; }

}  // namespace

std::string CapacityCandidate::layout() const { return pp > 1 ? fmt::format("TP{} x PP{}", tp, pp) : fmt::format("TP{}", tp); }

std::string CapacityCandidate::label() const {
    return fmt::format("{}{} x {} {} w:{} kv:{} budget {}{}",
                       prefill_replicas > 0 ? fmt::format("{} x {} TP{} prefill + ", prefill_replicas, prefill_gpu.empty() ? gpu : prefill_gpu,
                                                          prefill_tp > 0 ? prefill_tp : tp)
                                            : "",
                       replicas, gpu, layout(), weights,
                       dtype_name(kv_dtype), max_num_batched_tokens, speculative ? " speculative" : "");
}

CapacityPlan plan_capacity(const CapacityRequest& req, const std::function<void(size_t, size_t)>& progress) {
    const auto t0 = std::chrono::steady_clock::now();
    CapacityPlan plan;
    const int jobs = req.jobs > 0 ? req.jobs : static_cast<int>(std::max<long>(1, sysconf(_SC_NPROCESSORS_ONLN)));
    size_t done = 0, planned = 0;
    PlanBase pb = plan_base(req);
    plan.speculative = pb.speculative;
    plan.speculative_assumed = pb.speculative_assumed;
    Candidates cands(req, std::move(pb.scenario), plan.speculative);
    // Simulates a batch of probes here (forked children) or on the remote runner (by probe recipe), in order.
    auto run = [&](const std::vector<Probe>& probes) {
        planned += probes.size();
        const size_t base = done;
        std::vector<SimulationResult> r;
        if (req.remote) {
            std::vector<std::string> recipes;
            for (const Probe& p : probes) recipes.push_back(plan_probe_json(req, p.c, p.rate, p.replicas));
            const std::vector<std::string> bytes = req.remote(recipes);
            if (bytes.size() != probes.size()) {
                throw std::runtime_error(fmt::format("the remote runner returned {} results for {} simulations", bytes.size(), probes.size()));
            }
            for (const std::string& b : bytes) r.push_back(deserialize_result(b));
            done = base + probes.size();
            if (progress) progress(done, planned);
        } else {
            std::vector<Scenario> runs;
            for (const Probe& p : probes) runs.push_back(cands.make(p.c, p.rate, p.replicas));
            r = simulate_many(runs, {}, jobs, [&](size_t k) {
                done = base + k;
                if (progress) progress(done, planned);
            });
        }
        plan.simulations += static_cast<int64_t>(probes.size());
        return r;
    };
    const Scenario& base = cands.base();
    std::vector<bool> spec_choices = {false};
    if (plan.speculative.enabled()) spec_choices.push_back(true);

    // 1. Candidates: per GPU and dtype pair, the smallest layout that fits and the next: TP 1, 2, 4 and 8 in one
    //    node, then TP 8 with 2 and 4 pipeline stages across nodes (vLLM's multi-node layout).
    const std::pair<int64_t, int64_t> layouts[] = {{1, 1}, {2, 1}, {4, 1}, {8, 1}, {8, 2}, {8, 4}};
    std::vector<Search> searches;
    for (const std::string& gpu_name : req.gpus) {
        const GpuProfile& gpu = cands.gpu(gpu_name);  // a bad name is an input error
        // the weights as shipped, and fp8 where the checkpoint is unquantised and wider (vLLM quantises a 16-bit
        // checkpoint to fp8 when it loads it; a quantised one runs in its own format)
        std::vector<std::optional<Dtype>> weight_choices = {std::nullopt};
        const WeightScheme& shipped = base.deployment.model.shipped;
        if (shipped.method.empty() && shipped.attention.bytes_per_weight > dtype_bytes(Dtype::FP8)) weight_choices.push_back(Dtype::FP8);
        for (const std::optional<Dtype>& w : weight_choices) {
            for (Dtype kv : {Dtype::BF16, Dtype::FP8}) {
                std::vector<std::pair<int64_t, int64_t>> fits;
                std::string why;
                for (const auto& [tp, pp] : layouts) {
                    try {  // PlanError: does not fit; ScenarioError (tp): TP does not divide the heads
                        (void)scenario_kv_plan(cands.make(candidate(base, gpu, tp, w, kv, pp), req.qps, 1));
                        fits.emplace_back(tp, pp);
                        if (fits.size() == 2) break;
                    } catch (const PlanError& e) {
                        if (fits.empty()) why = e.reason();
                    } catch (const ScenarioError& e) {  // the base loaded cleanly: only the candidate's layout is off
                        if (fits.empty()) why = e.reason();
                    }
                }
                if (fits.empty()) {
                    plan.skipped.push_back(fmt::format("{} w:{} kv:{}: does not fit up to TP 8 x PP 4 ({})", gpu.name,
                                                       base.deployment.model.weights(w).short_label(), dtype_name(kv), why));
                    continue;
                }
                for (const auto& [tp, pp] : fits) {
                    for (bool sp : spec_choices) {
                        Search s;
                        s.c = candidate(base, gpu, tp, w, kv, pp);
                        s.c.speculative = sp;
                        s.probe = req.qps;
                        searches.push_back(s);
                    }
                }
            }
        }
    }
    if (searches.empty()) return plan;
    plan.base = cands.make(searches.front().c, req.qps, 1);

    // 2. Per candidate, the highest rate one replica sustains: double or halve to bracket it, then bisect.
    for (;;) {
        std::vector<Probe> runs;
        std::vector<size_t> who;
        for (size_t i = 0; i < searches.size(); ++i) {
            if (searches[i].probe > 0) {
                runs.push_back({searches[i].c, searches[i].probe, 1});
                who.push_back(i);
            }
        }
        if (runs.empty()) break;
        const auto results = run(runs);
        for (size_t k = 0; k < results.size(); ++k) {
            Search& s = searches[who[k]];
            const double r = s.probe;
            if (meets(results[k])) s.lo = r;
            else s.hi = r;
            if (s.hi == 0.0) {
                s.probe = r * 2 <= req.qps * MAX_UP ? r * 2 : 0.0;  // still meeting: go up, up to 4x the target
            } else if (s.lo == 0.0) {
                s.probe = r / 2 >= req.qps * MIN_DOWN ? r / 2 : 0.0;  // still missing: go down
                if (s.probe == 0.0) {
                    s.dead = true;
                    s.why_dead = fmt::format("misses the SLOs even at {:.3g}/s on one replica", r);
                }
            } else {
                s.probe = s.hi / s.lo > BISECT_RATIO ? std::sqrt(s.lo * s.hi) : 0.0;
            }
        }
    }

    // 3. Replicas for the target rate, verified on the whole fleet, one more until it holds (3 tries).
    for (Search& s : searches) {
        if (s.dead) continue;
        s.c.sustained_rate_per_replica = s.lo;
        s.c.replicas = std::max<int64_t>(1, static_cast<int64_t>(std::ceil(req.qps / s.lo - 1e-9)));
    }
    for (int attempt = 0; attempt < 3; ++attempt) {
        std::vector<Probe> runs;
        std::vector<size_t> who;
        for (size_t i = 0; i < searches.size(); ++i) {
            Search& s = searches[i];
            if (s.dead || s.c.meets) continue;
            runs.push_back({s.c, req.qps, s.c.replicas});
            who.push_back(i);
        }
        if (runs.empty()) break;
        const auto results = run(runs);
        for (size_t k = 0; k < results.size(); ++k) {
            Search& s = searches[who[k]];
            s.c.at_target = results[k];
            s.c.meets = meets(results[k]);
            if (!s.c.meets) ++s.c.replicas;
        }
    }

    // Costs, headroom and the energy estimate of a verified fleet.
    auto finish = [&](CapacityCandidate& c) {
        const Scenario sc = cands.make(c, req.qps, c.replicas);
        const Summary& m = c.at_target.summary;
        c.usd_per_hour = fleet_usd_per_hour(sc);
        c.usd_per_mtok = m.usd_per_mtok;
        c.tokens_per_s_per_gpu = m.output_tokens_per_s_per_gpu;
        c.headroom_rate = static_cast<double>(c.replicas) * c.sustained_rate_per_replica;
        const double watts = sc.deployment.gpu.tdp_w.value * (IDLE_POWER_SHARE + (1 - IDLE_POWER_SHARE) * m.busy_fraction);
        c.joules_per_token = m.output_tokens > 0
                                 ? static_cast<double>(m.gpus) * watts * m.duration_s / static_cast<double>(m.output_tokens)
                                 : 0.0;
    };
    auto rank = [&] {
        std::stable_sort(plan.ranked.begin(), plan.ranked.end(), [](const CapacityCandidate& a, const CapacityCandidate& b) {
            if (a.meets != b.meets) return a.meets;
            if (a.usd_per_hour != b.usd_per_hour) return a.usd_per_hour < b.usd_per_hour;
            return a.usd_per_mtok < b.usd_per_mtok;
        });
    };
    for (Search& s : searches) {
        if (s.dead) {
            plan.skipped.push_back(fmt::format("{} {} w:{} kv:{}{}: {}", s.c.gpu, s.c.layout(), s.c.weights, dtype_name(s.c.kv_dtype), s.c.speculative ? " speculative" : "", s.why_dead));
            continue;
        }
        if (!s.c.meets) --s.c.replicas;  // the last verified fleet
        finish(s.c);
        plan.ranked.push_back(s.c);
    }
    rank();

    // 4. The token budget: can the best fleets drop a replica with a quarter of, or twice, the budget?
    std::vector<Probe> runs;
    std::vector<CapacityCandidate> alternatives;
    for (size_t i = 0; i < plan.ranked.size() && i < 3; ++i) {
        const CapacityCandidate& c = plan.ranked[i];
        if (!c.meets || c.replicas < 2) continue;
        for (int64_t budget : {std::max<int64_t>(512, c.max_num_batched_tokens / 4), c.max_num_batched_tokens * 2}) {
            CapacityCandidate alt = c;
            alt.max_num_batched_tokens = budget;
            alt.replicas = c.replicas - 1;
            runs.push_back({alt, req.qps, alt.replicas});
            alternatives.push_back(alt);
        }
    }
    if (!runs.empty()) {
        const auto results = run(runs);
        for (size_t k = 0; k < results.size(); ++k) {
            if (!meets(results[k])) continue;
            CapacityCandidate alt = alternatives[k];
            alt.at_target = results[k];
            alt.meets = true;
            // its replica's rate was bisected at the other budget; the fleet just held the target with one
            // replica fewer, so each replica sustains at least its share of it
            alt.sustained_rate_per_replica = std::max(alt.sustained_rate_per_replica, req.qps / static_cast<double>(alt.replicas));
            finish(alt);
            plan.ranked.push_back(alt);
        }
        rank();
    }
    // 5. Disaggregated: the best colocated fleets' GPU and TP as a prefill and a decode pool, every split of as
    //    many replicas or up to two fewer, each simulated at the target rate.
    if (req.try_disaggregated && !base.deployment.model.is_encoder) {
        const DisaggregationSpec& given = base.disaggregation;
        plan.disaggregated_link = given.enabled && given.cluster ? "cluster " + given.cluster->spec().name
                                  : given.enabled ? fmt::format("an ideal link of {:g} GB/s, {:g} us", given.link_bytes_per_s / 1e9,
                                                                given.link_latency_s * 1e6)
                                                  : fmt::format("an ideal link of {:g} GB/s per TP rank, {:g} us (assumed: no "
                                                                "disaggregation block in the workload)",
                                                                DEFAULT_KV_LINK_GB_PER_S, DEFAULT_KV_LINK_LATENCY_US);
        std::vector<Probe> splits;
        std::vector<std::string> seen;
        for (const CapacityCandidate& c : plan.ranked) {  // meeting fleets first; a split may meet where none does
            if (c.prefill_replicas > 0 || c.speculative || c.pp > 1) continue;  // pools of TP replicas
            const std::string key = fmt::format("{} {} {}", c.gpu, c.tp, c.weights);
            if (std::find(seen.begin(), seen.end(), key) != seen.end()) continue;
            seen.push_back(key);
            if (seen.size() > 3) break;
            // the prefill pool's GPU types: the fleet's own, and for the best fleet each other GPU of the plan at
            // its smallest TP that fits with the same dtypes
            std::vector<std::pair<std::string, int64_t>> prefill_on = {{"", 0}};
            if (seen.size() == 1) {
                for (const std::string& g : req.gpus) {
                    const std::string name = cands.gpu(g).name;
                    if (name == c.gpu) continue;
                    int64_t best_tp = 0;
                    for (const Search& x : searches) {
                        if (x.c.gpu == name && x.c.weights == c.weights && x.c.kv_dtype == c.kv_dtype && !x.c.speculative &&
                            x.c.pp == 1 && (best_tp == 0 || x.c.tp < best_tp)) {
                            best_tp = x.c.tp;
                        }
                    }
                    if (best_tp > 0) prefill_on.emplace_back(name, best_tp);
                }
            }
            for (const auto& [pg, ptp] : prefill_on) {
                for (int64_t total = std::max<int64_t>(2, c.replicas - 2); total <= std::max<int64_t>(2, c.replicas); ++total) {
                    for (int64_t p = 1; p < total; ++p) {
                        CapacityCandidate d = c;
                        d.prefill_replicas = p;
                        d.prefill_gpu = pg;
                        d.prefill_tp = ptp;
                        d.replicas = total - p;
                        d.meets = false;
                        try {
                            (void)cands.make(d, req.qps, d.replicas);
                        } catch (const InputError& e) {  // does not fit the workload's cluster, or the GPU
                            plan.skipped.push_back(fmt::format("{}: {}", d.label(), e.reason()));
                            continue;
                        }
                        splits.push_back({d, req.qps, d.replicas});
                    }
                }
            }
        }
        if (!splits.empty()) {
            const auto results = run(splits);
            for (size_t k = 0; k < results.size(); ++k) {
                CapacityCandidate d = splits[k].c;
                d.at_target = results[k];
                d.meets = meets(results[k]);
                d.sustained_rate_per_replica = 0.0;  // not searched: the split was simulated at the target only
                finish(d);
                plan.ranked.push_back(d);
            }
            rank();
        }
    }
    plan.wall_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    return plan;
}

std::string plan_probe_json(const CapacityRequest& req, const CapacityCandidate& c, double rate, int64_t replicas) {
    nlohmann::json slos = nlohmann::json::array();
    for (const SloTarget& t : req.slos) slos.push_back({{"metric", t.metric}, {"percentile", t.percentile}, {"threshold_s", t.threshold_s}});
    const nlohmann::json j = {
        {"plan_probe", 1},
        {"request", {{"model_spec", req.model_spec}, {"qps", req.qps}, {"slos", slos}, {"workload_path", req.workload_path},
                     {"overrides", req.overrides}, {"try_speculative", req.try_speculative}, {"duration_s", req.duration_s},
                     {"try_disaggregated", req.try_disaggregated}}},
        {"candidate", {{"gpu", c.gpu}, {"tp", c.tp}, {"pp", c.pp},
                       {"weight_dtype", c.weight_dtype ? nlohmann::json(std::string(dtype_name(*c.weight_dtype))) : nlohmann::json(nullptr)},
                       {"kv_dtype", std::string(dtype_name(c.kv_dtype))}, {"max_num_batched_tokens", c.max_num_batched_tokens},
                       {"speculative", c.speculative}, {"prefill_replicas", c.prefill_replicas},
                       {"prefill_gpu", c.prefill_gpu}, {"prefill_tp", c.prefill_tp}}},
        {"rate", rate},
        {"replicas", replicas}};
    return j.dump();
}

bool is_plan_probe(const std::string& text) {
    const nlohmann::json j = nlohmann::json::parse(text, nullptr, false);
    return j.is_object() && j.contains("plan_probe");
}

Scenario plan_probe_scenario(const std::string& text) {
    CapacityRequest req;
    CapacityCandidate c;
    double rate = 0.0;
    int64_t replicas = 1;
    try {
        const nlohmann::json j = nlohmann::json::parse(text);
        const nlohmann::json& r = j.at("request");
        req.model_spec = r.at("model_spec").get<std::string>();
        req.qps = r.at("qps").get<double>();
        for (const nlohmann::json& t : r.at("slos")) {
            req.slos.push_back({t.at("metric").get<std::string>(), t.at("percentile").get<double>(), t.at("threshold_s").get<double>()});
        }
        req.workload_path = r.at("workload_path").get<std::string>();
        req.overrides = r.at("overrides").get<std::vector<std::string>>();
        req.try_speculative = r.at("try_speculative").get<bool>();
        req.duration_s = r.at("duration_s").get<double>();
        req.try_disaggregated = r.value("try_disaggregated", false);
        const nlohmann::json& k = j.at("candidate");
        c.gpu = k.at("gpu").get<std::string>();
        c.tp = k.at("tp").get<int64_t>();
        c.pp = k.value("pp", int64_t{1});
        if (!k.at("weight_dtype").is_null()) {
            const auto w = parse_dtype(k.at("weight_dtype").get<std::string>());
            if (!w) throw std::invalid_argument("candidate.weight_dtype");
            c.weight_dtype = *w;
        }
        const auto kv = parse_dtype(k.at("kv_dtype").get<std::string>());
        if (!kv) throw std::invalid_argument("candidate.kv_dtype");
        c.kv_dtype = *kv;
        c.max_num_batched_tokens = k.at("max_num_batched_tokens").get<int64_t>();
        c.speculative = k.at("speculative").get<bool>();
        c.prefill_replicas = k.value("prefill_replicas", int64_t{0});
        c.prefill_gpu = k.value("prefill_gpu", std::string());
        c.prefill_tp = k.value("prefill_tp", int64_t{0});
        rate = j.at("rate").get<double>();
        replicas = j.at("replicas").get<int64_t>();
    } catch (const std::exception& e) {
        throw ScenarioError("<recipe>", "", fmt::format("not a plan probe recipe ({})", e.what()));
    }
    PlanBase pb = plan_base(req);
    Candidates cands(req, std::move(pb.scenario), pb.speculative);
    (void)cands.gpu(c.gpu);
    return cands.make(c, rate, replicas);
}

}  // namespace headroom
