// Arrival processes, length distributions, shapes, and the trace CSV reader (the one place CSV is parsed).
#include "headroom/core/workload.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <fstream>
#include <sstream>
#include <stdexcept>

namespace headroom {

// ---- randomness -------------------------------------------------------------------------------------------

double Rng::uniform() { return static_cast<double>(engine_() >> 11) * 0x1.0p-53; }

double Rng::exponential(double rate) { return -std::log1p(-uniform()) / rate; }

double Rng::normal() {
    if (has_spare_) {
        has_spare_ = false;
        return spare_;
    }
    double u1 = uniform();
    while (u1 <= 0.0) u1 = uniform();
    const double u2 = uniform();
    const double r = std::sqrt(-2.0 * std::log(u1));
    spare_ = r * std::sin(2.0 * M_PI * u2);
    has_spare_ = true;
    return r * std::cos(2.0 * M_PI * u2);
}

double Rng::gamma(double shape) {
    // Marsaglia & Tsang (2000); for shape < 1 use gamma(shape + 1) x U^(1 / shape).
    if (shape < 1.0) return gamma(shape + 1.0) * std::pow(uniform(), 1.0 / shape);
    const double d = shape - 1.0 / 3.0, c = 1.0 / std::sqrt(9.0 * d);
    for (;;) {
        double x, v;
        do {
            x = normal();
            v = 1.0 + c * x;
        } while (v <= 0.0);
        v = v * v * v;
        const double u = uniform();
        if (u < 1.0 - 0.0331 * x * x * x * x) return d * v;
        if (std::log(u) < 0.5 * x * x + d * (1.0 - v + std::log(v))) return d * v;
    }
}

uint64_t derive_seed(uint64_t seed, uint64_t stream) {
    uint64_t x = seed ^ (0x9e3779b97f4a7c15ULL * (stream + 1));
    x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
    x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
    return x ^ (x >> 31);
}

// ---- distributions ----------------------------------------------------------------------------------------

namespace {

class Fixed : public Distribution {
public:
    explicit Fixed(double v) : v_(v) {}
    double sample(Rng&) const override { return v_; }
    double mean() const override { return v_; }
    std::string describe() const override { return fmt::format("fixed {:g}", v_); }

private:
    double v_;
};

class Uniform : public Distribution {
public:
    Uniform(double a, double b) : a_(a), b_(b) {}
    double sample(Rng& r) const override { return a_ + (b_ - a_) * r.uniform(); }
    double mean() const override { return (a_ + b_) / 2.0; }
    std::string describe() const override { return fmt::format("uniform [{:g}, {:g}]", a_, b_); }

private:
    double a_, b_;
};

// Truncation by resampling: draws outside [lo, hi] are redrawn (clamped after 64 tries).
class Normal : public Distribution {
public:
    Normal(double mean, double sd, double lo, double hi) : m_(mean), sd_(sd), lo_(lo), hi_(hi) {}
    double sample(Rng& r) const override {
        for (int i = 0; i < 64; ++i) {
            const double x = m_ + sd_ * r.normal();
            if (x >= lo_ && x <= hi_) return x;
        }
        return std::clamp(m_, lo_, hi_);
    }
    double mean() const override { return std::clamp(m_, lo_, hi_); }
    std::string describe() const override { return fmt::format("normal mean {:g} sd {:g} in [{:g}, {:g}]", m_, sd_, lo_, hi_); }

private:
    double m_, sd_, lo_, hi_;
};

class Lognormal : public Distribution {
public:
    Lognormal(double median, double sigma, double lo, double hi) : mu_(std::log(median)), s_(sigma), lo_(lo), hi_(hi) {}
    double sample(Rng& r) const override {
        for (int i = 0; i < 64; ++i) {
            const double x = std::exp(mu_ + s_ * r.normal());
            if (x >= lo_ && x <= hi_) return x;
        }
        return std::clamp(std::exp(mu_), lo_, hi_);
    }
    double mean() const override { return std::exp(mu_ + s_ * s_ / 2.0); }  // untruncated
    std::string describe() const override {
        return fmt::format("lognormal median {:g} sigma {:g} in [{:g}, {:g}]", std::exp(mu_), s_, lo_, hi_);
    }

private:
    double mu_, s_, lo_, hi_;
};

class Empirical : public Distribution {
public:
    explicit Empirical(std::vector<double> v) : v_(std::move(v)) {
        if (v_.empty()) throw std::invalid_argument("empirical distribution needs at least one value");
        double s = 0;
        for (double x : v_) s += x;
        mean_ = s / static_cast<double>(v_.size());
    }
    double sample(Rng& r) const override {
        const auto i = static_cast<size_t>(r.uniform() * static_cast<double>(v_.size()));
        return v_[std::min(i, v_.size() - 1)];
    }
    double mean() const override { return mean_; }
    std::string describe() const override { return fmt::format("empirical ({} values, mean {:.1f})", v_.size(), mean_); }

private:
    std::vector<double> v_;
    double mean_ = 0;
};

class Poisson : public ArrivalProcess {
public:
    explicit Poisson(double rate) : rate_(rate) {}
    double next_gap_s(Rng& r) const override { return r.exponential(rate_); }
    double rate() const override { return rate_; }
    std::string describe() const override { return fmt::format("Poisson at {:g}/s", rate_); }

private:
    double rate_;
};

class GammaArrivals : public ArrivalProcess {
public:
    GammaArrivals(double rate, double cv) : rate_(rate), cv_(cv), shape_(1.0 / (cv * cv)) {}
    // gap ~ Gamma(shape k = 1/cv^2, scale 1/(rate k)): mean 1/rate, cv as given
    double next_gap_s(Rng& r) const override { return r.gamma(shape_) / (rate_ * shape_); }
    double rate() const override { return rate_; }
    std::string describe() const override { return fmt::format("Gamma at {:g}/s, cv {:g}", rate_, cv_); }

private:
    double rate_, cv_, shape_;
};

class Constant : public ArrivalProcess {
public:
    explicit Constant(double rate) : rate_(rate) {}
    double next_gap_s(Rng&) const override { return 1.0 / rate_; }
    double rate() const override { return rate_; }
    std::string describe() const override { return fmt::format("constant {:g}/s", rate_); }

private:
    double rate_;
};

int64_t draw_tokens(const std::shared_ptr<Distribution>& d, Rng& r, int64_t min, double scale = 1.0) {
    if (!d) return min;
    return std::max<int64_t>(min, std::llround(d->sample(r) * scale));
}

double draw_s(const std::shared_ptr<Distribution>& d, Rng& r) { return d ? std::max(0.0, d->sample(r)) : 0.0; }

}  // namespace

std::shared_ptr<Distribution> fixed_distribution(double v) { return std::make_shared<Fixed>(v); }
std::shared_ptr<Distribution> uniform_distribution(double a, double b) { return std::make_shared<Uniform>(a, b); }
std::shared_ptr<Distribution> normal_distribution(double m, double sd, double lo, double hi) {
    return std::make_shared<Normal>(m, sd, lo, hi);
}
std::shared_ptr<Distribution> lognormal_distribution(double median, double sigma, double lo, double hi) {
    return std::make_shared<Lognormal>(median, sigma, lo, hi);
}
std::shared_ptr<Distribution> empirical_distribution(std::vector<double> values) {
    return std::make_shared<Empirical>(std::move(values));
}

std::unique_ptr<ArrivalProcess> poisson_arrivals(double rate) { return std::make_unique<Poisson>(rate); }
std::unique_ptr<ArrivalProcess> gamma_arrivals(double rate, double cv) { return std::make_unique<GammaArrivals>(rate, cv); }
std::unique_ptr<ArrivalProcess> constant_arrivals(double rate) { return std::make_unique<Constant>(rate); }

const std::vector<ArrivalEntry>& arrival_registry() {
    static const std::vector<ArrivalEntry> entries = {
        {"poisson", [](double rate, double) { return poisson_arrivals(rate); }},
        {"gamma", [](double rate, double cv) { return gamma_arrivals(rate, cv); }},
        {"constant", [](double rate, double) { return constant_arrivals(rate); }},
        {"closed_loop", nullptr},
        {"trace", nullptr},
        {"batch", nullptr},
    };
    return entries;
}

const ArrivalEntry* find_arrival(const std::string& name) {
    for (const ArrivalEntry& e : arrival_registry()) {
        if (name == e.name) return &e;
    }
    return nullptr;
}

std::string arrival_names_text() {
    std::string out;
    for (const ArrivalEntry& e : arrival_registry()) out += (out.empty() ? "" : ", ") + std::string(e.name);
    return out;
}

std::unique_ptr<ArrivalProcess> make_arrival_process(const std::string& name, double rate, double cv) {
    const ArrivalEntry* e = find_arrival(name);
    if (!e || !e->make) throw std::invalid_argument("\"" + name + "\" is not a rate arrival process");
    return e->make(rate, cv);
}

// ---- trace ------------------------------------------------------------------------------------------------

std::vector<TraceRow> read_trace_csv(const std::string& path) {
    std::ifstream in(path);
    if (!in) throw std::runtime_error(fmt::format("{}: cannot open file", path));
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

// ---- shapes -----------------------------------------------------------------------------------------------

std::string_view shape_name(Shape s) {
    switch (s) {
        case Shape::SINGLE: return "single";
        case Shape::CHAT: return "chat";
        case Shape::AGENT: return "agent";
        case Shape::BATCH: return "batch";
        case Shape::EMBEDDING: return "embedding";
        case Shape::RAG: return "rag";
    }
    return "?";
}

bool parse_shape(std::string_view s, Shape& out) {
    for (Shape x : {Shape::SINGLE, Shape::CHAT, Shape::AGENT, Shape::BATCH, Shape::EMBEDDING, Shape::RAG}) {
        if (shape_name(x) == s) {
            out = x;
            return true;
        }
    }
    return false;
}

Session make_session(const WorkloadSpec& spec, Rng& rng, int64_t id, double start_s) {
    Session s;
    s.id = id;
    s.start_s = start_s;
    s.content_id = static_cast<uint64_t>(id) + 1;
    switch (spec.shape) {
        case Shape::SINGLE:
        case Shape::BATCH:
            s.turns.push_back({draw_tokens(spec.prompt_tokens, rng, 1), draw_tokens(spec.output_tokens, rng, 1, spec.output_scale), 0.0});
            break;
        case Shape::EMBEDDING:
            s.turns.push_back({draw_tokens(spec.prompt_tokens, rng, 1), 0, 0.0});
            break;
        case Shape::RAG: {
            const int64_t question = draw_tokens(spec.prompt_tokens, rng, 1);
            const int64_t context = draw_tokens(spec.retrieved_tokens, rng, 0);
            const double latency = draw_s(spec.retrieval_latency_s, rng);
            s.turns.push_back({question + context, draw_tokens(spec.output_tokens, rng, 1, spec.output_scale), latency});
            break;
        }
        case Shape::CHAT:
        case Shape::AGENT: {
            const int64_t n = draw_tokens(spec.turns, rng, 1);
            const auto& gap = spec.shape == Shape::CHAT ? spec.think_time_s : spec.tool_latency_s;
            const auto& more = spec.followup_tokens ? spec.followup_tokens : spec.prompt_tokens;
            for (int64_t t = 0; t < n; ++t) {
                const int64_t prompt = draw_tokens(t == 0 ? spec.prompt_tokens : more, rng, 1);
                const int64_t output = draw_tokens(spec.output_tokens, rng, 1, spec.output_scale);
                s.turns.push_back({prompt, output, t == 0 ? 0.0 : draw_s(gap, rng)});
            }
            break;
        }
    }
    if (spec.prefix_groups.enabled() && !s.turns.empty()) {
        // session k goes to slot k mod N; each slot's sessions come in runs of M per system prompt
        const PrefixGroups& g = spec.prefix_groups;
        const uint64_t slot = static_cast<uint64_t>(id % g.groups);
        const uint64_t generation = static_cast<uint64_t>(id / g.groups / g.questions);
        const uint64_t group = slot + static_cast<uint64_t>(g.groups) * generation;
        s.prefix_id = derive_seed(0x70726566697847ULL, group) | 1;  // never 0
        s.prefix_tokens = g.system_prompt_tokens;
        s.turns[0].new_prompt_tokens += g.system_prompt_tokens;
    }
    return s;
}

std::vector<Session> open_loop_sessions(const WorkloadSpec& spec, uint64_t seed) {
    Rng rng(seed);
    std::vector<Session> out;
    // `requests: N` counts requests, not sessions: the session that reaches N keeps only its first turns.
    int64_t requests = 0;
    auto full = [&] { return spec.max_requests > 0 && requests >= spec.max_requests; };
    auto take = [&](Session s) {
        if (spec.max_requests > 0) {
            const auto left = static_cast<size_t>(spec.max_requests - requests);
            if (s.turns.size() > left) s.turns.resize(left);
        }
        requests += static_cast<int64_t>(s.turns.size());
        out.push_back(std::move(s));
    };
    if (spec.arrival == "trace") {
        for (const TraceRow& row : spec.trace) {
            const double t = row.arrived_at_s * spec.trace_time_scale;
            if (spec.duration_s > 0 && t >= spec.duration_s) break;
            if (full()) break;
            Session s;
            s.id = static_cast<int64_t>(out.size());
            s.start_s = t;
            s.content_id = static_cast<uint64_t>(s.id) + 1;
            s.turns.push_back({std::max<int64_t>(1, row.prompt_tokens),
                               spec.shape == Shape::EMBEDDING ? 0
                                                             : std::max<int64_t>(1, std::llround(row.output_tokens * spec.output_scale)),
                               0.0});
            take(std::move(s));
        }
        return out;
    }
    if (spec.arrival == "batch" || spec.shape == Shape::BATCH) {
        for (int64_t i = 0; spec.max_requests > 0 && !full(); ++i) take(make_session(spec, rng, i, 0.0));
        return out;
    }
    const auto process = make_arrival_process(spec.arrival, spec.rate, spec.cv);
    double t = 0.0;
    for (int64_t i = 0;; ++i) {
        t += process->next_gap_s(rng);
        if (spec.duration_s > 0 && t >= spec.duration_s) break;
        if (full()) break;
        take(make_session(spec, rng, i, t));
    }
    return out;
}

}  // namespace headroom
