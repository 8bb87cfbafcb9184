// .hkt kernel tables: parsing, and multilinear interpolation on a grid (log-log along the token axes).
#include "headroom/hardware/kernel_tables.hpp"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <algorithm>
#include <charconv>
#include <cmath>
#include <fstream>
#include <limits>
#include <mutex>
#include <sstream>
#include <tuple>

#include "headroom/hardware/profile_loader.hpp"

namespace headroom {

// Generated from hardware/kernels/*.hkt by cmake/headroom_embed.cmake.
const std::vector<std::pair<std::string_view, std::string_view>>& embedded_kernel_tables();

namespace {

std::vector<std::string_view> split(std::string_view line) {
    std::vector<std::string_view> out;
    size_t i = 0;
    while (i < line.size()) {
        while (i < line.size() && line[i] == ' ') ++i;
        const size_t j = line.find(' ', i);
        const size_t end = j == std::string_view::npos ? line.size() : j;
        if (end > i) out.push_back(line.substr(i, end - i));
        i = end;
    }
    return out;
}

// Where x sits on axis i: the two grid indices around it and the weight of the upper one, linear in the axis'
// coordinate (GridTable::coordinate: x itself but for a GEMM's rows, an encoder's length and batch and a
// balanced fused MoE's tokens) or, on a log axis (GridTable::log_axis), in its log. One-valued axes and exact
// hits give a single index (hi == lo, w = 0).
struct Segment {
    size_t lo = 0, hi = 0;
    double w = 0.0;
};

// The weight of x between the grid values a < x < b of axis i.
double weight(const GridTable& t, size_t i, double a, double x, double b, const double* point) {
    const double ca = t.coordinate(i, a, point), cx = t.coordinate(i, x, point),
                 cb = t.coordinate(i, b, point);
    return t.log_axis(i) ? (std::log(cx) - std::log(ca)) / (std::log(cb) - std::log(ca))
                         : (cx - ca) / (cb - ca);
}

std::optional<Segment> locate(const GridTable& t, size_t i, const double* point) {
    const double x = point[i];
    const std::vector<double>& axis = t.axes[i];
    if (axis.empty() || !(x > 0) || x < axis.front() || x > axis.back()) return std::nullopt;
    const auto it = std::lower_bound(axis.begin(), axis.end(), x);
    const auto j = static_cast<size_t>(it - axis.begin());
    if (*it == x) return Segment{j, j, 0.0};
    return Segment{j - 1, j, weight(t, i, axis[j - 1], x, axis[j], point)};
}

// Two values blended with weight w on the second: geometrically on a log axis, else arithmetically.
double mix(double a, double b, double w, bool log_axis) {
    return log_axis ? std::exp((1.0 - w) * std::log(a) + w * std::log(b)) : (1.0 - w) * a + w * b;
}

constexpr size_t MAX_AXES = 8;

// On a curved axis (GridTable::curved_axis): the log of the value at weight w between la = log a (at 0) and
// lb = log b (at 1) on the quadratic through them and lo_v = log of an outer neighbour's value at u (u < 0
// before a, u > 1 after b), in the units u = (log c - log c_lo) / (log c_hi - log c_lo) of the axis'
// coordinate c. Lagrange's form.
double log_quadratic(double la, double lb, double lo_v, double u, double w) {
    return la * (w - 1.0) * (w - u) / u + lb * w * (w - u) / (1.0 - u) +
           lo_v * w * (w - 1.0) / (u * (u - 1.0));
}

// The curved blend of a (grid index lo) and b (index hi: lo + 1, or lo + 2 leaving the point between out) at
// weight w (GridTable::curved_axis): the geometric mean of the quadratics through each measured outer
// neighbour (`before` at lo - 1, `after` at hi + 1; NaN where there is none), held between a and b; the
// straight blend when neither is.
double curve_mix(const GridTable& t, size_t i, size_t lo, size_t hi, double a, double b, double w,
                 double before, double after) {
    if (std::isnan(before) && std::isnan(after)) return mix(a, b, w, t.log_axis(i));
    const std::vector<double>& axis = t.axes[i];
    auto log_c = [&](size_t j) { return std::log(t.coordinate(i, axis[j])); };
    const double c_lo = log_c(lo), span = log_c(hi) - c_lo, la = std::log(a), lb = std::log(b);
    double sum = 0.0;
    int n = 0;
    if (!std::isnan(before))
        sum += log_quadratic(la, lb, std::log(before), (log_c(lo - 1) - c_lo) / span, w), ++n;
    if (!std::isnan(after))
        sum += log_quadratic(la, lb, std::log(after), (log_c(hi + 1) - c_lo) / span, w), ++n;
    return std::clamp(std::exp(sum / n), std::min(a, b), std::max(a, b));
}

// The value at the segments' point, axis by axis from the last: each axis blends the two values of its
// segment's ends (a corner of zero weight is not read). NaN if a read corner is not measured or is `skip`.
double blend_from(const GridTable& t, const Segment* seg, size_t d, size_t i, size_t* at, int64_t skip) {
    if (i == d) {
        const size_t flat = t.index(at);
        const double v = t.values_ms[flat];
        return v > 0 && static_cast<int64_t>(flat) != skip ? v : std::numeric_limits<double>::quiet_NaN();
    }
    const Segment& s = seg[i];
    at[i] = s.lo;
    if (s.hi == s.lo || s.w == 0.0) return blend_from(t, seg, d, i + 1, at, skip);
    const double a = blend_from(t, seg, d, i + 1, at, skip);
    if (std::isnan(a)) return a;
    at[i] = s.hi;
    const double b = blend_from(t, seg, d, i + 1, at, skip);
    if (std::isnan(b)) return b;
    if (!t.curved_axis(i)) return mix(a, b, s.w, t.log_axis(i));
    const double nan = std::numeric_limits<double>::quiet_NaN();
    double before = nan, after = nan;
    if (s.lo > 0) at[i] = s.lo - 1, before = blend_from(t, seg, d, i + 1, at, skip);
    if (s.hi + 1 < t.axes[i].size()) at[i] = s.hi + 1, after = blend_from(t, seg, d, i + 1, at, skip);
    return curve_mix(t, i, s.lo, s.hi, a, b, s.w, before, after);
}

std::optional<double> blend(const GridTable& t, const Segment* seg, size_t d, int64_t skip) {
    size_t at[MAX_AXES] = {};
    const double v = blend_from(t, seg, d, 0, at, skip);
    if (std::isnan(v)) return std::nullopt;
    return v * 1e-3;
}

}  // namespace

std::pair<double, double> encoder_attention_tiles(std::string_view kernel, int64_t head_dim) {
    if (head_dim <= 0) return {0.0, 0.0};
    const auto names = [&](std::string_view v) { return kernel.find(v) != std::string_view::npos; };
    if (names("fa4")) return head_dim <= 128 ? std::pair{256.0, 128.0} : std::pair{0.0, 0.0};
    if (names("fa3")) {
        if (head_dim <= 64) return {192.0, 192.0};
        if (head_dim <= 96) return {192.0, 144.0};
        return {0.0, 0.0};
    }
    if (names("fa2")) {
        if (head_dim <= 64) return {128.0, 128.0};
        if (head_dim <= 96) return {128.0, 64.0};
    }
    return {0.0, 0.0};
}

bool GridTable::balanced_moe() const {
    return family == "moe" && attr("distribution") == "balanced" && attr_int("topk") > 0 &&
           attr_int("experts") > 0;
}

double GridTable::moe_picks_coordinate(double tokens) const {
    const double picks = tokens * static_cast<double>(attr_int("topk"));
    const auto experts = static_cast<double>(attr_int("experts"));
    return picks <= experts ? picks : experts + 0.1 * (picks - experts);
}

bool GridTable::marlin_moe_blocks() const {
    return balanced_moe() && compute_capability >= 9.0 && marlin_moe();
}

bool GridTable::marlin_moe() const {
    return family == "moe" && attr("kernel").find("marlin") != std::string::npos;
}

std::string GridTable::moe_fit_format() const { return marlin_moe() ? std::string("int4") : attr("dtype"); }

double marlin_moe_rows(double pairs, double local_pairs, double experts_read, double local_experts) {
    if (!(experts_read > 0.0) || !(local_experts > 0.0)) return 0.0;
    double block = 64.0;
    for (const double b : {8.0, 16.0, 32.0, 48.0, 64.0}) {
        if (pairs / local_experts / b < 0.9) {
            block = b;
            break;
        }
    }
    return experts_read * block * std::ceil(std::max(1.0, local_pairs / experts_read) / block);
}

double GridTable::marlin_moe_rows_coordinate(double tokens) const {
    const double picks = tokens * static_cast<double>(attr_int("topk"));
    const auto experts = static_cast<double>(attr_int("experts"));
    const auto ep = static_cast<double>(std::max<int64_t>(1, attr_int("ep")));
    const double rows = marlin_moe_rows(picks, picks / ep, std::min(picks, experts) / ep, experts / ep);
    return rows - 0.1 * (rows - picks / ep);
}

GridTable::EncoderGeometry GridTable::encoder_geometry() const {
    EncoderGeometry e;
    std::tie(e.q, e.k) = encoder_attention_tiles(attr("kernel"), attr_int("head_dim"));
    e.heads = static_cast<double>(attr_int("heads"));
    const auto axis = [&](std::string_view name) {
        return static_cast<size_t>(std::find(axis_names.begin(), axis_names.end(), name) -
                                   axis_names.begin());
    };
    e.batch = axis("batch_size");
    e.isl = axis("isl");
    return e;
}

double GridTable::encoder_isl_coordinate(double x, const double* point) const {
    const EncoderGeometry e = encoder_geometry();
    if (e.q <= 0.0) return x;
    if (!point || !(sm_count > 0.0) || e.batch == axis_names.size() || !(e.heads > 0.0)) {
        return std::sqrt(tiled(x, e.q) * tiled(x, e.k));
    }
    const double waves = point[e.batch] * e.heads * std::ceil(x / e.q) / sm_count;
    return tiled(waves, 1.0) * tiled(x, e.k);
}

double GridTable::encoder_batch_coordinate(double b, const double* point) const {
    if (!(sm_count > 0.0)) return b;
    const EncoderGeometry e = encoder_geometry();
    if (e.isl == axis_names.size() || !(e.heads > 0.0) || !(e.q > 0.0)) return b;
    const double per = e.heads * std::ceil(point[e.isl] / e.q);
    // r - 0.1 (r - b) with r = ceil(b x per / SMs) x SMs / per: the waves, counted as the length counts them,
    // in sequences
    return tiled(b * per / sm_count, 1.0) * sm_count / per;
}

const std::vector<std::pair<std::string_view, std::string_view>>& kernel_table_profiles() {
    static const std::vector<std::pair<std::string_view, std::string_view>> pairs = {
        {"h100-sxm", "h100_sxm"}, {"h200", "h200_sxm"},      {"b200", "b200_sxm"},
        {"gb200", "gb200"},       {"a100-80gb", "a100_sxm"}, {"l40s", "l40s"}};
    return pairs;
}

std::string kernel_table_profile(std::string_view table_gpu) {
    for (const auto& [profile, tables] : kernel_table_profiles()) {
        if (tables == table_gpu) return std::string(profile);
    }
    return "";
}

std::string GridTable::attr(const std::string& key) const {
    auto it = attrs.find(key);
    return it == attrs.end() ? std::string() : it->second;
}

int64_t GridTable::attr_int(const std::string& key) const {
    const std::string v = attr(key);
    int64_t out = -1;
    if (v.empty() || std::from_chars(v.data(), v.data() + v.size(), out).ec != std::errc()) return -1;
    return out;
}

size_t GridTable::index(const size_t* at) const {
    size_t flat = 0;
    for (size_t i = 0; i < axes.size(); ++i) flat = flat * axes[i].size() + at[i];
    return flat;
}

std::optional<double> GridTable::lookup_s(const double* x, size_t n, int64_t skip) const {
    if (n != axes.size() || n > MAX_AXES) return std::nullopt;
    Segment seg[MAX_AXES];
    for (size_t i = 0; i < n; ++i) {
        auto s = locate(*this, i, x);
        if (!s) return std::nullopt;
        seg[i] = *s;
    }
    return blend(*this, seg, n, skip);
}

std::optional<double> GridTable::loo_s(const std::vector<size_t>& at, size_t axis) const {
    const size_t d = at.size(), j = axis < d ? at[axis] : 0;
    if (d != axes.size() || d > MAX_AXES || j == 0 || j + 1 >= axes[axis].size()) return std::nullopt;
    // the lookup at the point between its two neighbours along `axis` (a curved axis bends with j - 2 and j +
    // 2, as a lookup without j finds them), every other axis at the point's own index
    Segment seg[MAX_AXES];
    double point[MAX_AXES];
    for (size_t i = 0; i < d; ++i) seg[i] = Segment{at[i], at[i], 0.0}, point[i] = axes[i][at[i]];
    const std::vector<double>& a = axes[axis];
    seg[axis] = Segment{j - 1, j + 1, weight(*this, axis, a[j - 1], a[j], a[j + 1], point)};
    return blend(*this, seg, d, -1);
}

double GridTable::message_bytes_per_unit() const {
    const std::string d = attr("dtype");
    return d == "int8" || d == "fp8" ? 1.0 : 2.0;  // vllm_allreduce has no dtype attribute: bf16
}

double GridTable::gemm_weight_bytes_per_element() const {
    const std::string d = attr("dtype");
    if (d == "fp8" || d == "fp8_block" || d == "int8") return 1.0;
    if (d == "nvfp4" || d == "fp4" || d == "mxfp4" || d == "int4") return 0.5;
    return 2.0;
}

bool GridTable::moe_gated() const {
    const std::string a = attr("activation");
    return a.size() < 7 || a.compare(a.size() - 7, 7, "_no_mul") != 0;
}

double GridTable::moe_expert_bytes() const {
    const int64_t hidden = attr_int("hidden"), inter = attr_int("inter");
    if (hidden <= 0 || inter <= 0) return 0.0;  // not a fused-MoE table
    const double tp = static_cast<double>(std::max<int64_t>(1, attr_int("tp")));
    const double matrices = moe_gated() ? 3.0 : 2.0;
    const double weights = matrices * static_cast<double>(hidden) * static_cast<double>(inter) / tp;
    return weights * gemm_weight_bytes_per_element();
}

double GridTable::moe_working_set_bytes(double tokens) const {
    const int64_t experts = attr_int("experts"), topk = attr_int("topk");
    const double expert = moe_expert_bytes();
    if (experts <= 0 || topk <= 0 || expert <= 0.0) return std::numeric_limits<double>::infinity();  // unknown: never warm
    const double local = static_cast<double>(experts) / static_cast<double>(std::max<int64_t>(1, attr_int("ep")));
    return std::min(tokens * static_cast<double>(topk), local) * expert;
}

double GridTable::least_s() const {
    float least = 0.0f;
    for (float v : values_ms) {
        if (v > 0.0f && (least == 0.0f || v < least)) least = v;
    }
    return static_cast<double>(least) * 1e-3;
}

double GridTable::gemm_working_set_bytes(double m, double n, double k) const {
    const std::string d = attr("dtype");
    const int64_t given = attr_int("weight_copies");
    const double copies = given > 0 ? static_cast<double>(given) : d == "fp8_block" || d == "fp4" || d == "nvfp4" ? 1.0 : 6.0;
    return copies * (n * k * gemm_weight_bytes_per_element() + m * n * 2.0) + m * k * 2.0;  // bf16 activations
}

std::optional<double> GridTable::lookup_clamped_s(const double* x, size_t n, bool& clamped, const double* power,
                                                  size_t np) const {
    if (n > MAX_AXES) return std::nullopt;
    double c[MAX_AXES];
    std::copy(x, x + n, c);
    clamped = false;
    double scale = 1.0;
    for (size_t i = 0; i < axes.size() && i < n; ++i) {
        const double lo = axes[i].front(), hi = axes[i].back();
        if (c[i] > hi) {
            if (i < np) scale *= std::pow(c[i] / hi, power[i]);
            c[i] = hi;
            clamped = true;
        } else if (c[i] < lo) {
            c[i] = lo;
            clamped = true;
        }
    }
    const auto v = lookup_s(c, n);
    if (!v) return std::nullopt;
    return *v * scale;
}

std::vector<const GridTable*> KernelTables::find(std::string_view family,
                                                 const std::map<std::string, std::string>& match) const {
    std::vector<const GridTable*> out;
    for (const GridTable& t : tables) {
        if (t.family != family) continue;
        bool ok = true;
        for (const auto& [k, v] : match) ok = ok && t.attr(k) == v;
        if (ok) out.push_back(&t);
    }
    return out;
}

const GridTable* KernelTables::find_first(std::string_view family,
                                         const std::map<std::string, std::string>& match) const {
    const std::vector<const GridTable*> v = find(family, match);
    return v.empty() ? nullptr : v.front();
}

std::string KernelTables::framework(std::string_view family) const {
    for (const GridTable& t : tables) {
        if (t.family == family) return t.attr("framework");
    }
    return "";
}

namespace {

// What a table of each family the predictors read must hold: its axes in order, and its attributes (integers
// with their least value; -1: any string). Families not named here are kept and read by nothing. A user's own
// tables (`kernel_tables:`, `cost --kernel-tables`) pass the same check as the shipped ones.
struct FamilySchema {
    std::string_view family;
    std::vector<std::string_view> axes;
    std::vector<std::pair<std::string_view, int64_t>> attrs;
};

const std::vector<FamilySchema>& family_schemas() {
    static const std::vector<FamilySchema> s = {
        {"gemm", {"m", "n", "k"}, {{"dtype", -1}}},
        {"prefill_attention",
         {"batch_size", "isl"},
         {{"kv_dtype", -1}, {"window", 0}, {"heads", 1}, {"kv_heads", 1}, {"head_dim", 1}}},
        {"decode_attention",
         {"batch_size", "step"},
         {{"kv_dtype", -1}, {"window", 0}, {"heads", 1}, {"kv_heads", 1}, {"head_dim", 1}}},
        {"moe",
         {"num_tokens"},
         {{"dtype", -1},
          {"hidden", 1},
          {"inter", 1},
          {"topk", 1},
          {"experts", 1},
          {"tp", 1},
          {"ep", 1},
          {"distribution", -1}}},
        {"encoder_attention", {"batch_size", "isl"}, {{"dtype", -1}, {"heads", 1}, {"head_dim", 1}}},
        {"vllm_allreduce", {"message_size"}, {{"gpus", 1}, {"mode", -1}}},
        {"nccl", {"message_size"}, {{"op", -1}, {"gpus", 1}, {"dtype", -1}}},
    };
    return s;
}

// The MLA families: DeepSeek-V3's attention block (or its attention alone) per heads a GPU
bool mla_family(std::string_view f, bool& prefill) {
    prefill = f == "mla_prefill" || f == "mla_attention_prefill";
    return prefill || f == "mla_decode" || f == "mla_attention_decode";
}

// Why `t` cannot be read as its family's tables, or "" when it can
std::string schema_error(const GridTable& t) {
    std::vector<std::string_view> axes;
    std::vector<std::pair<std::string_view, int64_t>> attrs;
    bool prefill = false;
    if (mla_family(t.family, prefill)) {
        axes = {"batch_size", prefill ? "isl" : "step"};
        attrs = {{"hidden", 1}, {"q_lora", 0},    {"kv_lora", 1}, {"nope", 1}, {"rope", 1},
                 {"v", 1},      {"kv_dtype", -1}, {"dtype", -1},  {"heads", 1}};
    } else {
        const auto& all = family_schemas();
        auto it =
            std::find_if(all.begin(), all.end(), [&](const FamilySchema& f) { return f.family == t.family; });
        if (it == all.end()) return "";
        axes = it->axes;
        attrs = it->attrs;
    }
    bool same = t.axis_names.size() == axes.size();
    for (size_t i = 0; same && i < axes.size(); ++i) same = t.axis_names[i] == axes[i];
    if (!same) {
        return fmt::format("a {} table has the axes {} in that order, not \"{}\"", t.family,
                           fmt::join(axes, " "), fmt::join(t.axis_names, " "));
    }
    for (const auto& [key, least] : attrs) {
        const std::string k(key);
        if (!t.attrs.count(k) || t.attr(k).empty())
            return fmt::format("a {} table needs the attribute {}", t.family, k);
        if (least < 0) continue;
        const std::string v = t.attr(k);
        int64_t n = 0;
        const auto r = std::from_chars(v.data(), v.data() + v.size(), n);
        if (r.ec != std::errc() || r.ptr != v.data() + v.size() || n < least || n > (int64_t{1} << 40)) {
            return fmt::format("attribute {}={} of a {} table: expected an integer >= {}", k, v, t.family,
                               least);
        }
    }
    return "";
}

}  // namespace

KernelTables parse_kernel_tables(std::string_view text, const std::string& file) {
    KernelTables out;
    size_t pos = 0, line_no = 0;
    GridTable* cur = nullptr;
    bool in_data = false;
    size_t filled = 0;
    auto fail = [&](const std::string& why) -> void {
        throw HardwareError(file, "line " + std::to_string(line_no), why);
    };
    while (pos < text.size()) {
        size_t nl = text.find('\n', pos);
        if (nl == std::string_view::npos) nl = text.size();
        std::string_view line = text.substr(pos, nl - pos);
        pos = nl + 1;
        ++line_no;
        if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
        if (line_no == 1 && line != "# headroom kernel tables v1") fail("not a headroom kernel table file (first line)");
        if (line.empty() || line[0] == '#') continue;
        if (in_data) {
            if (line == "end") {
                if (filled != cur->values_ms.size()) {
                    fail("table holds " + std::to_string(filled) + " values, its axes need " + std::to_string(cur->values_ms.size()));
                }

                in_data = false;
                cur = nullptr;
                continue;
            }
            for (std::string_view tok : split(line)) {
                if (filled >= cur->values_ms.size()) fail("more values than the axes hold");
                float v = std::nanf("");
                if (tok != "-") {
                    double d = 0;
                    const auto r = std::from_chars(tok.data(), tok.data() + tok.size(), d);
                    // (stored as float: a latency of a picosecond to eleven days stays a normal float)
                    if (r.ec != std::errc() || r.ptr != tok.data() + tok.size() || !(d >= 1e-9 && d <= 1e9)) {
                        fail("bad latency \"" + std::string(tok) +
                             "\" (a number of ms in [1e-9, 1e9], or -)");
                    }
                    v = static_cast<float>(d);
                }
                cur->values_ms[filled++] = v;
            }
            continue;
        }
        const auto words = split(line);
        if (words.empty()) continue;  // blanks only
        const std::string_view head = words[0];
        const std::string rest = std::string(line.substr(std::min(line.size(), head.size() + 1)));
        if (head == "gpu") {
            out.gpu = rest;
        } else if (head == "device") {
            out.device = rest;
        } else if (head == "source") {
            out.source = rest;
        } else if (head == "table") {
            if (cur) fail("the table of line " + std::to_string(cur->line) + " has no data section");
            if (words.size() < 2) fail("table without a family");
            out.tables.emplace_back();
            cur = &out.tables.back();
            cur->line = line_no;
            cur->family = std::string(words[1]);
            for (size_t i = 2; i < words.size(); ++i) {
                const size_t eq = words[i].find('=');
                if (eq == std::string_view::npos || eq == 0) fail("expected key=value, got \"" + std::string(words[i]) + "\"");
                const std::string key(words[i].substr(0, eq));
                if (cur->attrs.count(key)) fail("duplicate attribute \"" + key + "\"");
                cur->attrs[key] = std::string(words[i].substr(eq + 1));
            }
        } else if (head == "axis") {
            if (!cur || words.size() < 3) fail("axis outside a table, or without values");
            cur->axis_names.emplace_back(words[1]);
            std::vector<double> vals;
            for (size_t i = 2; i < words.size(); ++i) {
                double d = 0;
                const auto r = std::from_chars(words[i].data(), words[i].data() + words[i].size(), d);
                if (r.ec != std::errc() || !(d > 0 && d <= 1e15)) {
                    fail("bad axis value \"" + std::string(words[i]) + "\" (a number in (0, 1e15])");
                }
                if (!vals.empty() && d <= vals.back()) fail("axis values must ascend");
                vals.push_back(d);
            }
            cur->axes.push_back(std::move(vals));
        } else if (head == "data") {
            if (!cur || cur->axes.empty()) fail("data before the table's axes");
            size_t n = 1;
            for (const auto& a : cur->axes) {
                n *= a.size();
                if (n > (size_t{1} << 26)) fail("table too large");
            }
            cur->values_ms.assign(n, std::nanf(""));
            filled = 0;
            in_data = true;
        } else {
            fail("unknown line \"" + std::string(head) + "\"");
        }
    }
    if (in_data) throw HardwareError(file, "", "the last table has no end line");
    if (cur) throw HardwareError(file, "line " + std::to_string(cur->line), "the table has no data section");
    if (out.gpu.empty()) throw HardwareError(file, "", "no gpu line");
    if (out.device.empty()) out.device = out.gpu;
    out.file = file;
    if (const std::string profile = kernel_table_profile(out.gpu); !profile.empty()) {
        const GpuProfile gpu = load_gpu(profile);
        for (GridTable& g : out.tables) {
            g.sm_count = gpu.sm_count.value;
            g.compute_capability = gpu.compute_capability.value;
        }
    }
    return out;
}

void check_kernel_tables(const KernelTables& t) {
    for (const GridTable& g : t.tables) {
        if (const std::string why = schema_error(g); !why.empty()) {
            throw HardwareError(t.file, "line " + std::to_string(g.line), why);
        }
    }
}

KernelTables load_kernel_tables(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    if (!in) throw HardwareError(path, "", "cannot open file");
    std::ostringstream ss;
    ss << in.rdbuf();
    KernelTables t = parse_kernel_tables(ss.str(), path);
    check_kernel_tables(t);
    return t;
}

std::shared_ptr<const KernelTables> shipped_kernel_tables(const std::string& gpu) {
    static std::mutex mu;
    static std::map<std::string, std::shared_ptr<const KernelTables>> cache;
    std::lock_guard<std::mutex> lock(mu);
    if (auto it = cache.find(gpu); it != cache.end()) return it->second;
    std::shared_ptr<const KernelTables> t;
    for (const auto& [stem, text] : embedded_kernel_tables()) {
        if (stem == gpu) t = std::make_shared<const KernelTables>(parse_kernel_tables(text, "hardware/kernels/" + gpu + ".hkt"));
    }
    if (t) cache[gpu] = t;  // misses are not kept: names come from user input, and the cache must stay bounded
    return t;
}

std::vector<std::string> shipped_kernel_table_gpus() {
    std::vector<std::string> out;
    for (const auto& [stem, text] : embedded_kernel_tables()) out.emplace_back(stem);
    return out;
}

}  // namespace headroom
