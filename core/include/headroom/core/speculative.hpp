// Speculative decoding as vLLM V1 runs it (vllm/v1/spec_decode, vLLM 0.10-0.11; the scheduler's side in
// vllm/v1/core/sched/scheduler.py): a drafter proposes k tokens per decoding sequence, one verify forward of
// the target runs k + 1 tokens per sequence, and rejection sampling keeps the longest accepted run of
// drafts plus one token of the target's own. So a sequence emits 1 to k + 1 tokens per step.
// - Methods (vLLM's names): "ngram" (prompt lookup: no model cost), "draft_model" (a smaller model of the
//   same family, every layer), "eagle" and "eagle3" (one decoder layer of the target's shape on the
//   target's hidden states; EAGLE-3 adds a fusion of three hidden states and a 32k draft vocabulary),
//   "mtp" (the model's own next-token-prediction layer, DeepSeek-V3's num_nextn_predict_layers).
// - Acceptance: a per-position rate alpha (draft i is accepted, given that the i - 1 before it were, with
//   probability alpha, so P(accepted >= i) = alpha^i), or a measured distribution of accepted drafts
//   (P(accepted = 0), ..., P(accepted = k)), as vLLM's spec-decode metrics report per position.
// - The drafter runs k forwards per step: the first over every scheduled token (prefill chunks included:
//   the drafter keeps its own KV of the prompt), the other k - 1 over one token per decoding sequence.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "headroom/core/rng.hpp"
#include "headroom/core/step_predictor.hpp"
#include "headroom/models/model_card.hpp"

namespace headroom {

struct SpeculativeConfig {
    std::string method;                  // "" (off), ngram, draft_model, eagle, eagle3, mtp
    int64_t num_speculative_tokens = 0;  // k
    std::string draft_model;             // draft_model: the drafter's name or config path
    std::optional<ModelCard> draft;      // draft_model: its card, loaded by whoever reads the config
    double acceptance_rate = 0.0;        // per-position alpha, in [0, 1)
    std::vector<double> acceptance_lengths;  // or P(accepted drafts = 0..k); empty: alpha
    int64_t draft_vocab = 32000;         // eagle3: the draft head's vocabulary (EAGLE-3 checkpoints' draft_vocab_size)

    bool enabled() const { return !method.empty() && num_speculative_tokens > 0; }
    // "EAGLE-3, k=3, acceptance 0.70"
    std::string label() const;
};

std::vector<std::string> speculative_method_names();

// Expected tokens one verify step emits for a sequence with `k` proposals (accepted drafts plus the target's
// own): sum over i = 0..k of P(accepted >= i); with alpha, (1 - alpha^(k+1)) / (1 - alpha).
double expected_tokens_per_verify(const SpeculativeConfig& c, int64_t k);
// One draw of the accepted drafts among `k` proposals (k may be below num_speculative_tokens near the end of
// an answer: the distribution is cut at k).
int64_t sample_accepted(const SpeculativeConfig& c, int64_t k, Rng& rng);

// The drafter as a model the cost model can price: the draft model's card; for EAGLE and MTP one layer of the
// target (its last for MTP; a dense full-attention layer for EAGLE, with EAGLE-3's draft vocabulary);
// nullopt for n-gram. Throws PlanError (field "speculative.method" or ".model") when the method cannot apply
// (an unknown method, MTP on a model without MTP layers, draft_model without a draft).
std::optional<ModelCard> drafter_card(const ModelCard& target, const SpeculativeConfig& c);
// What the drafter adds to GPU memory, per GPU at TP `tp`: weights not shared with the target (EAGLE and MTP
// share its embedding and, but for EAGLE-3's draft vocabulary, its lm_head), in `w`'s formats (EAGLE heads
// ship in bf16); and KV bytes per token (its layers' KV lives in the same blocks as the target's).
struct DrafterMemory {
    double weight_bytes = 0.0;
    double kv_bytes_per_token = 0.0;
};
DrafterMemory drafter_memory(const ModelCard& target, const SpeculativeConfig& c, int64_t tp,
                             const std::optional<Dtype>& weight_dtype, Dtype kv_dtype);

// The step time with speculative decoding: the target's step over the scheduled work (decoding sequences
// carry their k drafts as SequenceWork::spec and verify k + 1 tokens) plus the drafter's k forwards, priced by
// `drafter` (no drafter: n-gram, free). StepTotals::draft_s and the op "spec_draft" carry the drafter's part.
class SpeculativePredictor : public StepTimePredictor {
public:
    SpeculativePredictor(std::unique_ptr<StepTimePredictor> target, std::unique_ptr<StepTimePredictor> drafter, int64_t k);

    StepCost step(const std::vector<SequenceWork>& batch) const override;
    StepTotals step_totals(const std::vector<SequenceWork>& batch) const override;
    std::string name() const override { return target_->name(); }
    std::string note() const override { return target_->note(); }
    const StepTimePredictor& target() const { return *target_; }

private:
    StepTotals draft_totals(const std::vector<SequenceWork>& batch) const;

    std::unique_ptr<StepTimePredictor> target_;
    std::unique_ptr<StepTimePredictor> drafter_;
    int64_t k_;
    mutable std::vector<SequenceWork> scratch_;
};

}  // namespace headroom
