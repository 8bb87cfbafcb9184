// Every JSON object headroom prints (schemas in docs/simulate-json.md), built with nlohmann in this one place
// for the CLI and the Python bindings. Each function returns one object on one line, carrying the headroom
// version and git commit.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "headroom/core/cost_model.hpp"
#include "headroom/core/kv_planner.hpp"
#include "headroom/core/step_predictor.hpp"
#include "headroom/executor/measure.hpp"
#include "headroom/hardware/calibration.hpp"
#include "headroom/hardware/cluster.hpp"
#include "headroom/hardware/gpu_profile.hpp"
#include "headroom/models/config_loader.hpp"
#include "headroom/models/model_card.hpp"
#include "headroom/report/measured.hpp"
#include "headroom/sim/capacity.hpp"
#include "headroom/sim/engine.hpp"
#include "headroom/sim/platform.hpp"
#include "headroom/sim/sweep.hpp"

namespace headroom {

// The inspection commands.
std::string card_json(const ModelCard& m);
// `drafter`: the speculative drafter whose memory the plan holds, or "" (null in the JSON).
std::string kv_json(const ModelCard& m, const GpuProfile& gpu, const KvPlan& plan, const std::string& drafter = "");
// `what` describes the batch ("prefill 4096 tokens", "decode 32 x 8192").
std::string cost_json(const CostModel& cm, const StepTimePredictor& p, const StepCost& s, const std::string& what);
std::string calibration_json(const Calibration& c);
std::string gpus_json(const std::vector<GpuProfile>& gpus);
std::string gpu_json(const GpuProfile& gpu);
// `cluster show`: the topology's summary, its bisection bandwidth, one route, and (bytes > 0) the closed form
// and SimGrid's time for one transfer of that many bytes on it.
std::string cluster_json(const ClusterTopology& t, const ClusterRoute& route, int64_t from, int64_t to, double bytes,
                         const TransferResult* simulated);
std::string models_json(const std::vector<ShippedModel>& shipped, const std::vector<ModelCard>& cards);

// Simulations: headroom.simulate/1, a sweep (one line per point: the simulate schema plus "sweep"), and a
// capacity plan (headroom.plan/1).
std::string simulation_json(const Scenario& sc, const SimulationResult& r);
std::string sweep_json_lines(const SweepRequest& req, const SweepResult& r);
std::string capacity_json(const CapacityRequest& req, const CapacityPlan& plan, int top);

// Measurements: a run of `measure serve` (the simulate schema, with "source": "measured" and the device,
// driver, CUDA version, layers and peak memory), one measured step (headroom.measure-step/1), and one line of
// `validate` (headroom.validate/1; `users` > 0 marks a sweep point).
std::string serve_json(const Scenario& sc, const MeasuredRun& r);
std::string step_json(const ModelCard& m, const GpuProfile& gpu, const StepMeasurement& s);
std::string validate_json(const Scenario& sc, const SimulationResult& predicted, const MeasuredRun& measured,
                          const std::vector<Comparison>& rows, int64_t users = 0);
// The last line of `validate --sweep --json` (headroom.validate-knee/1): both knees, null where none was found.
std::string validate_knee_json(const ValidationSweep& s);

}  // namespace headroom
