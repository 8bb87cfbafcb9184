#include "headroom/core/trace.hpp"

#include <fmt/format.h>

#include <cmath>
#include <fstream>
#include <istream>
#include <sstream>
#include <stdexcept>

namespace headroom {

std::vector<TraceRow> read_trace_csv(const std::string& path) {
    std::ifstream in(path);
    if (!in) throw std::runtime_error(fmt::format("{}: cannot open file", path));
    return parse_trace_csv(in, path);
}

std::vector<TraceRow> parse_trace_csv(std::istream& in, const std::string& path) {
    std::string line;
    if (!std::getline(in, line)) throw std::runtime_error(fmt::format("{}: empty file", path));
    if (!line.empty() && line.back() == '\r') line.pop_back();
    if (line != "arrived_at,num_prefill_tokens,num_decode_tokens") {
        throw std::runtime_error(fmt::format("{}: line 1: expected the header "
                                             "arrived_at,num_prefill_tokens,num_decode_tokens", path));
    }
    std::vector<TraceRow> rows;
    int64_t n = 1;
    static const char* columns[] = {"arrived_at", "num_prefill_tokens", "num_decode_tokens"};
    while (std::getline(in, line)) {
        ++n;
        if (!line.empty() && line.back() == '\r') line.pop_back();
        if (line.empty()) continue;
        std::stringstream ss(line);
        std::string cell;
        double v[3];
        for (int c = 0; c < 3; ++c) {
            if (!std::getline(ss, cell, ',')) {
                throw std::runtime_error(fmt::format("{}: line {}: {}: missing", path, n, columns[c]));
            }
            char* end = nullptr;
            v[c] = std::strtod(cell.c_str(), &end);
            if (cell.empty() || *end != '\0' || !std::isfinite(v[c]) || v[c] < 0) {
                throw std::runtime_error(fmt::format("{}: line {}: {}: expected a number >= 0, got \"{}\"", path, n,
                                                     columns[c], cell));
            }
        }
        if (v[0] > 1e9) throw std::runtime_error(fmt::format("{}: line {}: arrived_at: {} s is beyond 1e9 s", path, n, v[0]));
        for (int c = 1; c < 3; ++c) {
            if (v[c] > 1e7 || v[c] != std::floor(v[c])) {
                throw std::runtime_error(fmt::format("{}: line {}: {}: expected a whole number of tokens up to 10,000,000, got \"{:g}\"",
                                                     path, n, columns[c], v[c]));
            }
        }
        if (v[1] < 1) throw std::runtime_error(fmt::format("{}: line {}: {}: a prompt needs at least 1 token", path, n, columns[1]));
        TraceRow r{v[0], static_cast<int64_t>(v[1]), static_cast<int64_t>(v[2])};
        if (!rows.empty() && r.arrived_at_s < rows.back().arrived_at_s) {
            throw std::runtime_error(fmt::format("{}: line {}: arrived_at: goes back in time", path, n));
        }
        rows.push_back(r);
    }
    if (rows.empty()) throw std::runtime_error(fmt::format("{}: no rows", path));
    return rows;
}

double trace_rate(const std::vector<TraceRow>& rows) {
    if (rows.empty()) return 0.0;
    const double span = rows.back().arrived_at_s - rows.front().arrived_at_s;
    return span > 0 ? static_cast<double>(rows.size()) / span : static_cast<double>(rows.size());
}

}  // namespace headroom
