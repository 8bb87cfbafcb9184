// Request traces: CSV by its header's column names (Splitwise/Vidur, Azure, BurstGPT and the like) and
// Mooncake's JSON Lines with their prefix-sharing hash ids.
#include "headroom/core/trace.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <array>
#include <cctype>
#include <cmath>
#include <fstream>
#include <istream>
#include <limits>
#include <stdexcept>
#include <string_view>

#include "headroom/core/rng.hpp"
#include "headroom/models/json_input.hpp"

namespace headroom {

namespace {

constexpr double MAX_TIME_S = 1e9;
constexpr double MAX_TOKENS = 1e7;

[[noreturn]] void fail(const std::string& path, int64_t line, std::string_view what) {
    throw std::runtime_error(fmt::format("{}: line {}: {}", path, line, what));
}

std::string lower(std::string_view s) {
    std::string out(s);
    for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    return out;
}

std::string_view trim(std::string_view s) {
    while (!s.empty() && std::isspace(static_cast<unsigned char>(s.front()))) s.remove_prefix(1);
    while (!s.empty() && std::isspace(static_cast<unsigned char>(s.back()))) s.remove_suffix(1);
    return s;
}

// One CSV record's cells (RFC 4180 quoting within the line: "a,b" and "" for a quote), trimmed.
std::vector<std::string> split_csv(std::string_view line) {
    std::vector<std::string> cells(1);
    bool quoted = false;
    for (size_t i = 0; i < line.size(); ++i) {
        const char c = line[i];
        if (quoted) {
            if (c == '"' && i + 1 < line.size() && line[i + 1] == '"') {
                cells.back() += '"';
                ++i;
            } else if (c == '"') {
                quoted = false;
            } else {
                cells.back() += c;
            }
        } else if (c == '"') {
            quoted = true;
        } else if (c == ',') {
            cells.emplace_back();
        } else {
            cells.back() += c;
        }
    }
    for (std::string& s : cells) s = std::string(trim(s));
    return cells;
}

// The column names each field may go by, lower case.
enum Field { TIME, PROMPT, OUTPUT };
constexpr std::array<const char*, 3> FIELD_TEXT = {"the arrival time", "the prompt tokens",
                                                   "the output tokens"};
const std::array<std::vector<std::string>, 3>& aliases() {
    static const std::array<std::vector<std::string>, 3> a = {{
        {"arrived_at", "timestamp"},
        {"num_prefill_tokens", "contexttokens", "request tokens", "input_length", "prompt_tokens",
         "input_tokens"},
        {"num_decode_tokens", "generatedtokens", "response tokens", "output_length", "output_tokens"},
    }};
    return a;
}
constexpr const char* ALIAS_TEXT[] = {
    "arrived_at, TIMESTAMP or Timestamp",
    "num_prefill_tokens, ContextTokens, Request tokens, input_length, prompt_tokens or input_tokens",
    "num_decode_tokens, GeneratedTokens, Response tokens, output_length or output_tokens",
};

// A cell holding a number >= 0.
double number_cell(const std::string& path, int64_t line, const std::string& column,
                   const std::string& cell) {
    char* end = nullptr;
    const double v = std::strtod(cell.c_str(), &end);
    if (cell.empty() || *end != '\0' || !std::isfinite(v) || v < 0) {
        fail(path, line, fmt::format("{}: expected a number >= 0, got \"{}\"", column, cell));
    }
    return v;
}

// Seconds from the trace's start, up to 1e9.
double seconds(const std::string& path, int64_t line, const std::string& column, const std::string& cell) {
    const double v = number_cell(path, line, column, cell);
    if (v > MAX_TIME_S) fail(path, line, fmt::format("{}: {:g} s is beyond 1e9 s", column, v));
    return v;
}

int64_t tokens(const std::string& path, int64_t line, const std::string& column, double v,
               const std::string& cell) {
    if (v > MAX_TOKENS || v != std::floor(v)) {
        fail(path, line,
             fmt::format("{}: expected a whole number of tokens up to 10,000,000, got \"{}\"", column, cell));
    }
    return static_cast<int64_t>(v);
}

int64_t token_cell(const std::string& path, int64_t line, const std::string& column,
                   const std::string& cell) {
    return tokens(path, line, column, number_cell(path, line, column, cell), cell);
}

// Days from 1970-01-01 to a date of the proleptic Gregorian calendar (the civil-from-days inverse: years
// counted from March, so that the leap day ends a year).
int64_t days_from_civil(int64_t y, int64_t m, int64_t d) {
    y -= m <= 2 ? 1 : 0;
    const int64_t era = (y >= 0 ? y : y - 399) / 400;
    const int64_t yoe = y - era * 400;
    const int64_t doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    const int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + doe - 719468;
}

// A date and time as Azure's traces write them, "2023-11-16 18:15:46.6805900" (also with a T, and an offset
// such as +00:00 or Z): whole seconds since 1970 and the fraction, kept apart so that 100 ns ticks survive.
struct Instant {
    int64_t whole = 0;
    double fraction = 0.0;
};

bool looks_like_date(const std::string& cell) {
    return cell.size() >= 10 && cell[4] == '-' && cell[7] == '-';
}

Instant parse_instant(const std::string& path, int64_t line, const std::string& column,
                      const std::string& cell) {
    auto bad = [&](std::string_view why) {
        fail(path, line,
             fmt::format("{}: expected a date and time like 2023-11-16 18:15:46.68, got \"{}\" ({})", column,
                         cell, why));
    };
    size_t i = 0;
    auto digits = [&](size_t n) {
        int64_t v = 0;
        for (size_t k = 0; k < n; ++k, ++i) {
            if (i >= cell.size() || !std::isdigit(static_cast<unsigned char>(cell[i])))
                bad("a digit is missing");
            v = v * 10 + (cell[i] - '0');
        }
        return v;
    };
    auto expect = [&](std::string_view chars) {
        if (i >= cell.size() || chars.find(cell[i]) == std::string_view::npos)
            bad(fmt::format("expected '{}'", chars.substr(0, 1)));
        ++i;
    };
    const int64_t y = digits(4);
    expect("-");
    const int64_t mo = digits(2);
    expect("-");
    const int64_t d = digits(2);
    expect(" T");
    const int64_t h = digits(2);
    expect(":");
    const int64_t mi = digits(2);
    expect(":");
    const int64_t s = digits(2);
    static constexpr int DAYS[] = {31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    if (mo < 1 || mo > 12) bad("no such month");
    const bool leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
    if (d < 1 || d > DAYS[mo - 1] || (mo == 2 && d == 29 && !leap)) bad("no such day");
    if (h > 23 || mi > 59 || s > 60) bad("no such time of day");
    Instant t;
    if (i < cell.size() && cell[i] == '.') {
        ++i;
        double scale = 0.1;
        const size_t first = i;
        while (i < cell.size() && std::isdigit(static_cast<unsigned char>(cell[i]))) {
            t.fraction += (cell[i] - '0') * scale;
            scale /= 10;
            ++i;
        }
        if (i == first) bad("no digits after the point");
    }
    int64_t offset_s = 0;
    if (i < cell.size() && (cell[i] == 'Z' || cell[i] == 'z')) {
        ++i;
    } else if (i < cell.size() && (cell[i] == '+' || cell[i] == '-')) {
        const int64_t sign = cell[i] == '-' ? -1 : 1;
        ++i;
        const int64_t oh = digits(2);
        if (i < cell.size() && cell[i] == ':') ++i;
        const int64_t om = digits(2);
        if (oh > 23 || om > 59) bad("no such offset");
        offset_s = sign * (oh * 3600 + om * 60);
    }
    if (i != cell.size()) bad("unexpected text at the end");
    t.whole = days_from_civil(y, mo, d) * 86400 + h * 3600 + mi * 60 + s - offset_s;
    return t;
}

// Keeps a row; false when it is skipped (no prompt). `latest` is the latest time seen so far (-inf before the
// first row): a row before it arrived out of order and is counted (finish() sorts them).
bool add_row(Trace& t, double& latest, const TraceRow& r) {
    if (r.arrived_at_s < latest) ++t.reordered;
    latest = std::max(latest, r.arrived_at_s);
    // A call that carried no prompt (BurstGPT's failed requests): nothing to replay.
    if (r.prompt_tokens == 0) {
        ++t.skipped;
        return false;
    }
    t.rows.push_back(r);
    return true;
}

// Rows out of order are replayed in time order, as a load generator sends them (stable: rows of one instant
// keep the file's order); a trace of dates starts at its earliest row.
void finish(Trace& t, const std::string& path) {
    if (t.rows.empty()) {
        if (t.skipped > 0) {
            throw std::runtime_error(
                fmt::format("{}: no rows to replay: all {} have 0 prompt tokens", path, t.skipped));
        }
        throw std::runtime_error(fmt::format("{}: no rows", path));
    }
    if (t.reordered > 0) {
        std::vector<size_t> order(t.rows.size());
        for (size_t i = 0; i < order.size(); ++i) order[i] = i;
        std::stable_sort(order.begin(), order.end(),
                         [&](size_t a, size_t b) { return t.rows[a].arrived_at_s < t.rows[b].arrived_at_s; });
        std::vector<TraceRow> rows;
        std::vector<PromptBlocks> blocks;
        rows.reserve(order.size());
        for (size_t i : order) {
            rows.push_back(t.rows[i]);
            if (!t.blocks.empty()) blocks.push_back(t.blocks[i]);
        }
        t.rows = std::move(rows);
        t.blocks = std::move(blocks);
    }
    if (const double start = t.rows.front().arrived_at_s; start < 0) {  // dates before the first row's
        for (TraceRow& r : t.rows) r.arrived_at_s -= start;
    }
}

Trace parse_csv(std::istream& in, std::string header, const std::string& path) {
    const std::vector<std::string> names = split_csv(header);
    std::array<int, 3> col = {-1, -1, -1};
    for (size_t c = 0; c < names.size(); ++c) {
        const std::string name = lower(names[c]);
        for (int f = 0; f < 3; ++f) {
            const auto& a = aliases()[static_cast<size_t>(f)];
            if (std::find(a.begin(), a.end(), name) == a.end()) continue;
            if (col[static_cast<size_t>(f)] >= 0) {
                fail(path, 1,
                     fmt::format("{}: a second column for {} (after {})", names[c],
                                 FIELD_TEXT[static_cast<size_t>(f)],
                                 names[static_cast<size_t>(col[static_cast<size_t>(f)])]));
            }
            col[static_cast<size_t>(f)] = static_cast<int>(c);
        }
    }
    for (int f = 0; f < 3; ++f) {
        if (col[static_cast<size_t>(f)] < 0) {
            fail(path, 1,
                 fmt::format("expected a header naming the columns; none gives {} ({})",
                             FIELD_TEXT[static_cast<size_t>(f)], ALIAS_TEXT[f]));
        }
    }
    const std::string time_name = names[static_cast<size_t>(col[TIME])];
    Trace t;
    t.format = fmt::format("CSV ({}, {}, {})", time_name, names[static_cast<size_t>(col[PROMPT])],
                           names[static_cast<size_t>(col[OUTPUT])]);
    const size_t needed = static_cast<size_t>(*std::max_element(col.begin(), col.end())) + 1;
    int dated = -1;  // the time column holds dates (1) or seconds (0); decided by the first row
    Instant first;   // the first row's date and time (the replay starts at the earliest row's)
    bool any = false;
    double latest = -std::numeric_limits<double>::infinity();
    std::string line;
    int64_t n = 1;
    while (std::getline(in, line)) {
        ++n;
        if (!line.empty() && line.back() == '\r') line.pop_back();
        if (trim(line).empty()) continue;
        const std::vector<std::string> cells = split_csv(line);
        if (cells.size() < needed) {
            for (int f = 0; f < 3; ++f) {
                if (static_cast<size_t>(col[static_cast<size_t>(f)]) >= cells.size()) {
                    fail(path, n,
                         fmt::format("{}: missing", names[static_cast<size_t>(col[static_cast<size_t>(f)])]));
                }
            }
        }
        const std::string& when = cells[static_cast<size_t>(col[TIME])];
        if (dated < 0) dated = looks_like_date(when) ? 1 : 0;
        TraceRow r;
        if (dated == 1) {
            const Instant i = parse_instant(path, n, time_name, when);
            if (!any) first = i;
            r.arrived_at_s = static_cast<double>(i.whole - first.whole) + (i.fraction - first.fraction);
            if (std::abs(r.arrived_at_s) > MAX_TIME_S)
                fail(path, n, fmt::format("{}: more than 1e9 s from the first row", time_name));
        } else {
            r.arrived_at_s = seconds(path, n, time_name, when);
        }
        r.prompt_tokens = token_cell(path, n, names[static_cast<size_t>(col[PROMPT])],
                                     cells[static_cast<size_t>(col[PROMPT])]);
        r.output_tokens = token_cell(path, n, names[static_cast<size_t>(col[OUTPUT])],
                                     cells[static_cast<size_t>(col[OUTPUT])]);
        add_row(t, latest, r);
        any = true;
    }
    finish(t, path);
    return t;
}

struct JsonFieldError {
    std::string field, reason;
    JsonFieldError(const std::string& /*file*/, std::string f, std::string r)
        : field(std::move(f)), reason(std::move(r)) {}
};

// Mooncake's layout: {"timestamp": ms, "input_length": n, "output_length": n, "hash_ids": [...]} a line.
Trace parse_jsonl(std::istream& in, std::string first_line, const std::string& path, int64_t block_tokens) {
    using json = nlohmann::json;
    Trace t;
    t.format = "Mooncake JSONL";
    std::string line = std::move(first_line);
    int64_t n = 1;
    bool have = true;
    bool any_hashes = false;
    double latest = -std::numeric_limits<double>::infinity();
    while (have) {
        if (!line.empty() && line.back() == '\r') line.pop_back();
        if (!trim(line).empty()) {
            json j;
            try {
                j = parse_json_input<JsonFieldError>(line, path);
            } catch (const JsonFieldError& e) {
                fail(path, n, e.field.empty() ? e.reason : e.field + ": " + e.reason);
            }
            if (!j.is_object()) fail(path, n, "expected one JSON object a line");
            auto number = [&](const char* key, bool whole) -> double {
                if (!j.contains(key)) fail(path, n, fmt::format("{}: missing", key));
                const json& v = j[key];
                if (!v.is_number() || !std::isfinite(v.get<double>()) || v.get<double>() < 0) {
                    fail(path, n, fmt::format("{}: expected a number >= 0, got {}", key, v.dump()));
                }
                const double x = v.get<double>();
                if (whole) return static_cast<double>(tokens(path, n, key, x, v.dump()));
                return x;
            };
            TraceRow r;
            PromptBlocks blocks;
            const double ms = number("timestamp", false);
            if (ms / 1e3 > MAX_TIME_S) fail(path, n, fmt::format("timestamp: {:g} ms is beyond 1e9 s", ms));
            r.arrived_at_s = ms / 1e3;
            r.prompt_tokens = static_cast<int64_t>(number("input_length", true));
            r.output_tokens = static_cast<int64_t>(number("output_length", true));
            if (j.contains("hash_ids")) {
                const json& h = j["hash_ids"];
                if (!h.is_array())
                    fail(path, n, fmt::format("hash_ids: expected a list of block ids, got {}", h.dump()));
                const int64_t room = (r.prompt_tokens + block_tokens - 1) / block_tokens;
                if (static_cast<int64_t>(h.size()) > room) {
                    fail(path, n,
                         fmt::format(
                             "hash_ids: {} blocks of {} tokens are more than the {}-token prompt fills ({}); "
                             "is the trace's block size another (workload.arrival.hash_block_tokens)?",
                             h.size(), block_tokens, r.prompt_tokens, room));
                }
                auto chain = std::make_shared<std::vector<uint64_t>>();
                chain->reserve(h.size());
                uint64_t c = 0x6d6f6f6e63616b65ULL;
                for (const json& id : h) {
                    if (!id.is_number_integer())
                        fail(path, n, fmt::format("hash_ids: expected whole numbers, got {}", id.dump()));
                    c = derive_seed(c, id.is_number_unsigned() ? id.get<uint64_t>()
                                                               : static_cast<uint64_t>(id.get<int64_t>()));
                    chain->push_back(c == 0 ? 1 : c);
                }
                if (!chain->empty()) {
                    blocks = std::move(chain);
                    any_hashes = true;
                }
            }
            if (add_row(t, latest, r)) t.blocks.push_back(std::move(blocks));
        }
        have = static_cast<bool>(std::getline(in, line));
        ++n;
    }
    if (any_hashes) {
        t.block_tokens = block_tokens;
        t.format += fmt::format(" (hash_ids, blocks of {} tokens)", block_tokens);
    } else {
        t.blocks.clear();
    }
    finish(t, path);
    return t;
}

}  // namespace

Trace read_trace(const std::string& path, int64_t block_tokens) {
    std::ifstream in(path, std::ios::binary);
    if (!in) throw std::runtime_error(fmt::format("{}: cannot open file", path));
    return parse_trace(in, path, block_tokens);
}

Trace parse_trace(std::istream& in, const std::string& path, int64_t block_tokens) {
    if (block_tokens < 1)
        throw std::runtime_error(fmt::format("{}: a hash_ids block needs at least 1 token", path));
    std::string line;
    if (!std::getline(in, line)) throw std::runtime_error(fmt::format("{}: empty file", path));
    if (line.rfind("\xEF\xBB\xBF", 0) == 0) line.erase(0, 3);  // a UTF-8 byte-order mark
    if (!line.empty() && line.back() == '\r') line.pop_back();
    const std::string_view head = trim(line);
    if (!head.empty() && head.front() == '{') return parse_jsonl(in, line, path, block_tokens);
    return parse_csv(in, line, path);
}

double trace_rate(const std::vector<TraceRow>& rows) {
    if (rows.empty()) return 0.0;
    const double span = rows.back().arrived_at_s - rows.front().arrived_at_s;
    return span > 0 ? static_cast<double>(rows.size()) / span : static_cast<double>(rows.size());
}

}  // namespace headroom
