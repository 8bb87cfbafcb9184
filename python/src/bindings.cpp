// headroom._headroom: thin pybind11 bindings. They convert types and release the GIL around simulations;
// every computation stays in the C++ libraries. The Python-facing API (DataFrames, figures) is
// python/headroom/__init__.py.
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <algorithm>

#include "headroom/hardware/profile_loader.hpp"
#include "headroom/models/config_loader.hpp"
#include "headroom/sim/capacity.hpp"
#include "headroom/core/cost_model.hpp"
#include "headroom/core/kernel_table_predictor.hpp"
#include "headroom/sim/engine.hpp"
#include "headroom/core/kv_planner.hpp"
#include "headroom/core/deployment.hpp"
#include "headroom/report/against.hpp"
#include "headroom/report/json.hpp"
#include "headroom/sim/sweep.hpp"
#include "headroom/sim/version.hpp"

namespace py = pybind11;
using namespace headroom;

namespace {

Dtype dtype(const std::string& option, const std::string& name) {
    if (auto d = parse_dtype(name)) return *d;
    throw PlanError(option, "unknown dtype \"" + name + "\" (expected one of " + dtype_choices() + ")");
}

// weights_dtype: "auto" (as the checkpoint ships them) or one format for every block matrix.
std::optional<Dtype> weights(const std::string& name) {
    if (name == "auto") return std::nullopt;
    return dtype("weights_dtype", name);
}

py::dict params_dict(const ParamBreakdown& p) {
    py::dict d;
    d["total"] = p.total();
    d["active"] = p.active;
    d["active_with_embedding"] = p.active_with_embedding;
    d["embedding"] = p.embedding;
    d["lm_head"] = p.lm_head;
    d["attention"] = p.attention;
    d["dense_mlp"] = p.dense_mlp;
    d["routed_experts"] = p.routed_experts;
    d["shared_experts"] = p.shared_experts;
    d["router"] = p.router;
    d["norms"] = p.norms;
    d["pooler"] = p.pooler;
    d["quantizable"] = p.quantizable;
    return d;
}

// Columns of per-request records and step samples, for pandas.
py::dict request_columns(const std::vector<RequestRecord>& rs) {
    std::vector<int64_t> id, session, turn, replica, prompt, output, generated, preemptions, prefix, recomputed;
    std::vector<double> arrival, queue, ttft, tpot, e2e, max_itl;
    std::vector<bool> rejected, failed;
    std::vector<double> api;
    std::vector<std::string> reason;
    for (const RequestRecord& r : rs) {
        id.push_back(r.id), session.push_back(r.session), turn.push_back(r.turn), replica.push_back(r.replica);
        prompt.push_back(r.prompt_tokens), output.push_back(r.output_tokens), generated.push_back(r.generated);
        preemptions.push_back(r.preemptions), prefix.push_back(r.prefix_hit_tokens), recomputed.push_back(r.recomputed_tokens);
        const bool ok = r.completed();
        arrival.push_back(r.arrival_s);
        queue.push_back(ok ? r.queue_s() : NAN);
        ttft.push_back(ok ? r.ttft_s() : NAN);
        tpot.push_back(ok && r.generated > 1 ? r.tpot_s() : NAN);
        e2e.push_back(ok ? r.e2e_s() : NAN);
        max_itl.push_back(ok ? r.max_itl_s : NAN);
        rejected.push_back(r.rejected);
        failed.push_back(r.failed);
        api.push_back(r.api_s);
        reason.push_back(r.reject_reason);
    }
    py::dict d;
    d["id"] = id, d["session"] = session, d["turn"] = turn, d["replica"] = replica, d["arrival_s"] = arrival;
    d["queue_s"] = queue, d["ttft_s"] = ttft, d["tpot_s"] = tpot, d["e2e_s"] = e2e, d["prompt_tokens"] = prompt;
    d["output_tokens"] = output, d["generated"] = generated, d["preemptions"] = preemptions;
    d["prefix_hit_tokens"] = prefix, d["recomputed_tokens"] = recomputed, d["max_itl_s"] = max_itl;
    d["rejected"] = rejected, d["reject_reason"] = reason, d["failed"] = failed, d["api_server_s"] = api;
    return d;
}

py::dict step_columns(const std::vector<StepSample>& steps) {
    std::vector<double> t, dt, kv;
    std::vector<int64_t> replica, running, waiting, decodes, tokens, prefill, preempted;
    for (const StepSample& s : steps) {
        t.push_back(s.t_s), dt.push_back(s.dt_s), kv.push_back(s.kv_used), replica.push_back(s.replica);
        running.push_back(s.running), waiting.push_back(s.waiting), decodes.push_back(s.decodes);
        tokens.push_back(s.tokens), prefill.push_back(s.prefill_tokens), preempted.push_back(s.preempted);
    }
    py::dict d;
    d["t_s"] = t, d["dt_s"] = dt, d["replica"] = replica, d["running"] = running, d["waiting"] = waiting;
    d["decodes"] = decodes, d["tokens"] = tokens, d["prefill_tokens"] = prefill, d["kv_used"] = kv;
    d["preempted"] = preempted;
    return d;
}

// While a long call runs without the GIL, Ctrl-C (Jupyter's "interrupt kernel") stops it within about 100 ms:
// the children are killed and the call raises KeyboardInterrupt.
struct Interruptible {
    Interruptible() {
        set_interrupt_check([] {
            py::gil_scoped_acquire gil;
            return PyErr_CheckSignals() != 0;
        });
    }
    ~Interruptible() { set_interrupt_check({}); }
    Interruptible(const Interruptible&) = delete;
    Interruptible& operator=(const Interruptible&) = delete;
};

// A Python callable(done, total) as the C++ progress callback (None: none). The callable is borrowed: the
// caller's argument keeps it alive for the call. An exception it raises stops the run and is re-raised.
std::function<void(size_t, size_t)> progress_to(const py::object& callback) {
    if (callback.is_none()) return {};
    PyObject* raw = callback.ptr();
    return [raw](size_t done, size_t total) {
        py::gil_scoped_acquire gil;
        try {
            const py::handle fn(raw);
            fn(done, total);
        } catch (py::error_already_set& e) {
            e.restore();
            throw Interrupted{};
        }
    };
}

// A Python callable (list of recipe JSON strings -> list of result bytes) as a sweep's or plan's remote runner: called
// with the GIL held; a Python error in it (a worker's, re-raised by dask) propagates as itself.
RemoteRunner remote_to(const py::object& callback) {
    if (callback.is_none()) return {};
    PyObject* raw = callback.ptr();
    return [raw](const std::vector<std::string>& recipes) {
        py::gil_scoped_acquire gil;
        std::vector<std::string> out;
        try {
            const py::handle fn(raw);
            const py::list results = fn(recipes);
            for (const py::handle r : results) out.push_back(r.cast<std::string>());
        } catch (py::error_already_set& e) {
            e.restore();
            throw Interrupted{};
        }
        return out;
    };
}

// The request validate_against and validate_against_sweep build from their arguments, for one result file.
AgainstRequest against_request(const std::string& result, const std::string& scenario, const std::string& model,
                               const std::string& gpu, const std::vector<std::string>& overrides, uint64_t seed, int benchmark) {
    AgainstRequest rq;
    rq.result_path = result;
    rq.scenario_path = scenario;
    rq.model = model;
    rq.gpu = gpu;
    rq.overrides = overrides;
    rq.seed = seed;
    rq.benchmark = benchmark;
    return rq;
}

}  // namespace

PYBIND11_MODULE(_headroom, m) {
    m.doc() = "headroom's C++ core: model cards, GPU profiles, KV planning, cost model, simulation, sweeps, plans.";
    m.def("version", [] { return std::string(version()); });
    m.def("git_commit", [] { return std::string(git_commit()); });

    // One Python exception for every input error, with the CLI's one-line message.
    static py::exception<std::runtime_error> input_error(m, "InputError", PyExc_ValueError);
    py::register_exception_translator([](std::exception_ptr p) {
        try {
            if (p) std::rethrow_exception(p);
        } catch (const InputError& e) {  // every domain's input error
            // the core names options as the CLI spells them ("--gpu-memory-utilization: ..."); from Python
            // they are keyword arguments ("gpu_memory_utilization: ...")
            std::string msg = e.what();
            if (msg.rfind("--", 0) == 0) {
                const size_t colon = msg.find(':');
                if (colon != std::string::npos && msg.find(' ') > colon) {
                    std::string name = msg.substr(2, colon - 2);
                    std::replace(name.begin(), name.end(), '-', '_');
                    msg = name + msg.substr(colon);
                }
            }
            py::set_error(input_error, msg.c_str());
        } catch (const Interrupted&) {  // Ctrl-C, or the progress callback raised: that exception stands
            if (!PyErr_Occurred()) PyErr_SetNone(PyExc_KeyboardInterrupt);
        }
    });

    py::class_<ModelCard>(m, "ModelCard", "A model read from its config.json (see headroom.load_model).")
        .def_readonly("name", &ModelCard::name)
        .def_readonly("source", &ModelCard::source)
        .def_readonly("model_type", &ModelCard::model_type)
        .def_readonly("architecture", &ModelCard::architecture)
        .def_readonly("family", &ModelCard::family)
        .def_readonly("is_encoder", &ModelCard::is_encoder)
        .def_readonly("hidden_size", &ModelCard::hidden_size)
        .def_readonly("num_layers", &ModelCard::num_layers)
        .def_readonly("num_attention_heads", &ModelCard::num_attention_heads)
        .def_readonly("num_kv_heads", &ModelCard::num_kv_heads)
        .def_readonly("head_dim", &ModelCard::head_dim)
        .def_readonly("intermediate_size", &ModelCard::intermediate_size)
        .def_readonly("vocab_size", &ModelCard::vocab_size)
        .def_readonly("max_position_embeddings", &ModelCard::max_position_embeddings)
        .def_readonly("tie_word_embeddings", &ModelCard::tie_word_embeddings)
        .def_readonly("sliding_window", &ModelCard::sliding_window)
        .def_readonly("num_experts", &ModelCard::num_experts)
        .def_readonly("experts_per_token", &ModelCard::experts_per_token)
        .def_readonly("kv_lora_rank", &ModelCard::kv_lora_rank)
        .def_readonly("guessed", &ModelCard::guessed)
        .def_property_readonly("is_moe", &ModelCard::is_moe)
        .def_property_readonly("is_mla", &ModelCard::is_mla)
        .def_property_readonly("layer_kinds",
                               [](const ModelCard& c) {
                                   std::vector<std::string> k;
                                   for (const auto& l : c.layers) k.emplace_back(attention_kind_name(l.attention));
                                   return k;
                               })
        .def("params", [](const ModelCard& c) { return params_dict(c.params()); }, "Parameter counts by part.")
        .def("weight_bytes", [](const ModelCard& c, const std::string& d) { return c.weight_bytes(dtype("dtype", d)); },
             py::arg("dtype") = "bf16")
        .def("kv_bytes_per_token", [](const ModelCard& c, const std::string& d) { return c.kv_bytes_per_token(dtype("dtype", d)); },
             py::arg("dtype") = "bf16")
        .def("kv_bytes_for_context",
             [](const ModelCard& c, int64_t tokens, const std::string& d) { return c.kv_bytes_for_context(tokens, dtype("dtype", d)); },
             py::arg("tokens"), py::arg("dtype") = "bf16")
        .def("linear_flops_per_token", &ModelCard::linear_flops_per_token)
        .def("attention_flops_per_token", &ModelCard::attention_flops_per_token, py::arg("context"))
        .def("prefill_flops", &ModelCard::prefill_flops, py::arg("tokens"))
        .def("__repr__", [](const ModelCard& c) {
            return "<ModelCard " + c.name + ": " + std::to_string(c.params().total()) + " parameters>";
        });

    m.def("load_model", &load_model, py::arg("spec"));
    m.def("parse_model_config", &parse_model_config, py::arg("text"), py::arg("file"), py::arg("name"));
    m.def("shipped_models", [] {
        std::vector<std::string> ids;
        for (const auto& s : shipped_models()) ids.push_back(s.hf_id);
        return ids;
    });

    py::class_<GpuProfile>(m, "GpuProfile", "A GPU profile (see headroom.load_gpu).")
        .def_readonly("name", &GpuProfile::name)
        .def_readonly("display_name", &GpuProfile::display_name)
        .def_readonly("aliases", &GpuProfile::aliases)
        .def_readonly("file", &GpuProfile::file)
        .def_readonly("memory_shared_with_cpu", &GpuProfile::memory_shared_with_cpu)
        .def_readonly("price_read_on", &GpuProfile::price_read_on)
        .def("fields",
             [](const GpuProfile& g) {
                 py::dict d;
                 for (const ProfileField& f : profile_fields()) {
                     const Sourced& s = g.*(f.member);
                     if (s.present()) d[py::str(std::string(f.path))] = py::make_tuple(s.value, s.source);
                 }
                 return d;
             },
             "Every number of the profile: field path -> (value, source).")
        .def("memory_bytes", &GpuProfile::memory_bytes)
        .def("usable_memory_bytes", &GpuProfile::usable_memory_bytes)
        .def("memory_bandwidth_bytes_per_s", &GpuProfile::memory_bandwidth_bytes_per_s)
        .def("peak_flops", [](const GpuProfile& g, const std::string& d) { return g.peak_flops(dtype("dtype", d)); },
             py::arg("dtype") = "bf16")
        .def("__repr__", [](const GpuProfile& g) { return "<GpuProfile " + g.name + ": " + g.display_name + ">"; });

    m.def("load_gpu", &load_gpu, py::arg("spec"));
    m.def("gpu_names", &shipped_gpu_names);
    m.def("apply_gpu_override",
          [](GpuProfile g, const std::string& assignment) {
              apply_gpu_override(g, assignment, "load_gpu()");
              return g;
          },
          py::arg("gpu"), py::arg("assignment"));

    py::class_<KvPlan>(m, "KvPlan", "A KV-cache plan per GPU (see headroom.kv_plan).")
        .def_readonly("kv_heads_per_gpu", &KvPlan::kv_heads_per_gpu)
        .def_readonly("kv_heads_replicated", &KvPlan::kv_heads_replicated)
        .def_readonly("usable_bytes", &KvPlan::usable_bytes)
        .def_readonly("budget_bytes", &KvPlan::budget_bytes)
        .def_readonly("weight_bytes", &KvPlan::weight_bytes)
        .def_readonly("reserve_bytes", &KvPlan::reserve_bytes)
        .def_readonly("kv_budget_bytes", &KvPlan::kv_budget_bytes)
        .def_readonly("kv_bytes_per_token", &KvPlan::kv_bytes_per_token)
        .def_readonly("block_bytes", &KvPlan::block_bytes)
        .def_readonly("num_blocks", &KvPlan::num_blocks)
        .def_readonly("kv_tokens", &KvPlan::kv_tokens)
        .def_readonly("group_layers", &KvPlan::group_layers)
        .def_readonly("group_windows", &KvPlan::group_windows)
        .def_readonly("sequence_bytes_at_context", &KvPlan::sequence_bytes_at_context)
        .def_readonly("max_concurrency_at_context", &KvPlan::max_concurrency_at_context)
        .def_readonly("max_context_at_concurrency", &KvPlan::max_context_at_concurrency)
        .def_readonly("fits", &KvPlan::fits)
        .def_readonly("why_not", &KvPlan::why_not)
        .def_readonly("binding_stage", &KvPlan::binding_stage)
        .def_property_readonly("stages",
                               [](const KvPlan& p) {
                                   py::list out;
                                   for (size_t s = 0; s < p.stage_layers.size(); ++s) {
                                       py::dict d;
                                       d["first_layer"] = p.stage_first_layer[s];
                                       d["layers"] = p.stage_layers[s];
                                       d["weight_bytes"] = p.stage_weight_bytes[s];
                                       d["reserve_bytes"] = p.stage_reserve_bytes[s];
                                       d["blocks"] = p.stage_blocks[s] < 0
                                                         ? py::object(py::none())
                                                         : py::object(py::int_(p.stage_blocks[s]));
                                       out.append(d);
                                   }
                                   return out;
                               })
        .def_property_readonly("context", [](const KvPlan& p) { return p.request.context; })
        .def_property_readonly("concurrency", [](const KvPlan& p) { return p.request.concurrency; })
        .def_property_readonly("max_model_len", [](const KvPlan& p) { return p.request.max_model_len; })
        .def_property_readonly("reserve", [](const KvPlan& p) {
            py::dict d;
            d["peak_activation_bytes"] = p.reserve.peak_activation();
            d["activation_bytes"] = p.reserve.activation_bytes;
            d["logits_bytes"] = p.reserve.logits_bytes;
            d["moe_workspace_bytes"] = p.reserve.moe_workspace_bytes;
            d["base_bytes"] = p.reserve.base_bytes;
            d["non_torch_bytes"] = p.reserve.non_torch_bytes;
            d["cuda_graph_bytes"] = p.reserve.cuda_graph_bytes;
            d["all2all_bytes"] = p.reserve.all2all_bytes;
            return d;
        });

    m.def(
        "kv_plan",
        [](const ModelCard& model, const GpuProfile& gpu, int64_t tp, const std::string& weights_dtype,
           const std::string& kv_dtype, double util, int64_t block_size, int64_t max_model_len,
           int64_t max_num_batched_tokens, int64_t max_num_seqs, double reserve_bytes, int64_t context,
           int64_t concurrency, int64_t pp, int64_t dp, bool expert_parallel,
           const std::string& all2all_backend, bool cuda_graphs,
           const std::vector<int64_t>& pp_layer_partition) {
            KvPlanRequest r;
            r.tp = tp;
            r.pp = pp;
            r.pp_layer_partition = pp_layer_partition;
            r.dp = dp;
            if (expert_parallel && !model.is_moe())
                throw PlanError("expert_parallel", model.name + " has no experts");
            if (const std::string why = unknown_all2all_backend(all2all_backend); !why.empty()) {
                throw PlanError("all2all_backend", why);
            }
            set_expert_parallel(r, model, expert_parallel, all2all_backend);  // as `headroom kv`
            r.weight_dtype = weights(weights_dtype);
            r.kv_dtype = dtype("kv_dtype", kv_dtype);
            r.gpu_memory_utilization = util;
            r.block_size = block_size;
            r.max_model_len = max_model_len;
            r.max_num_batched_tokens = max_num_batched_tokens;
            r.max_num_seqs = max_num_seqs;
            r.reserve_bytes = reserve_bytes;
            r.context = context;
            r.concurrency = concurrency;
            r.cuda_graphs = cuda_graphs;
            return plan_kv(model, gpu, r);
        },
        py::arg("model"), py::arg("gpu"), py::arg("tp") = 1, py::arg("weights_dtype") = "auto",
        py::arg("kv_dtype") = "bf16", py::arg("gpu_memory_utilization") = 0.9, py::arg("block_size") = 16,
        py::arg("max_model_len") = 0, py::arg("max_num_batched_tokens") = 0, py::arg("max_num_seqs") = 0,
        py::arg("reserve_bytes") = -1.0, py::arg("context") = 0, py::arg("concurrency") = 1,
        py::arg("pp") = 1, py::arg("dp") = 1, py::arg("expert_parallel") = false,
        py::arg("all2all_backend") = "allgather_reducescatter", py::arg("cuda_graphs") = true,
        py::arg("pp_layer_partition") = std::vector<int64_t>{});

    m.def(
        "cost",
        [](const ModelCard& model, const GpuProfile& gpu,
           const std::vector<std::pair<int64_t, int64_t>>& batch, int64_t tp,
           const std::string& weights_dtype, const std::string& kv_dtype, bool cuda_graphs,
           double step_overhead_s, const std::string& predictor, bool async_scheduling,
           const std::string& moe_routing, const std::string& calibration, const std::string& kernel_tables,
           bool decodes, bool cached_context) {
            CostConfig c;
            c.tp = tp;
            c.weight_dtype = weights(weights_dtype);
            c.kv_dtype = dtype("kv_dtype", kv_dtype);
            c.cuda_graphs = cuda_graphs;
            c.step_overhead_s = step_overhead_s;
            c.async_scheduling = async_scheduling;
            check_serving_layout(model, gpu, tp, 1, c.kv_dtype,
                                 /*allow_encoder=*/true);  // the same checks as the CLI
            check_encoder_step(model, decodes, cached_context);
            if (!moe_routing.empty()) c.moe_routing = moe_routing_for(model, moe_routing);
            if (batch.empty())
                throw PlanError("tokens",
                                "give a prefill size (tokens=N) or a decode batch (decode_batch=B)");
            std::vector<SequenceWork> work;
            for (const auto& [n, ctx] : batch) {
                if (n < 1 || ctx < 0 || n + ctx > model.max_position_embeddings) {
                    throw PlanError(
                        "tokens",
                        "each sequence needs >= 1 new token and a context within the model's positions");
                }
                work.push_back({n, ctx});
            }
            // the CLI's --calibration and --kernel-tables (the errors read "calibration: ...", "kernel_tables: ...")
            if (!calibration.empty())
                c.calibration = std::make_shared<const Calibration>(load_calibration(calibration));
            if (!kernel_tables.empty())
                c.kernel_tables = std::make_shared<const KernelTables>(load_kernel_tables(kernel_tables));
            check_own_cost_inputs(c, gpu);
            std::unique_ptr<StepTimePredictor> p;
            p = make_step_predictor(model, gpu, c, predictor);
            const StepCost s = p->step(work);
            py::list ops;
            for (const OpCost& o : s.ops) {
                py::dict d;
                d["op"] = o.name, d["count"] = o.count, d["flops"] = o.flops, d["bytes"] = o.bytes;
                d["time_s"] = o.time_s, d["compute_s"] = o.compute_s, d["memory_s"] = o.memory_s;
                d["comm_s"] = o.comm_s, d["overhead_s"] = o.overhead_s,
                d["bound"] = std::string(bound_name(o.bound));
                d["roofline_s"] = o.roofline_s, d["source"] = o.source;
                ops.append(d);
            }
            return py::make_tuple(ops, s.host_hidden_s, s.run_tokens());
        },
        py::arg("model"), py::arg("gpu"), py::arg("batch"), py::arg("tp") = 1,
        py::arg("weights_dtype") = "auto", py::arg("kv_dtype") = "bf16", py::arg("cuda_graphs") = true,
        py::arg("step_overhead_s") = 1.0e-3, py::arg("predictor") = "auto",
        py::arg("async_scheduling") = true, py::arg("moe_routing") = "", py::arg("calibration") = "",
        py::arg("kernel_tables") = "", py::arg("decodes") = false, py::arg("cached_context") = false);

    py::class_<Scenario>(m, "Scenario", "A serving scenario (see headroom.load_scenario).")
        .def_readonly("name", &Scenario::name)
        .def_readonly("file", &Scenario::file)
        .def_property_readonly("model", [](const Scenario& s) -> const ModelCard& { return s.deployment.model; },
                               py::return_value_policy::reference_internal)
        .def_property_readonly("gpu", [](const Scenario& s) -> const GpuProfile& { return s.deployment.gpu; },
                               py::return_value_policy::reference_internal)
        .def_property_readonly("tp", [](const Scenario& s) { return s.deployment.tp; })
        .def_property_readonly("replicas", [](const Scenario& s) { return s.deployment.replicas; })
        .def_readonly("seed", &Scenario::seed)
        .def("__repr__", [](const Scenario& s) { return "<Scenario " + s.name + " (" + s.file + ")>"; });

    m.def("load_scenario", &load_scenario, py::arg("path"), py::arg("overrides") = std::vector<std::string>{});
    m.def("parse_scenario", &parse_scenario, py::arg("text"), py::arg("file"), py::arg("base_dir"),
          py::arg("overrides") = std::vector<std::string>{});

    m.def("simulate",
          [](const Scenario& sc, bool keep_all_steps, bool keep_requests) {
              SimulationResult r;
              {
                  py::gil_scoped_release release;
                  (void)scenario_kv_plan(sc);
                  SimulationOptions o;
                  o.keep_all_steps = keep_all_steps;
                  o.keep_requests = keep_requests;
                  Interruptible interruptible;
                  r = simulate(sc, o);
              }
              return py::make_tuple(simulation_json(sc, r), request_columns(r.requests), step_columns(r.timeseries));
          },
          py::arg("scenario"), py::arg("keep_all_steps") = false, py::arg("keep_requests") = true,
          "Runs the scenario in a child process; returns (JSON line, request columns, step columns).");

    m.def("sweep",
          [](const std::string& path, const std::vector<std::string>& overrides, const std::string& load_kind,
             const std::vector<double>& loads, const std::vector<std::pair<std::string, std::vector<std::string>>>& axes,
             bool counterfactuals, int jobs, const py::object& progress, int refine, const py::object& remote) {
              SweepRequest req;
              req.scenario_path = path;
              req.overrides = overrides;
              req.load_kind = load_kind == "qps" ? LoadKind::QPS : LoadKind::CONCURRENCY;
              if (!loads.empty()) req.loads = loads;
              for (const auto& [k, v] : axes) req.axes.push_back({k, v});
              req.counterfactuals = counterfactuals;
              req.jobs = jobs;
              req.refine = refine;
              req.remote = remote_to(remote);
              std::string lines;
              {
                  const auto report = progress_to(progress);
                  py::gil_scoped_release release;
                  Interruptible interruptible;
                  lines = sweep_json_lines(req, run_sweep(req, report));
              }
              return lines;
          },
          py::arg("path"), py::arg("overrides"), py::arg("load_kind"), py::arg("loads"), py::arg("axes"),
          py::arg("counterfactuals") = true, py::arg("jobs") = 0, py::arg("progress") = py::none(), py::arg("refine") = 4,
          py::arg("remote") = py::none(),
          "Runs a sweep; returns one JSON line per point. progress(done, total) is called as simulations finish. "
          "remote(recipes) -> [result bytes], when given, runs each batch of simulations elsewhere (simulate_recipe).");

    m.def("simulate_recipe",
          [](const std::string& recipe) {
              std::string bytes;
              {
                  py::gil_scoped_release release;
                  bytes = simulate_recipe(recipe);
              }
              return py::bytes(bytes);
          },
          py::arg("recipe"),
          "Simulates one sweep point from its recipe (JSON) in a forked child; returns its result bytes. What a Dask "
          "worker runs for headroom.sweep(..., client=...)."); 

    m.def("validate_against",
          [](const std::string& result, const std::string& scenario, const std::string& model, const std::string& gpu,
             const std::vector<std::string>& overrides, uint64_t seed, int benchmark) {
              const AgainstRequest rq = against_request(result, scenario, model, gpu, overrides, seed, benchmark);
              py::gil_scoped_release release;
              Interruptible interruptible;
              return validate_against_json(validate_against(rq));
          },
          py::arg("result"), py::arg("scenario"), py::arg("model"), py::arg("gpu"), py::arg("overrides"), py::arg("seed") = 0,
          py::arg("benchmark") = -1,
          "Simulates the load of a vllm bench serve, GuideLLM or AIPerf result; returns the headroom.validate-against/1 JSON.");

    m.def("validate_against_sweep",
          [](const std::vector<std::string>& results, const std::string& scenario, const std::string& model,
             const std::string& gpu, const std::vector<std::string>& overrides, uint64_t seed, int benchmark) {
              std::vector<AgainstRequest> reqs;
              for (const std::string& f : results) reqs.push_back(against_request(f, scenario, model, gpu, overrides, seed, benchmark));
              std::string lines;
              {
                  py::gil_scoped_release release;
                  Interruptible interruptible;
                  const AgainstSweep sw = validate_against_sweep(reqs);
                  for (const AgainstResult& r : sw.runs) lines += validate_against_json(r) + "\n";
                  lines += validate_against_knee_json(sw) + "\n";
              }
              return lines;
          },
          py::arg("results"), py::arg("scenario"), py::arg("model"), py::arg("gpu"), py::arg("overrides"), py::arg("seed") = 0,
          py::arg("benchmark") = -1,
          "Several result files of one deployment at several loads: one headroom.validate-against/1 line per file, by "
          "increasing load, then the headroom.validate-against-knee/1 line with both knees.");

    m.def("plan",
          [](const std::string& model, double qps, const std::string& slo, const std::vector<std::string>& gpus,
             const std::string& workload, const std::vector<std::string>& overrides, double duration_s, int top, int jobs,
             const py::object& progress, const py::object& remote, bool disaggregate) {
              CapacityRequest req;
              req.model_spec = model;
              req.qps = qps;
              try {
                  req.slos = parse_slo_list(slo);
              } catch (const std::invalid_argument& e) {
                  throw PlanError("slo", e.what());
              }
              if (!(qps > 0)) throw PlanError("qps", "must be > 0");
              req.gpus = gpus;
              req.workload_path = workload;
              req.overrides = overrides;
              req.duration_s = duration_s;
              req.jobs = jobs;
              req.remote = remote_to(remote);
              req.try_disaggregated = disaggregate;
              (void)load_model(model);
              std::string out;
              {
                  const auto report = progress_to(progress);
                  py::gil_scoped_release release;
                  Interruptible interruptible;
                  const CapacityPlan plan = plan_capacity(req, report);
                  if (plan.ranked.empty()) {
                      std::string why;
                      for (const auto& s : plan.skipped) why += (why.empty() ? "" : "; ") + s;
                      throw PlanError("model", "no configuration of " + model + " can serve it (" + why + ")");
                  }
                  out = capacity_json(req, plan, top);
              }
              return out;
          },
          py::arg("model"), py::arg("qps"), py::arg("slo"), py::arg("gpus"), py::arg("workload"), py::arg("overrides"),
          py::arg("duration_s") = 0.0, py::arg("top") = 5, py::arg("jobs") = 0, py::arg("progress") = py::none(),
          py::arg("remote") = py::none(), py::arg("disaggregate") = false,
          "Searches the cheapest fleet; returns the headroom.plan/1 JSON. remote(recipes) -> [result bytes], when given, "
          "runs each batch of probes elsewhere (simulate_recipe).");
}
