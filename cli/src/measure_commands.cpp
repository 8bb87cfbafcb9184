// `headroom measure step|serve` and `headroom validate`: the reference executor, and prediction next to
// measurement. Without a GPU these print one line and exit 3; bad input exits 2 as everywhere else.
#include "measure.hpp"

#include <fmt/format.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cmath>
#include <fstream>
#include <functional>
#include <optional>
#include <string>

#include "headroom/executor/measure.hpp"
#include "headroom/hardware/profile_loader.hpp"
#include "headroom/models/config_loader.hpp"
#include "headroom/sim/analysis.hpp"
#include "headroom/report/against.hpp"
#include "headroom/report/files.hpp"
#include "headroom/report/json.hpp"
#include "headroom/report/measured.hpp"
#include "headroom/sim/sweep.hpp"
#include "output.hpp"
#include "sim_output.hpp"
#include "usage_error.hpp"

namespace headroom::cli {

namespace {

constexpr int EXIT_NO_DEVICE = 3;

std::string ms(double s) { return fmt::format("{:.2f} ms", s * 1e3); }

// Runs `body`; no GPU becomes one line and exit 3 (input errors reach main(): exit 2).
int guarded(const std::function<int()>& body) {
    try {
        return body();
    } catch (const NoDeviceError& e) {
        fmt::print(stderr, "error: no GPU to measure on: {} (the simulator needs none: try `headroom simulate`)\n", e.what());
        return EXIT_NO_DEVICE;
    }
}

std::string upper(std::string s) {
    for (char& c : s) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
    return s;
}

// Warns when the GPU measured on is not the one the scenario's profile describes ("h100-sxm" on an H200).
void warn_if_other_gpu(const GpuProfile& gpu, const DeviceInfo& dev) {
    if (dev.name.empty() || dev.driver_version == 0) return;  // the CPU reference
    const std::string family = upper(gpu.name.substr(0, gpu.name.find('-')));
    if (upper(dev.name).find(family) == std::string::npos) {
        fmt::print(stderr, "warning: measuring on {}, but the scenario's GPU profile is {} ({}): predictions are for the profile\n",
                   dev.name, gpu.name, gpu.display_name);
    }
}

std::string layers_note(int64_t run, int64_t model) {
    if (run >= model) return "";
    return fmt::format("ran {} of {} layers; times scaled to {} layers", run, model, model);
}

// A real-time run's progress on stderr, so that minutes of serving do not pass in silence: on a terminal one
// line rewritten each second and cleared at the end, elsewhere (a log) a line every 15 s.
class ProgressLine {
public:
    explicit ProgressLine(double stop_s) : tty_(isatty(STDERR_FILENO) != 0), stop_s_(stop_s) {}
    ProgressLine(const ProgressLine&) = delete;
    ProgressLine& operator=(const ProgressLine&) = delete;
    ~ProgressLine() { clear(); }
    // Before other output, and between runs (each run's clock starts at 0).
    void clear() {
        if (tty_ && shown_) fmt::print(stderr, "\r{}\r", std::string(WIDTH, ' '));
        shown_ = false;
        last_s_ = 0.0;
    }
    std::function<void(double, int64_t, int64_t)> callback() {
        return [this](double t, int64_t started, int64_t finished) { show(t, started, finished); };
    }

private:
    static constexpr size_t WIDTH = 100;
    void show(double t, int64_t started, int64_t finished) {
        if (!tty_ && t < last_s_ + 15.0) return;
        last_s_ = t;
        std::string line = fmt::format("  serving: {:.0f} s, {} requests done, {} in flight", t, finished,
                                       started - finished);
        if (stop_s_ > 0 && t >= stop_s_) line += fmt::format(" (none starts after {:g} s)", stop_s_);
        if (tty_) fmt::print(stderr, "\r{:<{}}", line, WIDTH);
        else fmt::print(stderr, "{}\n", line);
        std::fflush(stderr);
        shown_ = true;
    }
    bool tty_, shown_ = false;
    double stop_s_, last_s_ = 0.0;
};

Scenario load_for_measure(const std::string& path, const std::vector<std::string>& set, double duration_s) {
    Scenario sc = load_scenario(path, set);
    if (duration_s > 0) {
        sc.workload.duration_s = sc.workload.duration_s > 0 ? std::min(sc.workload.duration_s, duration_s) : duration_s;
        sc.engine.stop_s = sc.workload.duration_s;  // follow-up turns too: the run ends soon after
    }
    return sc;
}

void print_step(const ModelCard& m, const GpuProfile& gpu, const StepMeasurement& s) {
    const std::string what = s.kind == "prefill" ? fmt::format("prefill {} tokens", group(s.tokens))
                                                 : fmt::format("decode {} x context {}", s.sequences, group(s.context));
    fmt::print("measure step: {} on {}, {}\n", m.name, s.device.name, what);
    if (const std::string note = layers_note(s.layers_run, s.layers_model); !note.empty()) fmt::print("  {}\n", note);
    fmt::print("  CUDA graph: {}\n", s.cuda_graphs ? "yes" : "no");
    fmt::print("  step time   p50 {}   p95 {}   p99 {}   ({} iterations)\n", ms(s.step_s.p50), ms(s.step_s.p95),
               ms(s.step_s.p99), s.step_s.n);
    fmt::print("  predicted   {} (headroom cost on {}, without host overhead): {:+.1f}%\n", ms(s.predicted_s), gpu.name,
               s.step_s.p50 > 0 ? (s.predicted_s - s.step_s.p50) / s.step_s.p50 * 100 : 0.0);
    fmt::print("  achieved    {:.1f} TFLOP/s ({:.1f}% of {:.0f} peak)   {:.0f} GB/s ({:.1f}% of {:.0f})\n",
               s.achieved_flops_per_s / 1e12, 100 * s.achieved_flops_per_s / s.peak_flops_per_s, s.peak_flops_per_s / 1e12,
               s.achieved_bytes_per_s / 1e9, 100 * s.achieved_bytes_per_s / s.peak_bytes_per_s, s.peak_bytes_per_s / 1e9);
    const bool profiled = s.profiled_total_s > 0;  // the CPU reference has no per-op times
    fmt::print("\n  {:<22} {:>12} {:>12} {:>8}  {}\n", "op", "measured", "predicted", "error", "bound");
    for (const OpMeasurement& o : s.ops) {
        const std::string err = o.measured_s > 0 ? fmt::format("{:+.0f}%", (o.predicted_s - o.measured_s) / o.measured_s * 100) : "-";
        fmt::print("  {:<22} {:>12} {:>12} {:>8}  {}\n", o.name, profiled ? ms(o.measured_s) : "-", ms(o.predicted_s), err,
                   o.bound);
    }
    if (profiled) fmt::print("  {:<22} {:>12}   (events around every op, no CUDA graph)\n", "sum of ops", ms(s.profiled_total_s));
}

std::string format_value(double v, const std::string& unit) {
    if (unit == "s") return v >= 10.0 ? fmt::format("{:.1f} s", v) : ms(v);
    if (unit == "requests") return fmt::format("{:.0f}", v);
    return fmt::format("{:.2f} {}", v, unit);
}

// What `measure serve` and `validate` both take: the scenario, its edits and how to serve it.
struct ServeArgs {
    std::string scenario, device = "cuda";
    std::vector<std::string> set;
    int64_t layers = 0;
    double duration_s = 60;
    bool no_graphs = false;
};

void add_serve_args(CLI::App* c, ServeArgs& a) {
    c->add_option("scenario", a.scenario,
                  "scenario YAML (one replica, tp 1, bf16); default: the built-in chat scenario");
    c->add_option("--set", a.set, "override a scenario field")->take_all();
    c->add_option("--duration", a.duration_s,
                  "seconds (real time) in which requests start (each run of a sweep), new arrivals and "
                  "follow-up turns alike; those running then finish")
        ->capture_default_str();
    c->add_option("--layers", a.layers,
                  "run only the first N layers; each step is stretched to the full depth");
    c->add_option("--device", a.device, "cuda, or cpu (the plain C++ reference: small models only)")
        ->capture_default_str();
    c->add_flag("--no-cuda-graphs", a.no_graphs, "no CUDA graphs for decode steps");
}

ServeOptions serve_options(const ServeArgs& a) {
    ServeOptions so;
    so.device = a.device;
    so.layers = a.layers;
    so.cuda_graphs = !a.no_graphs;
    return so;
}

void print_comparison(const std::vector<Comparison>& rows) {
    fmt::print("  {:<20} {:>14} {:>14} {:>9}\n", "metric", "predicted", "measured", "error");
    for (const Comparison& c : rows) {
        fmt::print("  {:<20} {:>14} {:>14} {:>+8.1f}%\n", c.metric, format_value(c.predicted, c.unit),
                   format_value(c.measured, c.unit), c.rel_error * 100);
    }
}

}  // namespace

void add_measure_commands(CLI::App& app, std::function<int()>& action) {
    auto* measure = app.add_subcommand("measure", "Run the reference executor (CUDA) and measure a step or a serving "
                                                  "scenario in the simulator's terms. Exit 3 when there is no GPU.");
    measure->require_subcommand(1);

    // measure step
    struct StepCli {
        std::string model, gpu = "h100", device = "cuda";
        std::vector<std::string> gpu_set;
        StepRequest r;
        bool no_graphs = false, json = false;
    };
    static StepCli st;
    auto* step = measure->add_subcommand("step", "Time one prefill (--tokens) or decode step (--decode-batch, --context) "
                                                 "with CUDA events: p50/p95/p99, achieved TFLOP/s and GB/s, and the "
                                                 "per-op times next to `headroom cost`.");
    step->add_option("-m,--model", st.model, "config.json path, directory, or shipped model name (Llama family)")->required();
    step->add_option("-g,--gpu", st.gpu, "GPU profile the prediction and the peaks come from")->capture_default_str();
    step->add_option("--gpu-set", st.gpu_set, "override a profile field")->take_all();
    step->add_option("--tokens", st.r.prefill_tokens, "a prefill of this many tokens");
    step->add_option("--decode-batch", st.r.decode_batch, "a decode step of this many sequences");
    step->add_option("--context", st.r.context, "tokens already cached per decoding sequence")->capture_default_str();
    step->add_option("--iterations", st.r.iterations, "timed iterations")->capture_default_str();
    step->add_option("--warmup", st.r.warmup, "untimed iterations first")->capture_default_str();
    step->add_option("--layers", st.r.layers, "run only the first N layers (a model too big for the GPU); times are scaled");
    step->add_option("--seed", st.r.seed, "seed of the random weights")->capture_default_str();
    step->add_option("--device", st.device, "cuda, or cpu (the plain C++ reference: small models, not timings)")
        ->capture_default_str();
    step->add_flag("--no-cuda-graphs", st.no_graphs, "launch every kernel instead of replaying a captured graph");
    step->add_flag("--json", st.json, "Print one JSON line (schema headroom.measure-step/1)");
    step->callback([&action] {
        action = [] {
            const ModelCard m = load_model(st.model);
            GpuProfile gpu = load_gpu(st.gpu);
            for (const auto& s : st.gpu_set) apply_gpu_override(gpu, s, "--gpu-set");
            st.r.device = st.device;
            st.r.cuda_graphs = !st.no_graphs;
            return guarded([&] {
                const StepMeasurement s = measure_step(m, gpu, st.r);
                if (st.json) fmt::print("{}\n", step_json(m, gpu, s));
                else print_step(m, gpu, s);
                return 0;
            });
        };
    });

    // measure serve
    struct ServeCli {
        ServeArgs a;
        std::string requests_csv;
        bool json = false;
    };
    static ServeCli sv;
    auto* serve = measure->add_subcommand("serve", "Serve a scenario in real time on the GPU with the simulator's "
                                                   "scheduler and workload: TTFT, TPOT, ITL, E2E, throughput, peak memory.");
    add_serve_args(serve, sv.a);
    serve->add_option("--requests", sv.requests_csv, "write one CSV row per request to this file");
    serve->add_flag("--json", sv.json, "Print one JSON line (the simulate schema, with the device)");
    serve->callback([&action] {
        action = [] {
            const Scenario sc = load_for_measure(sv.a.scenario, sv.a.set, sv.a.duration_s);
            ServeOptions so = serve_options(sv.a);
            return guarded([&] {
                if (!sv.requests_csv.empty() && !can_write(sv.requests_csv)) {
                    throw UsageError("--requests: cannot write " + sv.requests_csv);
                }
                const MeasuredRun r = [&] {
                    ProgressLine progress(sc.engine.stop_s);
                    so.progress = progress.callback();
                    return measure_scenario(sc, so);
                }();
                const ServeInfo& info = r.info;
                warn_if_other_gpu(sc.deployment.gpu, info.device);
                if (!sv.requests_csv.empty()) write_requests_csv(sv.requests_csv, r.result);
                if (sv.json) {
                    fmt::print("{}\n", serve_json(sc, r));
                    return 0;
                }
                fmt::print("measured on {}{}\n", info.device.name,
                           info.layers_run < info.layers_model ? " (" + layers_note(info.layers_run, info.layers_model) + ")" : "");
                if (info.memory_used_bytes > 0) fmt::print("GPU memory in use at peak: {}\n", gb(info.memory_used_bytes));
                if (!info.blocks_note.empty()) fmt::print("note: {}\n", info.blocks_note);
                print_simulation(sc, r.result, true);
                return 0;
            });
        };
    });

    // validate
    struct ValidateCli {
        ServeArgs a;
        std::string model, gpu;
        std::vector<std::string> against;
        std::optional<int64_t> seed;
        std::optional<int> benchmark;
        std::vector<double> concurrency;
        bool sweep = false, json = false;
    };
    static ValidateCli va;
    auto* val = app.add_subcommand("validate", "Simulate a scenario and serve it on the GPU, then print prediction and "
                                               "measurement side by side with the relative error of every metric. Exit 3 "
                                               "when there is no GPU.");
    add_serve_args(val, va.a);
    val->add_flag("--sweep", va.sweep, "compare along a closed-loop concurrency sweep and report both knees");
    val->add_option("--concurrency", va.concurrency, "users per sweep point (default 1,4,16,32,64,128)")->delimiter(',');
    val->add_flag("--json", va.json, "Print JSON lines (schema headroom.validate/1), one per run");
    val->add_option("--against", va.against,
                    "compare with load generator results instead of running the executor (several files: one per load, "
                    "with both saturation curves and both knees): `vllm bench serve "
                    "--save-result` JSON, GuideLLM's benchmarks.json or AIPerf's profile_export_aiperf.json; the same load "
                    "(rate or concurrency, requests, lengths) simulated on the scenario's deployment (no GPU needed)");
    val->add_option("--benchmark", va.benchmark, "with --against: which benchmark of a GuideLLM report (0-based)");
    val->add_option("--model", va.model, "with --against: the model served (default: the result's model_id)");
    val->add_option("--gpu", va.gpu, "with --against: the GPU that served it (a result does not record it)");
    val->add_option("--seed", va.seed, "with --against: the simulation's seed (default 0)");
    val->callback([&action] {
        action = [] {
            if (!va.against.empty()) {
                if (va.sweep) throw UsageError("--sweep: not with --against (give several result files instead)");
                AgainstRequest rq;
                rq.scenario_path = va.a.scenario;
                rq.model = va.model;
                rq.gpu = va.gpu;
                rq.overrides = va.a.set;
                if (va.benchmark) {
                    if (*va.benchmark < 0) throw UsageError(fmt::format("--benchmark: must be >= 0, got {}", *va.benchmark));
                    rq.benchmark = *va.benchmark;
                }
                if (va.seed) {
                    if (*va.seed < 0) throw UsageError(fmt::format("--seed: must be >= 0, got {}", *va.seed));
                    rq.seed = static_cast<uint64_t>(*va.seed);
                }
                std::vector<AgainstRequest> reqs;
                for (const std::string& f : va.against) {
                    reqs.push_back(rq);
                    reqs.back().result_path = f;
                }
                auto print_run = [](const AgainstResult& r) {
                    const Deployment& d = r.scenario.deployment;
                    fmt::print("validate --against {} ({}{}): {} on {} x{} (tp {}), predicted by {}\n", r.measured.file,
                               r.measured.tool, r.measured.selected.empty() ? "" : ", " + r.measured.selected, d.model.name,
                               d.gpu.name, d.replicas, d.tp, r.predicted.predictor);
                    fmt::print("  load: {} requests, {}\n", group(r.measured.num_prompts),
                               r.scenario.workload.arrival == "closed_loop"
                                   ? fmt::format("{} concurrent users", r.scenario.workload.users)
                               : r.scenario.workload.arrival == "batch" ? std::string("all at once")
                                                                        : fmt::format("{:g} req/s ({})", r.scenario.workload.rate,
                                                                                      r.scenario.workload.arrival));
                    print_comparison(r.rows);
                    for (const std::string& n : r.notes) fmt::print("  note: {}\n", n);
                };
                if (reqs.size() == 1) {
                    const AgainstResult r = validate_against(reqs[0]);
                    if (va.json) fmt::print("{}\n", validate_against_json(r));
                    else print_run(r);
                    return 0;
                }
                // several files: one deployment at several loads, both saturation curves and both knees
                const AgainstSweep sw = validate_against_sweep(reqs);
                if (va.json) {
                    for (const AgainstResult& r : sw.runs) fmt::print("{}\n", validate_against_json(r));
                    fmt::print("{}\n", validate_against_knee_json(sw));
                    return 0;
                }
                for (const AgainstResult& r : sw.runs) {
                    print_run(r);
                    fmt::print("\n");
                }
                const std::string tail = sw.ttft_stat.empty() ? "" : "TTFT " + sw.ttft_stat;
                fmt::print("Saturation, predicted against measured ({} files, by {}):\n", sw.runs.size(),
                           sw.concurrency ? "concurrency" : "request rate");
                fmt::print("  {:>10} {:>16} {:>16} {:>8}", "load", "out tok/s pred", "meas", "error");
                if (!tail.empty()) fmt::print(" {:>14} {:>10} {:>8}", tail + " pred", "meas", "error");
                fmt::print("\n");
                for (size_t i = 0; i < sw.runs.size(); ++i) {
                    const Comparison* tp = nullptr;
                    const Comparison* tt = nullptr;
                    for (const Comparison& c : sw.runs[i].rows) {
                        if (c.metric == "output throughput") tp = &c;
                        if (!tail.empty() && c.metric == tail) tt = &c;
                    }
                    fmt::print("  {:>10} {:>16.0f} {:>16.0f} {:>+7.1f}%", sw.concurrency ? fmt::format("{:g} users", sw.loads[i])
                                                                                        : fmt::format("{:g}/s", sw.loads[i]),
                               tp->predicted, tp->measured, 100 * tp->rel_error);
                    if (tt) fmt::print(" {:>14} {:>10} {:>+7.1f}%", format_value(tt->predicted, tt->unit),
                                       format_value(tt->measured, tt->unit), 100 * tt->rel_error);
                    fmt::print("\n");
                }
                auto knee = [&](const Knee& k) {
                    return k.found ? fmt::format("{:g}{}", k.load, sw.concurrency ? " users" : "/s") : "none (" + k.note + ")";
                };
                fmt::print("  Knee, predicted: {}; measured: {} (both by the same method: output throughput against load{}).\n",
                           knee(sw.predicted), knee(sw.measured), tail.empty() ? "" : ", " + tail + " as the tail");
                return 0;
            }
            if (!va.model.empty() || !va.gpu.empty() || va.seed || va.benchmark) {
                throw UsageError("--model, --gpu, --seed and --benchmark go with --against (a scenario names them for a GPU run)");
            }
            const Scenario base = load_for_measure(va.a.scenario, va.a.set, va.a.duration_s);
            (void)scenario_kv_plan(base);
            ServeOptions so = serve_options(va.a);
            return guarded([&] {
                if (so.device == "cuda" && !query_device().available) throw NoDeviceError(query_device().reason);
                if (!va.sweep) {
                    const ValidationPair p = [&] {
                        ProgressLine progress(base.engine.stop_s);
                        so.progress = progress.callback();
                        return validate_scenario(base, so);
                    }();
                    const ServeInfo& info = p.measured.info;
                    warn_if_other_gpu(base.deployment.gpu, info.device);
                    if (va.json) {
                        fmt::print("{}\n", validate_json(base, p.predicted, p.measured, p.rows));
                        return 0;
                    }
                    fmt::print("validate: {} — {} on {} (predicted for {})\n", base.name, base.deployment.model.name,
                               info.device.name, base.deployment.gpu.name);
                    if (const std::string n = layers_note(info.layers_run, info.layers_model); !n.empty()) fmt::print("  {}\n", n);
                    fmt::print("  {} requests measured, {} predicted; KV blocks {} in both\n", p.measured.result.summary.completed,
                               p.predicted.summary.completed, group(p.measured.result.plan.num_blocks));
                    print_comparison(p.rows);
                    return 0;
                }
                std::vector<double> users = va.concurrency.empty() ? std::vector<double>{1, 4, 16, 32, 64, 128} : va.concurrency;
                for (double u : users) {
                    if (u < 1 || u != std::floor(u)) throw UsageError(fmt::format("--concurrency: {} is not a whole number of users", u));
                }
                if (!va.json) {
                    fmt::print("validate --sweep: {} — {} (predicted for {})\n", base.name, base.deployment.model.name, base.deployment.gpu.name);
                    fmt::print("  {:>6} {:>14} {:>14} {:>13} {:>13} {:>13} {:>13}\n", "users", "tok/s pred", "tok/s meas",
                               "TTFT95 pred", "TTFT95 meas", "TPOT95 pred", "TPOT95 meas");
                }
                auto point = [&](double u) {  // the sweep's own load edit (trace lengths for a trace workload)
                    Scenario sc = base;
                    set_load(sc, LoadKind::CONCURRENCY, u);
                    return sc;
                };
                ProgressLine progress(base.engine.stop_s);
                so.progress = progress.callback();
                auto print_point = [&](size_t i, const Scenario& sc, const ValidationPair& p) {
                    progress.clear();
                    const Summary &ps = p.predicted.summary, &msum = p.measured.result.summary;
                    if (va.json) {
                        fmt::print("{}\n", validate_json(sc, p.predicted, p.measured, p.rows, static_cast<int64_t>(users[i])));
                    } else {
                        fmt::print("  {:>6.0f} {:>14.0f} {:>14.0f} {:>13} {:>13} {:>13} {:>13}\n", users[i], ps.output_throughput,
                                   msum.output_throughput, ms(ps.ttft_s.p95), ms(msum.ttft_s.p95), ms(ps.tpot_s.p95),
                                   ms(msum.tpot_s.p95));
                    }
                    std::fflush(stdout);
                };
                const ValidationSweep vs = validate_sweep(users, point, so, print_point);
                auto knee_text = [](const Knee& k) { return k.found ? fmt::format("{:.0f} users", k.load) : "none (" + k.note + ")"; };
                if (va.json) {
                    fmt::print("{}\n", validate_knee_json(vs));
                } else {
                    fmt::print("  knee: predicted {}, measured {}\n", knee_text(vs.predicted_knee), knee_text(vs.measured_knee));
                }
                return 0;
            });
        };
    });
}

}  // namespace headroom::cli
