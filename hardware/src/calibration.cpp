// Calibration YAML in both directions, and the shipped calibrations (hardware/calibrations/*.yaml).
#include "headroom/hardware/calibration.hpp"
#include "headroom/hardware/yaml_fields.hpp"

#include <fmt/format.h>
#include <yaml-cpp/yaml.h>

#include <cmath>
#include <fstream>
#include <mutex>
#include <set>
#include <sstream>

namespace headroom {

// Generated from hardware/calibrations/*.yaml by cmake/headroom_embed.cmake.
const std::vector<std::pair<std::string_view, std::string_view>>& embedded_calibrations();

std::string Calibration::label() const {
    if (!derived_from.empty()) return fmt::format("roofline (calibrated, derived from {})", derived_from);
    return "roofline (calibrated)";
}

std::string calibration_yaml(const Calibration& c) {
    std::string y = "# headroom calibration: a roofline fitted to measured kernel times (headroom calibrate).\n";
    y += fmt::format("gpu: {}\n", c.gpu);
    y += fmt::format("fitted_on: \"{}\"\n", c.fitted_on);
    if (!c.derived_from.empty()) y += fmt::format("derived_from: {}\n", c.derived_from);
    y += fmt::format("dtype: {}\n", c.dtype);
    y += "gemm:\n";
    y += fmt::format("  launch_us: {:.6g}\n", c.gemm.launch_s * 1e6);
    y += fmt::format("  compute_efficiency: {:.6g}\n", c.gemm.compute_efficiency);
    y += fmt::format("  memory_efficiency: {:.6g}\n", c.gemm.memory_efficiency);
    y += fmt::format("  blend_exponent: {:.6g}\n", c.gemm.blend_exponent);
    y += fmt::format("  fit: {{points: {}, median_abs_rel_error: {:.4g}, p90_abs_rel_error: {:.4g}}}\n", c.gemm_fit.points,
                     c.gemm_fit.median_abs_rel_error, c.gemm_fit.p90_abs_rel_error);
    if (!c.allreduce.empty()) {
        y += "allreduce:\n";
        for (const auto& [gpus, a] : c.allreduce) {
            y += fmt::format("  {}: {{latency_us: {:.6g}, bus_gb_per_s: {:.6g}}}\n", gpus, a.latency_s * 1e6,
                             a.bus_bytes_per_s / 1e9);
        }
    }
    return y;
}

namespace {

class Reader : public YamlFields {
public:
    explicit Reader(std::string file) : file_(std::move(file)) {}
    [[noreturn]] void fail(const std::string& field, const std::string& reason) const override {
        throw HardwareError(file_, field, reason);
    }

private:
    std::string file_;
};

}  // namespace

Calibration parse_calibration(const std::string& text, const std::string& file) {
    YAML::Node root;
    try {
        root = YAML::Load(text);
    } catch (const YAML::Exception& e) {
        throw HardwareError(file, "", fmt::format("not valid YAML (line {}): {}", e.mark.line + 1, e.msg));
    }
    Reader r(file);
    r.only(root, "", {"gpu", "fitted_on", "derived_from", "dtype", "gemm", "allreduce"});
    Calibration c;
    c.file = file;
    c.gpu = r.string(root["gpu"], "gpu");
    c.fitted_on = r.string(root["fitted_on"], "fitted_on");
    if (root["derived_from"]) c.derived_from = r.string(root["derived_from"], "derived_from");
    if (root["dtype"]) c.dtype = r.string(root["dtype"], "dtype");
    const YAML::Node g = root["gemm"];
    if (!g) r.fail("gemm", "missing");
    r.only(g, "gemm", {"launch_us", "compute_efficiency", "memory_efficiency", "blend_exponent", "fit"});
    c.gemm.launch_s = r.number(g["launch_us"], "gemm.launch_us", 0, 1e4) * 1e-6;
    c.gemm.compute_efficiency = r.number(g["compute_efficiency"], "gemm.compute_efficiency", 0, 1.5, true);
    c.gemm.memory_efficiency = r.number(g["memory_efficiency"], "gemm.memory_efficiency", 0, 1.5, true);
    c.gemm.blend_exponent = r.number(g["blend_exponent"], "gemm.blend_exponent", 0.5, 64);
    if (const YAML::Node f = g["fit"]) {
        r.only(f, "gemm.fit", {"points", "median_abs_rel_error", "p90_abs_rel_error"});
        c.gemm_fit.points = static_cast<int64_t>(r.number(f["points"], "gemm.fit.points", 0, 1e9));
        c.gemm_fit.median_abs_rel_error = r.number(f["median_abs_rel_error"], "gemm.fit.median_abs_rel_error", 0, 1e3);
        c.gemm_fit.p90_abs_rel_error = r.number(f["p90_abs_rel_error"], "gemm.fit.p90_abs_rel_error", 0, 1e3);
    }
    if (const YAML::Node a = root["allreduce"]) {
        if (!a.IsMap()) r.fail("allreduce", "expected a mapping of GPU counts");
        for (const auto& kv : a) {
            const std::string key = kv.first.Scalar();
            const std::string path = "allreduce." + key;
            int64_t gpus = 0;
            try {
                gpus = std::stoll(key);
            } catch (const std::exception&) {
                r.fail(path, "expected a GPU count");
            }
            if (gpus < 2 || gpus > 4096 || std::to_string(gpus) != key) r.fail(path, "expected a GPU count from 2 to 4096");
            if (c.allreduce.count(gpus)) r.fail(path, "duplicate key");
            r.only(kv.second, path, {"latency_us", "bus_gb_per_s"});
            c.allreduce[gpus] = {r.number(kv.second["latency_us"], path + ".latency_us", 0, 1e6) * 1e-6,
                                 r.number(kv.second["bus_gb_per_s"], path + ".bus_gb_per_s", 0, 1e5, true) * 1e9};
        }
    }
    return c;
}

Calibration load_calibration(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    if (!in) throw HardwareError(path, "", "cannot open file");
    std::ostringstream ss;
    ss << in.rdbuf();
    return parse_calibration(ss.str(), path);
}

std::shared_ptr<const Calibration> shipped_calibration(const std::string& gpu) {
    static std::mutex mu;
    static std::map<std::string, std::shared_ptr<const Calibration>> cache;
    std::lock_guard<std::mutex> lock(mu);
    if (auto it = cache.find(gpu); it != cache.end()) return it->second;
    std::shared_ptr<const Calibration> c;
    for (const auto& [stem, text] : embedded_calibrations()) {
        if (stem == gpu) c = std::make_shared<const Calibration>(parse_calibration(std::string(text), "hardware/calibrations/" + gpu + ".yaml"));
    }
    if (c) cache[gpu] = c;  // misses are not kept: names come from user input, and the cache must stay bounded
    return c;
}

}  // namespace headroom
