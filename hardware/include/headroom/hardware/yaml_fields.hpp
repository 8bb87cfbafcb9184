// Checked reads of YAML fields, shared by the YAML readers (calibrations here, scenarios in sim/). A reader
// derives from YamlFields and says how to fail: one exception of its domain naming the file, the field path
// and the reason. Unknown and duplicate keys, non-scalar keys, wrong types and out-of-range numbers all fail.
// Include from .cpp files only (it brings yaml-cpp's headers).
#pragma once

#include <fmt/format.h>
#include <yaml-cpp/yaml.h>

#include <cmath>
#include <cstdint>
#include <set>
#include <string>

namespace headroom {

class YamlFields {
public:
    virtual ~YamlFields() = default;
    [[noreturn]] virtual void fail(const std::string& field, const std::string& reason) const = 0;

    // A mapping whose keys are all in `keys`, each once.
    void only(const YAML::Node& map, const std::string& path, const std::set<std::string>& keys) const {
        const std::string where = path.empty() ? "(top level)" : path;
        if (!map.IsMap()) fail(where, "expected a mapping");
        std::set<std::string> seen;
        for (const auto& kv : map) {
            if (!kv.first.IsScalar()) fail(where, "keys must be plain names");
            const std::string k = kv.first.Scalar();
            const std::string full = path.empty() ? k : path + "." + k;
            if (!keys.count(k)) fail(full, "unknown field");
            if (!seen.insert(k).second) fail(full, "duplicate key");
        }
    }

    // A finite number in [min, max] ((min, max] with min_open).
    double number(const YAML::Node& n, const std::string& path, double min, double max, bool min_open = false) const {
        if (!n) fail(path, "missing");
        if (!n.IsScalar()) fail(path, "expected a number");
        double v = 0;
        try {
            v = n.as<double>();
        } catch (const YAML::Exception&) {
            fail(path, fmt::format("expected a number, got \"{}\"", n.Scalar()));
        }
        if (!std::isfinite(v) || v < min || (min_open && v == min) || v > max) {
            fail(path, fmt::format("{} is out of range ({} {:g} .. {:g})", n.Scalar(), min_open ? "above" : "from", min, max));
        }
        return v;
    }

    int64_t integer(const YAML::Node& n, const std::string& path, int64_t min, int64_t max) const {
        const double v = number(n, path, static_cast<double>(min), static_cast<double>(max));
        if (std::floor(v) != v) fail(path, fmt::format("expected an integer, got {}", n.Scalar()));
        return static_cast<int64_t>(v);
    }

    bool boolean(const YAML::Node& n, const std::string& path) const {
        bool v = false;
        try {
            v = n.as<bool>();
        } catch (const YAML::Exception&) {
            fail(path, "expected true or false");
        }
        return v;
    }

    std::string string(const YAML::Node& n, const std::string& path) const {
        if (!n) fail(path, "missing");
        if (!n.IsScalar()) fail(path, "expected a string");
        return n.Scalar();
    }
};

}  // namespace headroom
