// A saturation sweep: one scenario run at a list of loads (closed-loop users, or an open-loop request rate),
// optionally crossed with other scenario fields (--set gpu=h100,h200). Points run in parallel child
// processes. Each series (one combination of the extra fields) gets its knee, its stable operating zone,
// an explanation per point and, for its first point that misses an SLO, the counterfactual changes.
#pragma once

#include <functional>
#include <string>
#include <utility>
#include <vector>

#include "headroom/sim/analysis.hpp"
#include "headroom/sim/engine.hpp"

namespace headroom {

enum class LoadKind { CONCURRENCY, QPS };

struct SweepAxis {
    std::string key;                  // scenario field, as in --set
    std::vector<std::string> values;
};

// How a sweep's simulation is made, so that another process (a Dask worker) can make the same scenario: the
// scenario file and overrides (with the series' axis values), the load, and a counterfactual's label.
// build_point repeats exactly the typed edits run_sweep makes, so a result simulated elsewhere is bit-identical.
struct PointRecipe {
    std::string scenario_path;
    std::vector<std::string> overrides;
    LoadKind load_kind = LoadKind::CONCURRENCY;
    double load = 0.0;
    std::string counterfactual;  // "" or a Counterfactual label (analysis.hpp)
};
std::string recipe_json(const PointRecipe& r);
// Throws ScenarioError naming the field when the text is not a recipe.
PointRecipe parse_recipe(const std::string& json);
Scenario build_point(const PointRecipe& r);
// A recipe's simulation in a forked child, as serialize_result bytes: what a remote worker runs.
std::string simulate_recipe(const std::string& recipe_json);
// Where a sweep's simulations run when not in forked children here: given each simulation's recipe (JSON),
// the serialize_result bytes of each, in order (the Python package runs them on a Dask cluster).
using RemoteRunner = std::function<std::vector<std::string>(const std::vector<std::string>& recipes)>;

struct SweepRequest {
    std::string scenario_path;
    std::vector<std::string> overrides;  // applied to every point
    LoadKind load_kind = LoadKind::CONCURRENCY;
    std::vector<double> loads = {1, 2, 5, 10, 20, 40, 60, 80, 120, 160, 200};
    std::vector<SweepAxis> axes;
    bool counterfactuals = true;
    int jobs = 0;  // parallel processes; 0: all cores
    // Capacity refinement: the bracket between a series' last passing load and its first failing one is cut
    // until it is 2^refine times narrower (or one user wide); 0: the grid alone.
    int refine = 4;
    RemoteRunner remote;  // empty: simulate in forked children here
};

struct SweepPoint {
    std::vector<std::pair<std::string, std::string>> coords;  // the extra fields' values
    std::string series;                                       // "gpu=h200, kv_dtype=fp8" ("" with no axes)
    double load = 0.0;
    std::string load_text;  // "60 users", "4 req/s"
    Scenario scenario;
    PointRecipe recipe;  // how `scenario` was made
    bool fits = true;
    std::string why_not;
    SimulationResult result;
    Explanation explanation;
};

struct CounterfactualResult {
    Counterfactual change;
    bool fits = true;
    std::string why_not;
    SimulationResult result;
    bool restores = false;
    double usd_per_hour = 0.0;  // the changed fleet's price
    std::string sentence;
};

// A series' capacity answer: the highest load meeting every SLO. Bisected between the grid's last passing
// load and the first failing one above it (several probes per round when cores allow), so it does not sit
// on whichever grid point happened to be swept.
struct CapacityEstimate {
    enum class Kind {
        NONE,         // the scenario has no SLOs
        BRACKETED,    // a passing load below a failing one: `load` passes, `fail_load` misses
        ABOVE_RANGE,  // every swept load passes: capacity is at least `load`, the highest swept
        BELOW_RANGE,  // the lowest swept load already misses (`fail_load`)
    };
    Kind kind = Kind::NONE;
    double load = 0.0;            // the highest load found to meet every SLO (grid or probe)
    std::string load_text;
    double fail_load = 0.0;       // the lowest load found to miss one, above `load`
    std::string fail_text;
    double grid_load = 0.0, grid_fail_load = 0.0;  // the grid bracket the refinement started from
    int64_t simulations = 0;      // probes simulated to refine it
    SimulationResult result;      // at `load`
    std::string sentence;         // the answer in words, as the CLI, the JSON and the HTML report give it
};

struct SweepSeries {
    std::string series;
    std::vector<size_t> points;  // indices into SweepResult::points, by increasing load
    Knee knee;
    bool any_slo = false;           // the scenario has SLOs
    bool stable_found = false;      // some point meets every SLO
    double max_stable_load = 0.0;   // the highest load meeting every SLO
    size_t first_failing = SIZE_MAX;  // the lowest load that misses an SLO
    CapacityEstimate capacity;
    std::string knee_relation;  // how the knee and the capacity relate, in words ("" when nothing to say)
    double usd_per_hour = 0.0;
    std::vector<CounterfactualResult> counterfactuals;
};

struct SweepResult {
    std::vector<SweepPoint> points;
    std::vector<SweepSeries> series;
};

// Puts a loaded scenario at `load` (a typed edit). An open-loop workload becomes Poisson at the rate, or
// closed-loop with the users. A trace is replayed faster or slower (its time scale) for a rate; for users,
// closed-loop users draw their lengths from the trace's columns, for as long as the trace lasts. Throws
// ScenarioError when the load is outside the loader's bounds.
void set_load(Scenario& sc, LoadKind kind, double load);
std::string load_text(LoadKind kind, double load, Shape shape);

// Loads every point's scenario first (so a bad input fails before anything runs), then simulates the grid,
// the counterfactuals and the capacity probes.
// `progress(done, total)` is called in this process as simulations finish.
SweepResult run_sweep(const SweepRequest& request, const std::function<void(size_t, size_t)>& progress = {});

}  // namespace headroom
