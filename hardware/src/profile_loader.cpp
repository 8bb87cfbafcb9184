// GPU profile YAML -> GpuProfile. The one place in headroom that parses profile YAML.
// A whole profile must give every required field as {value, source}; a `base:` file changes only what it
// lists. Missing, zero, negative, out-of-range and unknown fields are rejected with the file and field.
#include "headroom/hardware/profile_loader.hpp"

#include <fmt/format.h>
#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <cctype>
#include <charconv>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <regex>
#include <set>
#include <sstream>

namespace headroom {

// Generated from hardware/profiles/*.yaml by cmake/headroom_embed.cmake.
const std::vector<std::pair<std::string_view, std::string_view>>& embedded_gpu_profiles();

namespace {

namespace fs = std::filesystem;

constexpr double ABSURD = 1e7;  // no GPU figure in these units comes near this (GB200 fp4 is 1e4 TFLOP/s)
constexpr int MAX_BASE_DEPTH = 8;

std::string lower(std::string_view s) {
    std::string l(s);
    std::transform(l.begin(), l.end(), l.begin(), [](unsigned char c) { return std::tolower(c); });
    return l;
}

const ProfileField* find_field(std::string_view path) {
    for (const ProfileField& f : profile_fields()) {
        if (f.path == path) return &f;
    }
    return nullptr;
}

void check_value(const ProfileField& f, double v, const std::string& file, const std::string& path) {
    if (!std::isfinite(v)) throw HardwareError(file, path, "must be a finite number");
    if (v <= 0.0) throw HardwareError(file, path, fmt::format("must be > 0, got {}", v));
    if (f.fraction && v > 1.0) throw HardwareError(file, path, fmt::format("must be in (0, 1], got {}", v));
    if (v > ABSURD) throw HardwareError(file, path, fmt::format("{} {} is absurd", v, f.unit));
}

class ProfileReader {
public:
    ProfileReader(std::string file, int depth) : file_(std::move(file)), depth_(depth) {}

    [[noreturn]] void fail(const std::string& field, const std::string& reason) const {
        throw HardwareError(file_, field, reason);
    }

    std::string scalar(const YAML::Node& n, const std::string& path) const {
        if (!n.IsScalar()) fail(path, "expected a single value");
        return n.Scalar();
    }

    double number(const YAML::Node& n, const std::string& path) const {
        const std::string s = scalar(n, path);
        try {
            return n.as<double>();
        } catch (const YAML::Exception&) {
            fail(path, fmt::format("expected a number, got \"{}\"", s));
        }
    }

    // A mapping key: a plain name, once per mapping (`where` is the mapping's path; "" at the top level).
    std::string key_of(const YAML::Node& k, const std::string& where, std::set<std::string>& seen) const {
        if (!k.IsScalar()) fail(where.empty() ? "(top level)" : where, "keys must be plain names");
        const std::string key = k.Scalar();
        if (!seen.insert(key).second) fail(where.empty() ? key : where + "." + key, "duplicate key");
        return key;
    }

    void read_leaf(const YAML::Node& node, const ProfileField& f, GpuProfile& g, bool bare_ok) const {
        const std::string path(f.path);
        Sourced s;
        if (node.IsMap()) {
            std::set<std::string> seen;
            for (const auto& kv : node) {
                const std::string k = key_of(kv.first, path, seen);
                if (k != "value" && k != "source" && !(k == "read_on" && path == "price.usd_per_gpu_hour")) {
                    fail(path + "." + k, "unknown field (a number is written {value: ..., source: \"...\"})");
                }
            }
            if (!node["value"]) fail(path + ".value", "missing");
            s.value = number(node["value"], path + ".value");
            if (node["source"]) {
                s.source = scalar(node["source"], path + ".source");
            }
            if (s.source.empty()) {
                if (!bare_ok) fail(path + ".source", "missing: every number needs a source");
                s.source = file_;
            }
            if (node["read_on"]) {
                g.price_read_on = scalar(node["read_on"], path + ".read_on");
                static const std::regex iso(R"(\d{4}-\d{2}-\d{2})");
                if (!std::regex_match(g.price_read_on, iso)) fail(path + ".read_on", "expected a date YYYY-MM-DD");
                const int y = std::stoi(g.price_read_on.substr(0, 4)), mo = std::stoi(g.price_read_on.substr(5, 2));
                const int d = std::stoi(g.price_read_on.substr(8, 2));
                const bool leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
                const int days[] = {31, leap ? 29 : 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
                if (mo < 1 || mo > 12 || d < 1 || d > days[mo - 1]) {
                    fail(path + ".read_on", fmt::format("{} is not a calendar date", g.price_read_on));
                }
            }
        } else if (node.IsScalar() && bare_ok) {
            s.value = number(node, path);
            s.source = file_;
        } else {
            fail(path, "expected {value: ..., source: \"...\"}");
        }
        check_value(f, s.value, file_, path);
        g.*(f.member) = s;
    }

    GpuProfile parse(std::string_view text) const {
        YAML::Node root;
        try {
            root = YAML::Load(std::string(text));
        } catch (const YAML::Exception& e) {
            fail("", fmt::format("not valid YAML (line {}, column {}): {}", e.mark.line + 1, e.mark.column + 1, e.msg));
        }
        if (!root.IsMap()) fail("", "expected a YAML mapping at the top level");

        const bool is_override = static_cast<bool>(root["base"]);
        GpuProfile g;
        if (is_override) {
            if (depth_ >= MAX_BASE_DEPTH) fail("base", "too many nested base: files");
            g = load_base(scalar(root["base"], "base"));
        }
        g.file = file_;

        static const std::vector<std::string> sections = {"memory", "chip", "compute_tflops", "interconnect", "power",
                                                          "price", "efficiency"};
        std::set<std::string> top;
        for (const auto& kv : root) {
            const std::string key = key_of(kv.first, "", top);
            const YAML::Node& v = kv.second;
            if (key == "base") continue;
            if (key == "name") g.name = lower(scalar(v, key));
            else if (key == "display_name") g.display_name = scalar(v, key);
            else if (key == "notes") g.notes = scalar(v, key);
            else if (key == "aliases") {
                if (!v.IsSequence()) fail(key, "expected a list of names");
                g.aliases.clear();
                for (const auto& a : v) g.aliases.push_back(lower(scalar(a, key)));
            } else if (std::find(sections.begin(), sections.end(), key) != sections.end()) {
                if (!v.IsMap()) fail(key, "expected a mapping of fields");
                std::set<std::string> seen;
                for (const auto& sub : v) {
                    const std::string path = key + "." + key_of(sub.first, key, seen);
                    if (path == "memory.shared_with_cpu") {
                        try {
                            g.memory_shared_with_cpu = sub.second.as<bool>();
                        } catch (const YAML::Exception&) {
                            fail(path, "expected true or false");
                        }
                        continue;
                    }
                    const ProfileField* f = find_field(path);
                    if (!f) fail(path, "unknown field");
                    read_leaf(sub.second, *f, g, is_override);
                }
            } else {
                fail(key, "unknown field");
            }
        }

        if (!is_override) {
            if (g.name.empty()) fail("name", "missing");
            if (g.display_name.empty()) fail("display_name", "missing");
            for (const ProfileField& f : profile_fields()) {
                if (f.required && !(g.*(f.member)).present()) fail(std::string(f.path), "missing");
            }
            if (g.price_read_on.empty()) fail("price.usd_per_gpu_hour.read_on", "missing: say when the price was read");
        }
        if (g.nvlink_bidirectional_gb_per_s.present() != g.nvlink_latency_us.present()) {
            fail("interconnect.nvlink_latency_us", "NVLink needs both a bandwidth and a latency");
        }
        if (g.pcie_bidirectional_gb_per_s.present() != g.pcie_latency_us.present()) {
            fail("interconnect.pcie_latency_us", "PCIe needs both a bandwidth and a latency");
        }
        return g;
    }

private:
    GpuProfile load_base(const std::string& spec) const;

    std::string file_;
    int depth_;
};

std::string read_file(const fs::path& p, const std::string& shown) {
    std::ifstream in(p, std::ios::binary);
    if (!in) throw HardwareError(shown, "", "cannot open file");
    std::ostringstream ss;
    ss << in.rdbuf();
    return ss.str();
}

GpuProfile load_gpu_at_depth(std::string_view spec_sv, int depth) {
    const std::string spec(spec_sv);
    if (spec.empty()) throw HardwareError("--gpu", "", "empty GPU name");
    std::error_code ec;
    if (fs::is_regular_file(fs::path(spec), ec)) {
        return ProfileReader(spec, depth).parse(read_file(spec, spec));
    }
    const std::string want = lower(spec);
    for (const auto& [stem, text] : embedded_gpu_profiles()) {
        const std::string shown = fmt::format("hardware/profiles/{}.yaml", stem);
        GpuProfile g = ProfileReader(shown, depth).parse(text);
        if (g.name == want || std::find(g.aliases.begin(), g.aliases.end(), want) != g.aliases.end()) return g;
    }
    std::string names;
    for (const auto& n : shipped_gpu_names()) names += (names.empty() ? "" : ", ") + n;
    throw HardwareError(spec, "", fmt::format("no such profile file or shipped GPU (shipped: {})", names));
}

GpuProfile ProfileReader::load_base(const std::string& spec) const {
    try {
        return load_gpu_at_depth(spec, depth_ + 1);
    } catch (const HardwareError& e) {
        if (e.file() != spec) throw;  // an error inside the base file names that file already
        fail("base", fmt::format("\"{}\": {}", spec, e.reason()));
    }
}

}  // namespace

std::vector<std::string> shipped_gpu_names() {
    std::vector<std::string> names;
    for (const auto& [stem, text] : embedded_gpu_profiles()) names.emplace_back(stem);
    return names;
}

GpuProfile load_gpu(std::string_view spec) { return load_gpu_at_depth(spec, 0); }

GpuProfile parse_gpu_profile(std::string_view text, std::string_view file) {
    return ProfileReader(std::string(file), 0).parse(text);
}

void apply_gpu_override(GpuProfile& gpu, std::string_view assignment, std::string_view origin_sv) {
    const std::string origin(origin_sv);
    const auto eq = assignment.find('=');
    if (eq == std::string_view::npos) {
        throw HardwareError(origin, std::string(assignment), "expected section.key=value, e.g. memory.bandwidth_gb_per_s=3000");
    }
    const std::string path(assignment.substr(0, eq));
    const std::string text(assignment.substr(eq + 1));
    const ProfileField* f = find_field(path);
    if (!f) throw HardwareError(origin, path, "unknown field (`headroom gpus --fields` lists them)");
    double v = 0.0;
    const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
    if (ec != std::errc() || end != text.data() + text.size() || text.empty()) {
        throw HardwareError(origin, path, fmt::format("expected a number, got \"{}\"", text));
    }
    check_value(*f, v, origin, path);
    gpu.*(f->member) = Sourced{v, fmt::format("override ({} {})", origin, assignment)};
}

}  // namespace headroom
