// Speculative decoding: the acceptance model, the drafter's shape and memory, and its cost (speculative.hpp).
#include "headroom/core/speculative.hpp"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <algorithm>
#include <cmath>
#include <stdexcept>

#include "headroom/core/kv_planner.hpp"

namespace headroom {

std::vector<std::string> speculative_method_names() { return {"ngram", "draft_model", "eagle", "eagle3", "mtp"}; }

std::string SpeculativeConfig::label() const {
    if (!enabled()) return "off";
    std::string m = method == "eagle3" ? "EAGLE-3" : method == "eagle" ? "EAGLE" : method == "mtp" ? "MTP"
                  : method == "ngram" ? "n-gram" : "draft model " + draft_model;
    const std::string acc = acceptance_lengths.empty()
                                ? fmt::format("acceptance {:.2f}", acceptance_rate)
                                : fmt::format("measured acceptance, {:.2f} tokens per verify", expected_tokens_per_verify(*this, num_speculative_tokens));
    return fmt::format("{}, k={}, {}", m, num_speculative_tokens, acc);
}

namespace {

// P(accepted >= i) for i = 0..k.
double at_least(const SpeculativeConfig& c, int64_t i) {
    if (i <= 0) return 1.0;
    if (c.acceptance_lengths.empty()) return std::pow(c.acceptance_rate, static_cast<double>(i));
    double p = 0.0;
    for (size_t j = static_cast<size_t>(i); j < c.acceptance_lengths.size(); ++j) p += c.acceptance_lengths[j];
    return p;
}

}  // namespace

double expected_tokens_per_verify(const SpeculativeConfig& c, int64_t k) {
    double e = 0.0;
    for (int64_t i = 0; i <= k; ++i) e += at_least(c, i);
    return e;
}

int64_t sample_accepted(const SpeculativeConfig& c, int64_t k, Rng& rng) {
    if (k <= 0) return 0;
    if (c.acceptance_lengths.empty()) {
        int64_t a = 0;
        while (a < k && rng.uniform() < c.acceptance_rate) ++a;  // each draft in turn, until one is rejected
        return a;
    }
    const double u = rng.uniform();
    double cum = 0.0;
    for (size_t j = 0; j < c.acceptance_lengths.size(); ++j) {
        cum += c.acceptance_lengths[j];
        if (u < cum) return std::min<int64_t>(static_cast<int64_t>(j), k);
    }
    return std::min<int64_t>(static_cast<int64_t>(c.acceptance_lengths.size()) - 1, k);
}

std::optional<ModelCard> drafter_card(const ModelCard& target, const SpeculativeConfig& c) {
    if (!c.enabled() || c.method == "ngram") return std::nullopt;
    if (c.method == "draft_model") {
        if (!c.draft) throw PlanError("speculative.model", "the draft_model method needs a draft model");
        return *c.draft;
    }
    if (c.method != "eagle" && c.method != "eagle3" && c.method != "mtp") {
        throw PlanError("speculative.method", fmt::format("unknown method \"{}\" ({})", c.method, fmt::join(speculative_method_names(), ", ")));
    }
    if (c.method == "mtp" && target.mtp_layers == 0) {
        throw PlanError("speculative.method", fmt::format("{} ships no MTP layers (num_nextn_predict_layers)", target.name));
    }
    ModelCard head = target;
    head.name = target.name + " " + c.method + " head";
    head.num_layers = 1;
    if (c.method == "mtp") {
        head.layers = {target.layers.back()};  // DeepSeek-V3's MTP layer is a decoder layer like its last (MoE)
        head.first_k_dense_replace = 0;
    } else {
        // an EAGLE head is one dense Llama-style decoder layer of the target's width, full attention, in bf16
        head.layers = {LayerSpec{target.is_mla() ? AttentionKind::MLA : AttentionKind::FULL, 0, false}};
        head.sliding_window = 0;
        head.index_n_heads = head.index_head_dim = head.index_topk = 0;  // no sparse-attention indexer
        if (head.intermediate_size == 0) head.intermediate_size = target.moe_intermediate_size * std::max<int64_t>(1, target.experts_per_token);
        head.num_experts = head.experts_per_token = head.moe_intermediate_size = 0;
        head.num_shared_experts = head.shared_expert_intermediate_size = 0;
        head.first_k_dense_replace = 0;
        head.shipped = WeightScheme::uniform(Dtype::BF16);
        if (c.method == "eagle3") head.vocab_size = std::min(head.vocab_size, c.draft_vocab);
    }
    return head;
}

DrafterMemory drafter_memory(const ModelCard& target, const SpeculativeConfig& c, int64_t tp,
                             const std::optional<Dtype>& weight_dtype, Dtype kv_dtype) {
    DrafterMemory m;
    const std::optional<ModelCard> head = drafter_card(target, c);
    if (!head) return m;
    const double t = static_cast<double>(tp);
    const bool own = c.method == "draft_model";
    const WeightScheme w = own || c.method == "mtp" ? head->weights(weight_dtype) : WeightScheme::uniform(Dtype::BF16);
    double bytes = head->weight_bytes(w);
    if (!own) {
        // EAGLE and MTP heads use the target's embedding and lm_head; EAGLE-3 has its own lm_head over its draft
        // vocabulary, and a fusion of three hidden states (3h x h)
        const ParamBreakdown p = head->params();
        bytes -= static_cast<double>(p.embedding + p.lm_head) * dtype_bytes(Dtype::BF16);
        if (c.method == "eagle3") {
            const double h = static_cast<double>(head->hidden_size);
            bytes += (static_cast<double>(head->vocab_size) * h + 3.0 * h * h) * dtype_bytes(Dtype::BF16);
        }
    }
    m.weight_bytes = bytes / t;
    for (int64_t i = 0; i < head->num_layers; ++i) m.kv_bytes_per_token += head->kv_rank_token_bytes(i, kv_dtype, tp);
    return m;
}

SpeculativePredictor::SpeculativePredictor(std::unique_ptr<StepTimePredictor> target,
                                           std::unique_ptr<StepTimePredictor> drafter, int64_t k)
    : target_(std::move(target)), drafter_(std::move(drafter)), k_(k) {}

// The drafter's k forwards: the first over every scheduled token (a verify's token before its drafts, at its
// context; prefill chunks whole), then k - 1 over one token per verifying sequence.
StepTotals SpeculativePredictor::draft_totals(const std::vector<SequenceWork>& batch) const {
    StepTotals t;
    if (!drafter_) return t;
    scratch_.clear();
    bool verifies = false;
    for (const SequenceWork& s : batch) {
        if (s.spec > 0) {
            scratch_.push_back({1, s.context});
            verifies = true;
        } else {
            scratch_.push_back({s.new_tokens, s.context});
        }
    }
    auto add = [&](const StepTotals& x) {
        t.time_s += x.time_s;
        t.flops += x.flops;
        t.bytes += x.bytes;
        for (int b = 0; b < 4; ++b) t.time_by_bound_s[b] += x.time_by_bound_s[b];
    };
    add(drafter_->step_totals(scratch_));
    if (!verifies) return t;
    for (int64_t pass = 1; pass < k_; ++pass) {
        scratch_.clear();
        for (const SequenceWork& s : batch) {
            if (s.spec > 0) scratch_.push_back({1, s.context + pass});
        }
        add(drafter_->step_totals(scratch_));
    }
    return t;
}

StepTotals SpeculativePredictor::step_totals(const std::vector<SequenceWork>& batch) const {
    StepTotals t = target_->step_totals(batch);
    const StepTotals d = draft_totals(batch);
    t.time_s += d.time_s;
    t.flops += d.flops;
    t.bytes += d.bytes;
    for (int b = 0; b < 4; ++b) t.time_by_bound_s[b] += d.time_by_bound_s[b];
    t.draft_s = d.time_s;
    return t;
}

StepCost SpeculativePredictor::step(const std::vector<SequenceWork>& batch) const {
    StepCost s = target_->step(batch);
    const StepTotals d = draft_totals(batch);
    OpCost o;
    o.kind = OpKind::SPEC_DRAFT;
    o.name = std::string(op_name(OpKind::SPEC_DRAFT));
    o.count = drafter_ ? k_ : 0;
    o.flops = d.flops;
    o.bytes = d.bytes;
    o.time_s = o.roofline_s = d.time_s;
    o.bound = d.time_by_bound_s[0] > d.time_by_bound_s[1] ? Bound::COMPUTE : Bound::MEMORY;
    o.source = drafter_ ? "the drafter's forwards, by " + drafter_->name() : "n-gram lookup (no GPU time)";
    // before the step overhead, which stays last
    auto at = std::find_if(s.ops.begin(), s.ops.end(), [](const OpCost& c) { return c.kind == OpKind::STEP_OVERHEAD; });
    s.ops.insert(at, o);
    s.time_s += d.time_s;
    s.flops += d.flops;
    s.bytes += d.bytes;
    return s;
}

}  // namespace headroom
