// Pieces every JSON report shares (internal to report/).
#pragma once

#include <nlohmann/json.hpp>

#include "headroom/core/metrics.hpp"

namespace headroom::report_detail {

using json = nlohmann::ordered_json;

// "command", "headroom_version" and "git_commit": the head of every object the inspection commands print.
json stamp(const char* command);
// Adds "headroom_version" and "git_commit" to `j`.
void add_version(json& j);
json percentiles_json(const Percentiles& p);

}  // namespace headroom::report_detail
