// Saturation sweeps: expand, simulate in parallel, analyse each series.
#include "headroom/sim/sweep.hpp"

#include "headroom/sim/capacity.hpp"
#include "headroom/sim/format.hpp"

#include <fmt/format.h>
#include <nlohmann/json.hpp>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <map>

namespace headroom {

void set_load(Scenario& sc, LoadKind kind, double load) {
    WorkloadSpec& w = sc.workload;
    if (kind == LoadKind::CONCURRENCY) {
        const int64_t users = std::llround(load);
        if (users < 1 || users > MAX_USERS) {
            throw ScenarioError(sc.file, "workload.arrival.users", fmt::format("{} users is outside 1 .. {}", load, MAX_USERS));
        }
    } else if (!(load > 0) || load > MAX_ARRIVAL_RATE) {
        throw ScenarioError(sc.file, "workload.arrival.rate", fmt::format("{}/s is outside (0, {:g}]", load, MAX_ARRIVAL_RATE));
    }
    if (!w.trace.empty()) {  // a trace's rows: replayed at their own times, rescaled, or taken in order by users
        if (kind == LoadKind::QPS) {
            w.arrival = "trace";
            w.trace_time_scale = trace_rate(w.trace) / load;
            return;
        }
        // closed-loop users taking the trace's rows in order (prompt, answer and prompt blocks together), for as
        // long as the trace lasts
        if (w.arrival == "trace" && w.duration_s == 0 && w.max_requests == 0) {
            w.duration_s = w.trace.back().arrived_at_s - w.trace.front().arrived_at_s;
        }
        w.arrival = "closed_loop";
        w.users = std::llround(load);
        return;
    }
    if (w.shape == Shape::BATCH) w.shape = Shape::SINGLE;  // a batch's requests, arriving at the load
    if (kind == LoadKind::CONCURRENCY) {
        w.arrival = "closed_loop";
        w.users = std::llround(load);
    } else {
        w.arrival = "poisson";
        w.rate = load;
    }
}

std::string load_text(LoadKind kind, double load, Shape shape) {
    if (kind == LoadKind::CONCURRENCY) {
        const int64_t n = std::llround(load);
        return fmt::format("{} user{}", n, n == 1 ? "" : "s");
    }
    const bool sessions = shape == Shape::CHAT || shape == Shape::AGENT;
    return fmt::format("{:g} {}/s", load, sessions ? "sessions" : "req");
}

std::string recipe_json(const PointRecipe& r) {
    nlohmann::json j = {{"scenario_path", r.scenario_path}, {"overrides", r.overrides},
                        {"load_kind", r.load_kind == LoadKind::QPS ? "qps" : "concurrency"}, {"load", r.load},
                        {"counterfactual", r.counterfactual}};
    return j.dump();
}

PointRecipe parse_recipe(const std::string& text) {
    PointRecipe r;
    try {
        const nlohmann::json j = nlohmann::json::parse(text);
        r.scenario_path = j.at("scenario_path").get<std::string>();
        r.overrides = j.at("overrides").get<std::vector<std::string>>();
        const std::string kind = j.at("load_kind").get<std::string>();
        if (kind != "qps" && kind != "concurrency") throw std::invalid_argument("load_kind");
        r.load_kind = kind == "qps" ? LoadKind::QPS : LoadKind::CONCURRENCY;
        r.load = j.at("load").get<double>();
        r.counterfactual = j.at("counterfactual").get<std::string>();
    } catch (const std::exception& e) {
        throw ScenarioError("<recipe>", "", fmt::format("not a sweep point recipe ({})", e.what()));
    }
    return r;
}

Scenario build_point(const PointRecipe& r) {
    Scenario sc = load_scenario(r.scenario_path, r.overrides);
    set_load(sc, r.load_kind, r.load);
    if (!r.counterfactual.empty()) {
        bool found = false;
        for (const Counterfactual& c : counterfactuals(sc)) {
            if (c.label != r.counterfactual) continue;
            c.apply(sc);
            check_scenario(sc);
            found = true;
            break;
        }
        if (!found) throw ScenarioError("<recipe>", "counterfactual", fmt::format("\"{}\" does not apply here", r.counterfactual));
    }
    return sc;
}

std::string simulate_recipe(const std::string& recipe) {
    if (is_plan_probe(recipe)) return serialize_result(simulate(plan_probe_scenario(recipe)));
    return serialize_result(simulate(build_point(parse_recipe(recipe))));
}

namespace {

// The SLO values a counterfactual reaches, for its sentence.
std::string slo_values(const Summary& s) {
    std::string out;
    for (const SloResult& x : s.slos) {
        const bool ms = x.metric == "tpot" || x.metric == "itl";
        out += fmt::format("{}{} p{:g} {}", out.empty() ? "" : ", ", x.metric == "ttft" ? "TTFT" : x.metric == "tpot" ? "TPOT"
                                                                                    : x.metric == "itl"    ? "ITL"
                                                                                                           : "E2E",
                           x.percentile, ms ? fmt::format("{:.1f} ms", x.value_s * 1e3) : seconds_beside(x.value_s, x.threshold_s));
    }
    return out;
}

std::string cost_phrase(double factor) {
    if (std::fabs(factor - 1.0) < 1e-9) return "at the same cost";
    return fmt::format("at {:.2g}x the cost", factor);
}

}  // namespace

SweepResult run_sweep(const SweepRequest& req, const std::function<void(size_t, size_t)>& progress) {
    SweepResult out;
    // Cartesian product of the extra axes.
    std::vector<std::vector<std::pair<std::string, std::string>>> combos{{}};
    for (const SweepAxis& axis : req.axes) {
        std::vector<std::vector<std::pair<std::string, std::string>>> next;
        for (const auto& c : combos) {
            for (const std::string& v : axis.values) {
                auto d = c;
                d.emplace_back(axis.key, v);
                next.push_back(std::move(d));
            }
        }
        combos = std::move(next);
    }
    std::vector<double> loads = req.loads;
    std::sort(loads.begin(), loads.end());
    const Scenario base = load_scenario(req.scenario_path, req.overrides);
    std::vector<Scenario> series_base;  // one load per series (its axis values), typed edits per point
    std::vector<std::vector<std::string>> series_overrides;  // what loaded it (the points' recipes repeat them)
    for (const auto& combo : combos) {
        std::vector<std::string> overrides = req.overrides;
        for (const auto& [k, v] : combo) overrides.push_back(k + "=" + v);
        // input errors surface here
        series_base.push_back(combo.empty() ? base : load_scenario(req.scenario_path, overrides));
        series_overrides.push_back(std::move(overrides));
    }
    // recipes name the scenario by its absolute path: a worker may start in another folder
    const std::string recipe_path = req.scenario_path.empty() ? "" : std::filesystem::absolute(req.scenario_path).string();
    for (size_t ci = 0; ci < combos.size(); ++ci) {
        const auto& combo = combos[ci];
        SweepSeries series;
        for (const auto& [k, v] : combo) series.series += fmt::format("{}{}={}", series.series.empty() ? "" : ", ", k, v);
        for (double load : loads) {
            SweepPoint p;
            p.coords = combo;
            p.series = series.series;
            p.load = load;
            p.scenario = series_base[ci];
            set_load(p.scenario, req.load_kind, load);
            p.recipe = {recipe_path, series_overrides[ci], req.load_kind, load, ""};
            p.load_text = load_text(req.load_kind, load, p.scenario.workload.shape);
            try {
                (void)scenario_kv_plan(p.scenario);
            } catch (const PlanError& e) {
                p.fits = false;
                p.why_not = e.reason();
            }
            series.points.push_back(out.points.size());
            out.points.push_back(std::move(p));
        }
        out.series.push_back(std::move(series));
    }

    const int jobs = req.jobs > 0 ? req.jobs : static_cast<int>(std::max<long>(1, sysconf(_SC_NPROCESSORS_ONLN)));
    // Simulates a batch here (forked children) or on the remote runner (by recipe), results in order.
    auto simulate_batch = [&](const std::vector<Scenario>& batch, const std::vector<PointRecipe>& recipes,
                              const std::function<void(size_t)>& on_done) {
        if (!req.remote) return simulate_many(batch, {}, jobs, on_done);
        std::vector<std::string> texts;
        for (const PointRecipe& r : recipes) texts.push_back(recipe_json(r));
        const std::vector<std::string> bytes = req.remote(texts);
        if (bytes.size() != batch.size()) throw std::runtime_error(fmt::format("the remote runner returned {} results for {} simulations", bytes.size(), batch.size()));
        std::vector<SimulationResult> out_results;
        for (const std::string& b : bytes) out_results.push_back(deserialize_result(b));
        if (on_done) on_done(batch.size());
        return out_results;
    };
    std::vector<Scenario> runs;
    std::vector<PointRecipe> run_recipes;
    std::vector<size_t> run_point;
    for (size_t i = 0; i < out.points.size(); ++i) {
        if (!out.points[i].fits) continue;
        runs.push_back(out.points[i].scenario);
        run_recipes.push_back(out.points[i].recipe);
        run_point.push_back(i);
    }
    size_t total = runs.size();
    std::vector<SimulationResult> results = simulate_batch(runs, run_recipes, [&](size_t done) {
        if (progress) progress(done, total);
    });
    for (size_t i = 0; i < runs.size(); ++i) {
        SweepPoint& p = out.points[run_point[i]];
        p.result = std::move(results[i]);
        p.explanation = explain(p.scenario, p.result, p.load_text);
    }

    // Per series: knee, stable zone, first failing point.
    std::vector<Scenario> cf_runs;
    std::vector<PointRecipe> cf_recipes;
    std::vector<std::pair<size_t, size_t>> cf_index;  // (series, counterfactual)
    for (size_t si = 0; si < out.series.size(); ++si) {
        SweepSeries& s = out.series[si];
        std::vector<double> x, y, z;
        for (size_t i : s.points) {
            const SweepPoint& p = out.points[i];
            if (!p.fits) continue;
            x.push_back(p.load);
            // prefill-only workloads (embedding) have no output tokens: use their request throughput
            const Summary& m = p.result.summary;
            y.push_back(m.output_tokens > 0 ? m.output_throughput : m.request_throughput);
            z.push_back(p.result.summary.ttft_s.p95);
            s.any_slo = !p.scenario.slos.empty();
            s.usd_per_hour = fleet_usd_per_hour(p.scenario);
            if (p.result.summary.slos_met && s.any_slo) {
                s.stable_found = true;
                s.max_stable_load = std::max(s.max_stable_load, p.load);
            }
            if (s.any_slo && !p.result.summary.slos_met && s.first_failing == SIZE_MAX) s.first_failing = i;
        }
        s.knee = detect_knee(x, y, z);
        if (!x.empty()) {
            // map the knee's index among fitting points back to its sweep point
            size_t seen = 0;
            for (size_t i : s.points) {
                if (!out.points[i].fits) continue;
                if (seen++ == s.knee.index) {
                    s.knee.index = i;
                    break;
                }
            }
        }
        if (req.counterfactuals && s.first_failing != SIZE_MAX) {
            const SweepPoint& fail = out.points[s.first_failing];
            for (const Counterfactual& c : counterfactuals(fail.scenario)) {
                CounterfactualResult r;
                r.change = c;
                Scenario changed = fail.scenario;
                try {
                    c.apply(changed);
                    check_scenario(changed);
                    (void)scenario_kv_plan(changed);
                } catch (const std::exception& e) {
                    r.fits = false;
                    r.why_not = e.what();
                }
                if (r.fits) {
                    r.usd_per_hour = fleet_usd_per_hour(changed);
                    cf_runs.push_back(changed);
                    PointRecipe rec = fail.recipe;
                    rec.counterfactual = c.label;
                    cf_recipes.push_back(std::move(rec));
                    cf_index.emplace_back(si, s.counterfactuals.size());
                }
                s.counterfactuals.push_back(std::move(r));
            }
        }
    }
    // Capacity per series: the grid's bracket, then probe rounds inside it.
    struct Bracket {
        size_t series;
        const Scenario* at;  // a grid point of the series, whose load the probes replace
        const PointRecipe* recipe;  // and how it was made
        double lo, hi, stop_width;
    };
    std::vector<Bracket> brackets;
    for (size_t si = 0; si < out.series.size(); ++si) {
        SweepSeries& s = out.series[si];
        CapacityEstimate& c = s.capacity;
        if (!s.any_slo) continue;
        const double fail_at = s.first_failing == SIZE_MAX ? INFINITY : out.points[s.first_failing].load;
        const SweepPoint* pass = nullptr;  // the highest passing load below the first failing one
        for (size_t i : s.points) {
            const SweepPoint& p = out.points[i];
            if (p.fits && p.load < fail_at && p.result.summary.slos_met) pass = &p;
        }
        if (!pass) {
            if (s.first_failing != SIZE_MAX) {
                c.kind = CapacityEstimate::Kind::BELOW_RANGE;
                c.fail_load = c.grid_fail_load = fail_at;
                c.fail_text = out.points[s.first_failing].load_text;
            }
            continue;
        }
        c.kind = s.first_failing == SIZE_MAX ? CapacityEstimate::Kind::ABOVE_RANGE : CapacityEstimate::Kind::BRACKETED;
        c.load = c.grid_load = pass->load;
        c.load_text = pass->load_text;
        c.result = pass->result;
        if (c.kind != CapacityEstimate::Kind::BRACKETED) continue;
        c.fail_load = c.grid_fail_load = fail_at;
        c.fail_text = out.points[s.first_failing].load_text;
        if (req.refine > 0) {
            const double width = (fail_at - pass->load) / std::ldexp(1.0, std::min(req.refine, 30));
            brackets.push_back({si, &pass->scenario, &pass->recipe, pass->load, fail_at, width});
        }
    }
    // Probes per bracket and round: what the cores allow (at most 3); each round cuts a bracket (probes + 1)-fold.
    const size_t per_round = brackets.empty() ? 1 : std::clamp<size_t>(static_cast<size_t>(jobs) / brackets.size(), 1, 3);
    auto probes_of = [&](const Bracket& b) {
        std::vector<double> xs;
        if (b.hi - b.lo <= b.stop_width * (1 + 1e-9)) return xs;
        for (size_t j = 1; j <= per_round; ++j) {
            double x = b.lo + (b.hi - b.lo) * static_cast<double>(j) / static_cast<double>(per_round + 1);
            // whole users; a rate to 3 significant digits (what a load generator is given)
            x = req.load_kind == LoadKind::CONCURRENCY ? std::round(x) : std::stod(fmt::format("{:.3g}", x));
            if (x > b.lo && x < b.hi && (xs.empty() || x > xs.back())) xs.push_back(x);
        }
        return xs;
    };
    size_t done_before = 0;
    auto run_batch = [&](const std::vector<Scenario>& batch, const std::vector<PointRecipe>& recipes) {
        total += batch.size();
        const size_t base = runs.size() + done_before;
        std::vector<SimulationResult> r = simulate_batch(batch, recipes, [&](size_t done) {
            if (progress) progress(base + done, total);
        });
        done_before += batch.size();
        return r;
    };
    bool first_round = true;
    while (first_round || !brackets.empty()) {
        // the counterfactuals run with the first round of probes, sharing the cores
        std::vector<Scenario> batch = first_round ? cf_runs : std::vector<Scenario>{};
        std::vector<PointRecipe> recipes = first_round ? cf_recipes : std::vector<PointRecipe>{};
        std::vector<std::pair<size_t, double>> probe;  // (bracket, load), in batch order after the counterfactuals
        for (size_t bi = 0; bi < brackets.size(); ++bi) {
            for (double x : probes_of(brackets[bi])) {
                Scenario sc = *brackets[bi].at;
                set_load(sc, req.load_kind, x);
                batch.push_back(std::move(sc));
                PointRecipe rec = *brackets[bi].recipe;
                rec.load = x;
                recipes.push_back(std::move(rec));
                probe.emplace_back(bi, x);
            }
        }
        const size_t n_cf = first_round ? cf_runs.size() : 0;
        first_round = false;
        if (batch.empty()) break;
        std::vector<SimulationResult> results = run_batch(batch, recipes);
        for (size_t i = 0; i < n_cf; ++i) {
            SweepSeries& s = out.series[cf_index[i].first];
            CounterfactualResult& r = s.counterfactuals[cf_index[i].second];
            r.result = std::move(results[i]);
            r.restores = r.result.summary.slos_met;
        }
        // probes in increasing load per bracket: the lowest failing one closes the bracket from above, the
        // highest passing one below it from below
        for (size_t i = 0; i < probe.size(); ++i) {
            Bracket& b = brackets[probe[i].first];
            const double x = probe[i].second;
            CapacityEstimate& c = out.series[b.series].capacity;
            ++c.simulations;
            SimulationResult& r = results[n_cf + i];
            if (!r.summary.slos_met && x < b.hi) {
                b.hi = c.fail_load = x;
                c.fail_text = load_text(req.load_kind, x, b.at->workload.shape);
            }
        }
        for (size_t i = 0; i < probe.size(); ++i) {
            Bracket& b = brackets[probe[i].first];
            const double x = probe[i].second;
            CapacityEstimate& c = out.series[b.series].capacity;
            SimulationResult& r = results[n_cf + i];
            if (r.summary.slos_met && x > b.lo && x < b.hi) {
                b.lo = c.load = x;
                c.load_text = load_text(req.load_kind, x, b.at->workload.shape);
                c.result = std::move(r);
            }
        }
        brackets.erase(std::remove_if(brackets.begin(), brackets.end(), [&](const Bracket& b) { return probes_of(b).empty(); }),
                       brackets.end());
    }
    // The capacity and the knee in words.
    for (SweepSeries& s : out.series) {
        using K = CapacityEstimate::Kind;
        CapacityEstimate& cap = s.capacity;
        const Shape shape = out.points[s.points.front()].scenario.workload.shape;
        if (cap.kind == K::BRACKETED || cap.kind == K::ABOVE_RANGE) {
            const Summary& m = cap.result.summary;
            std::string how;
            if (cap.kind == K::ABOVE_RANGE) {
                how = "every swept load passes, so sweep higher to find where one breaks";
            } else if (cap.simulations > 0) {
                how = fmt::format("{} misses one (bisected between {} and {}: {} more simulation{})", cap.fail_text,
                                  load_text(req.load_kind, cap.grid_load, shape), load_text(req.load_kind, cap.grid_fail_load, shape),
                                  cap.simulations, cap.simulations == 1 ? "" : "s");
            } else {
                how = fmt::format("{} misses one", cap.fail_text);
            }
            cap.sentence = fmt::format("every SLO holds up to {}{} ({:.2f} req/s, {:.0f} output tok/s, ${:.3g}/MTok); {}.",
                                       cap.kind == K::ABOVE_RANGE ? "the highest load swept, " : "", cap.load_text,
                                       m.request_throughput, m.output_throughput, m.usd_per_mtok, how);
        } else if (cap.kind == K::BELOW_RANGE) {
            cap.sentence = fmt::format("below the lowest load swept: {} already misses an SLO.", cap.fail_text);
        }
        if (s.knee.found) {
            const double knee_load = out.points[s.knee.index].load;
            if ((cap.kind == K::BRACKETED || cap.kind == K::ABOVE_RANGE) && knee_load < cap.load) {
                s.knee_relation = fmt::format("The knee lies inside the passing zone: past it each added {} buys less "
                                              "throughput for more latency, yet every SLO holds up to {}{}.",
                                              req.load_kind == LoadKind::CONCURRENCY ? "user" : "request per second",
                                              cap.kind == K::ABOVE_RANGE ? "at least " : "", cap.load_text);
            } else if (cap.kind != K::NONE && knee_load > cap.load) {
                s.knee_relation = "The SLOs break before the knee: the latency targets, not the throughput, limit this deployment.";
            }
        }
    }
    for (SweepSeries& s : out.series) {
        for (CounterfactualResult& r : s.counterfactuals) {
            if (!r.fits) {
                r.sentence = fmt::format("{}: does not fit ({})", r.change.label, r.why_not);
                continue;
            }
            const double factor = r.usd_per_hour / s.usd_per_hour;
            r.sentence = fmt::format("{} {} ({}) {}, ${:.3f}/MTok", r.change.label,
                                     r.restores ? "restores the SLOs" : "does not restore the SLOs",
                                     slo_values(r.result.summary), cost_phrase(factor), r.result.summary.usd_per_mtok);
        }
    }
    return out;
}

}  // namespace headroom
