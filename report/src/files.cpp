#include "headroom/report/files.hpp"

#include <fmt/format.h>
#include <fmt/os.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <stdexcept>

#include <nlohmann/json.hpp>

namespace headroom {

bool can_write(const std::string& path) {
    const bool existed = std::filesystem::exists(path);
    if (!std::ofstream(path, std::ios::app)) return false;
    if (!existed) std::filesystem::remove(path);
    return true;
}

namespace {

const char* const REQUESTS_CSV_HEADER =
    "id,session,turn,replica,arrival_s,queue_s,ttft_s,tpot_s,e2e_s,prompt_tokens,output_tokens,generated,"
    "preemptions,prefix_hit_tokens,max_itl_s,rejected,reject_reason,failed\n";

void print_request_row(fmt::ostream& out, const RequestRecord& q) {
    if (q.rejected) {
        out.print("{},{},{},{},{:.6f},,,,,{},{},0,0,0,,1,\"{}\",0\n", q.id, q.session, q.turn, q.replica, q.arrival_s,
                  q.prompt_tokens, q.output_tokens, q.reject_reason);
        return;
    }
    if (q.failed) {  // the client gave up: no TTFT, TPOT or E2E of its own
        out.print("{},{},{},{},{:.6f},,,,,{},{},{},{},0,,0,,1\n", q.id, q.session, q.turn, q.replica, q.arrival_s,
                  q.prompt_tokens, q.output_tokens, q.generated, q.preemptions);
        return;
    }
    out.print("{},{},{},{},{:.6f},{:.6f},{:.6f},{:.6f},{:.6f},{},{},{},{},{},{:.6f},0,,0\n", q.id, q.session, q.turn,
              q.replica, q.arrival_s, q.queue_s(), q.ttft_s(), q.tpot_s(), q.e2e_s(), q.prompt_tokens, q.output_tokens,
              q.generated, q.preemptions, q.prefix_hit_tokens, q.max_itl_s);
}

class RequestsCsvSink : public RequestSink {
public:
    explicit RequestsCsvSink(std::string path) : path_(std::move(path)) {}
    void begin() override {
        out_ = std::make_unique<fmt::ostream>(fmt::output_file(path_));
        out_->print("{}", REQUESTS_CSV_HEADER);
    }
    void add(const RequestRecord& r) override { print_request_row(*out_, r); }
    void end() override { out_->close(); }
    void abandon() override {
        out_.reset();
        std::error_code ec;
        std::filesystem::remove(path_, ec);
    }

private:
    std::string path_;
    std::unique_ptr<fmt::ostream> out_;
};

}  // namespace

void write_requests_csv(const std::string& path, const SimulationResult& r) {
    auto out = fmt::output_file(path);
    out.print("{}", REQUESTS_CSV_HEADER);
    for (const RequestRecord& q : r.requests) print_request_row(out, q);
}

std::shared_ptr<RequestSink> requests_csv_sink(const std::string& path) { return std::make_shared<RequestsCsvSink>(path); }

void write_chrome_trace(const std::string& path, const Scenario& sc, const SimulationResult& r) {
    using json = nlohmann::ordered_json;
    std::ofstream out(path);
    if (!out) throw std::runtime_error(path + ": cannot write");
    out << "{\"displayTimeUnit\":\"ms\",\"traceEvents\":[\n";
    auto us = [](double s) { return std::round(s * 1e9) / 1e3; };  // microseconds, to the nanosecond
    bool first = true;
    auto emit = [&](const json& event) {  // one event per line, written as it is made
        if (!first) out << ",\n";
        first = false;
        out << event.dump();
    };
    for (int64_t i = 0; i < sc.deployment.replicas; ++i) {
        emit({{"name", "process_name"}, {"ph", "M"}, {"pid", i}, {"args", {{"name", fmt::format("replica {} engine steps", i)}}}});
        emit({{"name", "process_name"}, {"ph", "M"}, {"pid", 1000 + i}, {"args", {{"name", fmt::format("replica {} requests", i)}}}});
    }
    for (const StepSample& st : r.timeseries) {
        emit({{"name", "step"}, {"ph", "X"}, {"pid", st.replica}, {"tid", 0}, {"ts", us(st.t_s)}, {"dur", us(st.dt_s)},
              {"args", {{"tokens", st.tokens}, {"prefill_tokens", st.prefill_tokens}, {"decodes", st.decodes},
                        {"running", st.running}, {"waiting", st.waiting}, {"kv_used", st.kv_used}, {"preempted", st.preempted}}}});
    }
    for (const RequestRecord& q : r.requests) {
        if (q.rejected || !q.completed()) continue;
        const int pid = 1000 + std::max<int32_t>(0, q.replica);
        const std::string name = fmt::format("request {}", q.id);
        emit({{"name", name}, {"cat", "request"}, {"ph", "b"}, {"id", q.id}, {"pid", pid}, {"tid", 0}, {"ts", us(q.arrival_s)},
              {"args", {{"prompt_tokens", q.prompt_tokens}, {"output_tokens", q.generated}, {"ttft_s", q.ttft_s()}}}});
        emit({{"name", name}, {"cat", "request"}, {"ph", "e"}, {"id", q.id}, {"pid", pid}, {"tid", 0}, {"ts", us(q.finish_s)}});
    }
    out << "\n]}\n";
    if (!out) throw std::runtime_error(path + ": write failed");
}

}  // namespace headroom
