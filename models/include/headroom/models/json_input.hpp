// JSON input as headroom reads every JSON file (config.json, a benchmark's result): a key given twice in one
// object is an error (nlohmann would keep the last one silently), and so is a number beyond double range
// (1e999). Errors are thrown as the caller's domain error, an InputError(file, field, reason).
#pragma once

#include <set>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

namespace headroom {

template <class Error>
nlohmann::json parse_json_input(std::string_view text, const std::string& file) {
    using json = nlohmann::json;
    std::vector<std::set<std::string>> keys;  // the keys seen in each object being read
    const json::parser_callback_t no_duplicates = [&](int /*depth*/, json::parse_event_t event, json& parsed) {
        if (event == json::parse_event_t::object_start) {
            keys.emplace_back();
        } else if (event == json::parse_event_t::object_end) {
            keys.pop_back();
        } else if (event == json::parse_event_t::key && !keys.empty()) {
            const std::string k = parsed.get<std::string>();
            if (!keys.back().insert(k).second) throw Error(file, k, "duplicate key");
        }
        return true;
    };
    auto reason = [](const json::exception& e) {  // nlohmann's message without its "[json.exception...] " tag
        std::string what = e.what();
        if (auto p = what.find("] "); p != std::string::npos) what = what.substr(p + 2);
        return what;
    };
    try {
        return json::parse(text, no_duplicates);
    } catch (const json::parse_error& e) {
        throw Error(file, "", "not valid JSON: " + reason(e));
    } catch (const json::out_of_range& e) {  // e.g. a number beyond double range (1e999)
        throw Error(file, "", "a value out of range: " + reason(e));
    }
}

}  // namespace headroom
