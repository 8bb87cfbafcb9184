// Fitting the calibrated roofline: Levenberg-Marquardt on log time for GEMMs (5 parameters, 9 for fp8, kept positive by
// fitting their logs), ordinary least squares per GPU count for all-reduces. Both in Eigen.
#include "headroom/sim/calibrate.hpp"

#include <fmt/format.h>

#include <Eigen/Dense>
#include <nlohmann/json.hpp>
#include <algorithm>
#include <cmath>
#include <fstream>
#include <sstream>

#include "headroom/models/config_loader.hpp"
#include "headroom/core/cost_model.hpp"
#include "headroom/hardware/profile_loader.hpp"
#include "headroom/sim/metrics.hpp"

namespace headroom {

namespace {

// The parameters theta = log(launch_s, ec, em, p, mainloop_s_per_k[, activation_bytes, output_bytes, row_s,
// wave_exponent]) as a
// calibration.
GemmCalibration from_theta(const Eigen::VectorXd& theta) {
    GemmCalibration c;
    c.launch_s = std::exp(theta[0]);
    c.compute_efficiency = std::exp(theta[1]);
    c.memory_efficiency = std::exp(theta[2]);
    c.blend_exponent = std::exp(theta[3]);
    c.mainloop_s_per_k = std::exp(theta[4]);
    if (theta.size() > 5) {
        c.activation_bytes = std::exp(theta[5]);
        c.output_bytes = std::exp(theta[6]);
        c.row_s = std::exp(theta[7]);
        c.wave_exponent = std::exp(theta[8]);
    }
    return c;
}

// log time of every sample under theta.
Eigen::VectorXd predict_log(const GpuProfile& gpu, Dtype dtype, const std::vector<GemmSample>& s,
                            const Eigen::VectorXd& theta) {
    const GemmCalibration c = from_theta(theta);
    Eigen::VectorXd out(static_cast<Eigen::Index>(s.size()));
    for (size_t i = 0; i < s.size(); ++i) out[static_cast<Eigen::Index>(i)] = std::log(gemm_time_s(gpu, dtype, s[i].m, s[i].n, s[i].k, &c));
    return out;
}

}  // namespace

GemmCalibration fit_gemm(const GpuProfile& gpu, Dtype dtype, const std::vector<GemmSample>& all, FitQuality* quality) {
    std::vector<GemmSample> samples;
    samples.reserve(all.size());
    for (const GemmSample& s : all) {
        if (!s.l2_warm) samples.push_back(s);
    }
    if (samples.size() < 8) {
        throw HardwareError("", "", fmt::format("need at least 8 GEMM measurements to fit, got {}{}", samples.size(),
                                                samples.size() < all.size() ? fmt::format(" (and {} timed L2-warm)", all.size() - samples.size()) : ""));
    }
    const auto n = static_cast<Eigen::Index>(samples.size());
    Eigen::VectorXd y(n);
    double t_min = 1e300;
    for (Eigen::Index i = 0; i < n; ++i) {
        y[i] = std::log(samples[static_cast<size_t>(i)].time_s);
        t_min = std::min(t_min, samples[static_cast<size_t>(i)].time_s);
    }
    // fp8 adds the per-element activation and output terms (calibration.hpp), started at one byte each, the row
    // term and the tile-wave exponent (started at 0.5).
    const bool fp8 = dtype == Dtype::FP8;
    const Eigen::Index P = fp8 ? 9 : 5;
    Eigen::VectorXd theta(P);
    // the k term starts where a 1,000-deep walk costs a tenth of the fastest measurement
    theta.head(5) << std::log(0.5 * t_min), std::log(0.7), std::log(0.8), std::log(2.5), std::log(1e-4 * t_min);
    if (fp8) theta.tail(4) << 0.0, 0.0, std::log(1e-3 * t_min), std::log(0.5);  // a row: a thousandth of the fastest GEMM
    Eigen::VectorXd r = predict_log(gpu, dtype, samples, theta) - y;
    double cost = r.squaredNorm();
    double lambda = 1e-3;
    for (int it = 0; it < 200; ++it) {
        Eigen::MatrixXd J(n, P);
        for (Eigen::Index j = 0; j < P; ++j) {  // central differences in log parameters
            const double h = 1e-5;
            Eigen::VectorXd a = theta, b = theta;
            a[j] += h;
            b[j] -= h;
            J.col(j) = (predict_log(gpu, dtype, samples, a) - predict_log(gpu, dtype, samples, b)) / (2 * h);
        }
        const Eigen::MatrixXd JtJ = J.transpose() * J;
        const Eigen::VectorXd g = J.transpose() * r;
        bool improved = false;
        for (int tries = 0; tries < 20 && !improved; ++tries) {
            Eigen::MatrixXd A = JtJ;
            A.diagonal() += lambda * JtJ.diagonal().cwiseMax(1e-12);
            const Eigen::VectorXd step = A.ldlt().solve(-g);
            Eigen::VectorXd next = theta + step;
            next[3] = std::clamp(next[3], std::log(0.6), std::log(60.0));  // p within reason
            // a k term under 1e-16 s per element (under 0.1 ns for a million-deep GEMM) is nothing, and so is a
            // per-element term below 1e-6 bytes: keep them from running off to log(0)
            next[4] = std::max(next[4], std::log(1e-16));
            for (Eigen::Index j = 5; j < std::min<Eigen::Index>(P, 7); ++j) next[j] = std::max(next[j], std::log(1e-6));
            if (P > 7) next[7] = std::max(next[7], std::log(1e-16));  // under 0.1 fs a row: nothing
            // a wave exponent within [1e-6, 1] (calibration.hpp: above 1 an idle tile slot would cost more than a busy one)
            if (P > 8) next[8] = std::clamp(next[8], std::log(1e-6), 0.0);
            const Eigen::VectorXd rn = predict_log(gpu, dtype, samples, next) - y;
            const double cn = rn.squaredNorm();
            if (std::isfinite(cn) && cn < cost) {
                const double gain = (cost - cn) / cost;
                theta = next;
                r = rn;
                cost = cn;
                lambda = std::max(1e-9, lambda / 3);
                improved = true;
                if (gain < 1e-12) it = 1000;  // converged
            } else {
                lambda *= 4;
            }
        }
        if (!improved) break;
    }
    const GemmCalibration c = from_theta(theta);
    if (quality) {
        std::vector<double> err;
        err.reserve(samples.size());
        for (Eigen::Index i = 0; i < n; ++i) err.push_back(std::fabs(std::exp(r[i]) - 1.0));
        quality->points = static_cast<int64_t>(samples.size());
        quality->l2_warm_left_out = static_cast<int64_t>(all.size() - samples.size());
        quality->median_abs_rel_error = exact_percentile(err, 50);
        quality->p90_abs_rel_error = exact_percentile(err, 90);
    }
    return c;
}

std::map<int64_t, CommCalibration> fit_allreduce(const std::vector<CommSample>& samples) {
    std::map<int64_t, std::vector<const CommSample*>> by;
    for (const CommSample& s : samples) by[s.gpus].push_back(&s);
    std::map<int64_t, CommCalibration> out;
    for (const auto& [gpus, v] : by) {
        if (v.size() < 3) continue;
        // t = a + b x bytes, weighted by 1/t so that errors are relative (small messages count as much as large)
        Eigen::MatrixXd A(static_cast<Eigen::Index>(v.size()), 2);
        Eigen::VectorXd y(static_cast<Eigen::Index>(v.size()));
        for (size_t i = 0; i < v.size(); ++i) {
            const double w = 1.0 / v[i]->time_s;
            A(static_cast<Eigen::Index>(i), 0) = w;
            A(static_cast<Eigen::Index>(i), 1) = v[i]->bytes * w;
            y[static_cast<Eigen::Index>(i)] = 1.0;
        }
        const Eigen::Vector2d x = A.colPivHouseholderQr().solve(y);
        if (x[1] <= 0) continue;
        out[gpus] = {std::max(0.0, x[0]), 1.0 / x[1]};
    }
    return out;
}

std::vector<GemmSample> gemm_samples(const KernelTables& t, Dtype dtype, double l2_bytes) {
    const std::string d = dtype == Dtype::FP8 ? "fp8" : "bf16";
    std::vector<GemmSample> out;
    for (const GridTable* g : t.find("gemm", {{"dtype", d}})) {
        if (g->axes.size() != 3) continue;
        for (size_t a = 0; a < g->axes[0].size(); ++a) {
            for (size_t b = 0; b < g->axes[1].size(); ++b) {
                for (size_t c = 0; c < g->axes[2].size(); ++c) {
                    const double v = g->value_ms({a, b, c});
                    if (!(v > 0)) continue;
                    const double m = g->axes[0][a], n = g->axes[1][b], k = g->axes[2][c];
                    out.push_back({m, n, k, v * 1e-3, g->gemm_working_set_bytes(m, n, k) <= l2_bytes});
                }
            }
        }
    }
    return out;
}

std::vector<CommSample> allreduce_samples(const KernelTables& t) {
    std::vector<CommSample> out;
    for (const GridTable* g : t.find("vllm_allreduce", {{"mode", "graph"}})) {
        const int64_t gpus = g->attr_int("gpus");
        for (size_t i = 0; i < g->axes[0].size(); ++i) {
            const double v = g->values_ms[i];
            if (v > 0 && gpus >= 2) out.push_back({gpus, g->axes[0][i] * g->message_bytes_per_unit(), v * 1e-3});
        }
    }
    return out;
}

void read_calibration_csv(const std::string& path, std::vector<GemmSample>& gemms, std::vector<CommSample>& comms,
                          std::vector<GemmSample>* fp8_gemms) {
    std::ifstream in(path);
    if (!in) throw HardwareError(path, "", "cannot open file");
    std::string line;
    if (!std::getline(in, line)) throw HardwareError(path, "", "empty file");
    if (!line.empty() && line.back() == '\r') line.pop_back();
    const std::vector<std::string> want = {"op", "m", "n", "k", "bytes", "gpus", "latency_ms"};
    std::vector<std::string> cols;
    {
        std::stringstream ss(line);
        for (std::string c; std::getline(ss, c, ',');) cols.push_back(c);
    }
    if (cols != want) throw HardwareError(path, "line 1", "the header must be op,m,n,k,bytes,gpus,latency_ms");
    int64_t line_no = 1;
    while (std::getline(in, line)) {
        ++line_no;
        if (!line.empty() && line.back() == '\r') line.pop_back();
        if (line.empty()) continue;
        std::vector<std::string> f;
        std::stringstream ss(line);
        for (std::string c; std::getline(ss, c, ',');) f.push_back(c);
        while (f.size() < want.size()) f.emplace_back();
        if (f.size() != want.size()) throw HardwareError(path, "line " + std::to_string(line_no), "expected 7 columns");
        auto num = [&](size_t i) {
            double v = 0;
            try {
                size_t used = 0;
                v = std::stod(f[i], &used);
                if (used != f[i].size()) throw std::invalid_argument("trailing");
            } catch (const std::exception&) {
                throw HardwareError(path, "line " + std::to_string(line_no), fmt::format("{}: expected a number, got \"{}\"", want[i], f[i]));
            }
            if (!std::isfinite(v) || v <= 0 || v > 1e12) {
                throw HardwareError(path, "line " + std::to_string(line_no), fmt::format("{}: must be a positive number, got {}", want[i], f[i]));
            }
            return v;
        };
        if (f[0] == "gemm") {
            gemms.push_back({num(1), num(2), num(3), num(6) * 1e-3});
        } else if (f[0] == "gemm_fp8" && fp8_gemms) {
            fp8_gemms->push_back({num(1), num(2), num(3), num(6) * 1e-3});
        } else if (f[0] == "allreduce") {
            const double g = num(5);
            if (g != std::floor(g) || g < 2) throw HardwareError(path, "line " + std::to_string(line_no), "gpus: must be a whole number >= 2");
            comms.push_back({static_cast<int64_t>(g), num(4), num(6) * 1e-3});
        } else {
            throw HardwareError(path, "line " + std::to_string(line_no), fmt::format("op: expected {}allreduce, got \"{}\"", fp8_gemms ? "gemm, gemm_fp8 or " : "gemm or ", f[0]));
        }
    }
}

std::vector<GemmSample> read_measure_step_json(const std::string& path) {
    std::ifstream in(path);
    if (!in) throw HardwareError(path, "", "cannot open file");
    std::vector<GemmSample> out;
    std::string line;
    int64_t line_no = 0;
    while (std::getline(in, line)) {
        ++line_no;
        if (line.find_first_not_of(" \t\r") == std::string::npos) continue;
        auto fail = [&](const std::string& why) {
            throw HardwareError(path, "line " + std::to_string(line_no), why);
        };
        nlohmann::json j;
        try {
            j = nlohmann::json::parse(line);
        } catch (const nlohmann::json::exception&) {
            fail("not valid JSON (one headroom measure step --json object per line)");
        }
        try {
            if (j.value("schema", "") != "headroom.measure-step/1") fail("schema: expected headroom.measure-step/1");
            const ModelCard m = load_model(j.at("model").get<std::string>());
            const std::string kind = j.at("kind").get<std::string>();
            const int64_t tokens = j.at("tokens").get<int64_t>(), seqs = j.at("sequences").get<int64_t>();
            const int64_t context = j.at("context").get<int64_t>();
            if (tokens < 1 || seqs < 1 || context < 0 || tokens > 10'000'000 || seqs > 1'000'000) fail("tokens, sequences or context out of range");
            std::vector<SequenceWork> batch;
            if (kind == "prefill") batch.push_back({tokens, context});
            else if (kind == "decode") batch.assign(static_cast<size_t>(seqs), SequenceWork{1, context});
            else fail("kind: expected prefill or decode");
            std::map<std::string, double> measured;
            for (const auto& o : j.at("ops")) measured[o.at("name").get<std::string>()] = o.at("measured_s").get<double>();
            struct Shapes : RooflineOpVisitor {
                std::vector<RooflineOp> gemms;
                void visit(const RooflineOp& op) override {
                    if (op.m > 0 && op.n > 0 && op.k > 0) gemms.push_back(op);
                }
            } shapes;
            const GpuProfile any = load_gpu(j.value("gpu", std::string("h100")));  // shapes only: any profile
            CostModel(m, any, CostConfig{}).walk(batch, shapes);
            for (const RooflineOp& op : shapes.gemms) {
                auto it = measured.find(std::string(op_name(op.kind)));
                if (it == measured.end() || !(it->second > 0) || !std::isfinite(it->second)) continue;
                out.push_back({op.m, op.n, op.k, it->second / static_cast<double>(op.count)});
            }
        } catch (const nlohmann::json::exception& e) {
            fail(fmt::format("missing or wrong field ({})", e.what()));
        } catch (const HardwareError&) {
            throw;
        } catch (const std::exception& e) {
            fail(e.what());
        }
    }
    return out;
}

Calibration calibrate(const GpuProfile& gpu, Dtype dtype, const std::vector<GemmSample>& gemms,
                      const std::vector<CommSample>& comms, const std::string& fitted_on,
                      const std::vector<GemmSample>& fp8_gemms) {
    Calibration c;
    c.gpu = gpu.name;
    c.fitted_on = fitted_on;
    c.dtype = std::string(dtype_name(dtype));
    c.gemm = fit_gemm(gpu, dtype, gemms, &c.gemm_fit);
    if (dtype == Dtype::BF16 && fp8_gemms.size() >= 8) c.gemm_fp8 = fit_gemm(gpu, Dtype::FP8, fp8_gemms, &c.gemm_fp8_fit);
    c.allreduce = fit_allreduce(comms);
    return c;
}

}  // namespace headroom
