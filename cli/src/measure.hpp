// The executor's commands: `headroom measure step`, `headroom measure serve` and `headroom validate`.
#pragma once

#include <CLI/CLI.hpp>

#include <functional>

namespace headroom::cli {

// Adds the commands to `app`; the one that is parsed sets `action`.
void add_measure_commands(CLI::App& app, std::function<int()>& action);

}  // namespace headroom::cli
