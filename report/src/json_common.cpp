#include "json_common.hpp"

#include <string>

#include "headroom/sim/version.hpp"

namespace headroom::report_detail {

void add_version(json& j) {
    j["headroom_version"] = std::string(version());
    j["git_commit"] = std::string(git_commit());
}

json stamp(const char* command) {
    json j;
    j["command"] = command;
    add_version(j);
    return j;
}

json percentiles_json(const Percentiles& p) {
    return {{"mean", p.mean}, {"p50", p.p50}, {"p90", p.p90}, {"p95", p.p95}, {"p99", p.p99}, {"max", p.max}, {"n", p.n}};
}

}  // namespace headroom::report_detail
