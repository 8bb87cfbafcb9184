// vLLM V1-style scheduler: running first, then waiting; chunked prefill; preemption by recompute of the
// newest running request. Which blocks each request holds (prefix hits, hashing, freeing) is the KV-cache
// manager's (kv_cache_manager.hpp).
#include "headroom/core/scheduler.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <limits>
#include <map>
#include <stdexcept>

namespace headroom {

namespace {

class ContinuousPolicy : public AdmissionPolicy {
public:
    bool may_admit(int64_t) const override { return true; }
};

// Static batching: a batch is formed only when the previous one has completely finished.
class StaticPolicy : public AdmissionPolicy {
public:
    bool may_admit(int64_t running) const override { return running == 0; }
    bool fills_batch() const override { return true; }
};

using PolicyFactory = std::function<std::unique_ptr<AdmissionPolicy>()>;

const std::map<std::string, PolicyFactory>& registry() {
    static const std::map<std::string, PolicyFactory> r = {
        {"continuous", [] { return std::make_unique<ContinuousPolicy>(); }},
        {"static", [] { return std::make_unique<StaticPolicy>(); }},
    };
    return r;
}

}  // namespace

std::unique_ptr<AdmissionPolicy> make_admission_policy(const std::string& name) {
    auto it = registry().find(name);
    if (it == registry().end()) throw std::invalid_argument("unknown scheduler policy \"" + name + "\"");
    return it->second();
}

std::vector<std::string> admission_policy_names() {
    std::vector<std::string> names;
    for (const auto& [n, f] : registry()) names.push_back(n);
    return names;
}

Scheduler::Scheduler(const SchedulerConfig& config, SchedulerObserver* observer)
    : config_(config),
      observer_(observer),
      policy_(make_admission_policy(config.policy)) {
    if (config.max_num_batched_tokens < 1 || config.max_num_seqs < 1) {
        throw std::invalid_argument("Scheduler: token budget and max_num_seqs must be >= 1");
    }
    int64_t room = config.max_num_batched_tokens;  // of one step, on one DP rank
    if (config.max_chunk_tokens > 0) room = std::min(room, config.max_chunk_tokens);
    if (!config.chunked_prefill && config.max_model_len > room) {
        // as vLLM: without chunking, one step (of one DP rank) must hold the longest prompt
        throw std::invalid_argument(
            "Scheduler: without chunked prefill max_num_batched_tokens (a rank's) must be >= max_model_len");
    }
    if (config.ranks < 1) throw std::invalid_argument("Scheduler: ranks must be >= 1");
    const auto n = static_cast<size_t>(config.ranks);
    // each DP rank's engine has its own cache (an equal share of the blocks) and its own prefix cache
    rank_blocks_ = kv_blocks_per_rank(config.num_blocks, config.ranks);
    pools_.reserve(n);
    for (size_t k = 0; k < n; ++k) {
        pools_.emplace_back(rank_blocks_, config.block_size, config.prefix_caching);
        pools_.back().set_groups(config.group_windows, room);
    }
    if (config.ranks > 1) {
        rank_waiting_.assign(n, 0);
        rank_running_.assign(n, 0);
        rank_budget_.assign(n, 0);
        rank_blocked_.assign(n, 0);
        rank_preempted_.assign(n, 0);
    }
}

int64_t kv_blocks_per_rank(int64_t num_blocks, int64_t ranks) {
    return std::max<int64_t>(1, num_blocks / std::max<int64_t>(1, ranks));
}

int64_t Scheduler::blocks_needed(int64_t tokens) const { return pools_.front().blocks_needed(tokens); }

int64_t Scheduler::kv_blocks() const { return rank_blocks_ * static_cast<int64_t>(pools_.size()); }

int64_t Scheduler::kv_free() const {
    int64_t free = 0;
    for (const KvCacheManager& p : pools_) free += p.num_free();
    return free;
}

int64_t Scheduler::cached_prefix_tokens(const Request& r) const {
    RequestState s;
    s.req = r;
    int64_t most = 0;  // with DP ranks: the rank that holds most of it
    for (const KvCacheManager& p : pools_) most = std::max(most, p.cached_prefix_tokens(s));
    return most;
}

int64_t Scheduler::add_request(const Request& r, double now_s) {
    RequestState s;
    s.req = r;
    s.entered_s = now_s;
    const int64_t total = r.prompt_tokens + r.output_tokens;
    if (config_.max_model_len > 0 && total > config_.max_model_len) {
        s.reject_reason = fmt::format("prompt {} + output {} tokens exceed max_model_len {}", r.prompt_tokens,
                                      r.output_tokens, config_.max_model_len);
    } else if (blocks_needed(total) > rank_blocks_) {
        s.reject_reason = fmt::format("needs {} KV blocks, more than the cache's {}{}", blocks_needed(total),
                                      rank_blocks_, config_.ranks > 1 ? " (one DP rank's)" : "");
    } else if (r.prompt_tokens < 1) {
        s.reject_reason = "empty prompt";
    }
    if (!s.reject_reason.empty()) s.status = RequestStatus::REJECTED;
    int64_t index = 0;
    if (!free_slots_.empty()) {  // a request that has left: its slot is taken over
        index = free_slots_.back();
        free_slots_.pop_back();
        requests_[static_cast<size_t>(index)] = std::move(s);
    } else {
        index = static_cast<int64_t>(requests_.size());
        requests_.push_back(std::move(s));
    }
    if (requests_[static_cast<size_t>(index)].status == RequestStatus::REJECTED) {
        if (observer_) observer_->on_rejected(requests_[static_cast<size_t>(index)], now_s);
        free_slots_.push_back(index);
        return index;
    }
    has_deadlines_ = has_deadlines_ || r.deadline_s > 0.0;
    if (config_.ranks > 1) {  // vLLM's DP load balancer: the rank with the least waiting x 4 + running
        RequestState& q = requests_[static_cast<size_t>(index)];
        int64_t least = std::numeric_limits<int64_t>::max();
        for (size_t k = 0; k < rank_waiting_.size(); ++k) {
            const int64_t score = 4 * rank_waiting_[k] + rank_running_[k];
            if (score < least) least = score, q.rank = static_cast<int32_t>(k);
        }
        tally(q, 1);
    }
    waiting_.push_back(index);
    return index;
}

void Scheduler::tally(const RequestState& r, int64_t d) {
    if (config_.ranks <= 1) return;
    if (r.status == RequestStatus::WAITING) rank_waiting_[static_cast<size_t>(r.rank)] += d;
    if (r.status == RequestStatus::RUNNING) rank_running_[static_cast<size_t>(r.rank)] += d;
}

// A request that leaves the engine for good (finished or abandoned): its blocks and their memory go.
void Scheduler::retire(RequestState& r, RequestStatus status) {
    r.status = status;
    kv_of(r).free(r);
    r.blocks.shrink_to_fit();
}

void Scheduler::preempt(int64_t index, double now_s) {
    RequestState& r = requests_[index];
    kv_of(r).free(r);
    r.recomputed_tokens += r.num_computed;
    r.num_computed = 0;
    tally(r, -1);
    r.status = RequestStatus::WAITING;
    tally(r, 1);
    ++r.preemptions;
    waiting_.push_front(index);
    if (observer_) observer_->on_preempted(r, now_s);
}

void Scheduler::abort(int64_t index) {
    RequestState& r = requests_[index];
    tally(r, -1);
    retire(r, RequestStatus::ABORTED);
    if (observer_) observer_->on_aborted(r, r.req.deadline_s);
    free_slots_.push_back(index);
}

void Scheduler::abort_expired(double now_s) {
    auto expired = [&](int64_t i) {
        const double d = requests_[i].req.deadline_s;
        return d > 0.0 && now_s > d;
    };
    for (int64_t i : running_) {
        if (expired(i)) abort(i);
    }
    for (int64_t i : waiting_) {
        if (expired(i)) abort(i);
    }
    auto gone = [&](int64_t i) { return requests_[i].status == RequestStatus::ABORTED; };
    running_.erase(std::remove_if(running_.begin(), running_.end(), gone), running_.end());
    waiting_.erase(std::remove_if(waiting_.begin(), waiting_.end(), gone), waiting_.end());
}

StepPlan Scheduler::schedule(double now_s) {
    StepPlan plan;
    schedule(now_s, plan);
    return plan;
}

void Scheduler::schedule(double now_s, StepPlan& plan) {
    plan.seqs.clear();  // its capacity stays: no allocation per step
    plan.tokens = plan.prefill_tokens = plan.decodes = plan.preempted = 0;
    int64_t budget = config_.max_num_batched_tokens;
    const int64_t chunk = config_.max_chunk_tokens > 0 ? config_.max_chunk_tokens : budget;  // one sequence's most
    blocker_.clear();
    if (has_deadlines_) abort_expired(now_s);
    // async scheduling: a step that follows the last one at once was planned when that one started, before
    // its outputs were taken; after an idle spell (or without async scheduling) they were taken long since
    const bool lagged = config_.async_scheduling && last_schedule_s_ >= 0.0 && last_complete_s_ == now_s;
    if (!lagged) release_lingering();

    // 1. Running requests, oldest first.
    const bool ranked = config_.ranks > 1;
    if (ranked) {
        std::fill(rank_budget_.begin(), rank_budget_.end(), chunk);
        std::fill(rank_preempted_.begin(), rank_preempted_.end(), 0);
    }
    for (size_t i = 0; i < running_.size() && budget > 0;) {
        const int64_t index = running_[i];
        RequestState& r = requests_[index];
        const int64_t room = ranked ? std::min(budget, rank_budget_[static_cast<size_t>(r.rank)]) : budget;
        int64_t want = r.num_tokens() - r.num_computed;
        if (room <= 0 || (!config_.chunked_prefill && want > room)) {
            ++i;  // its rank's budget is spent; or without chunking a prompt waits for a step with room for all of it
            continue;
        }
        const bool decoding = want == 1 && r.num_computed >= r.req.prompt_tokens;
        int64_t spec = 0;
        if (decoding && config_.num_speculative_tokens > 0) {
            // the last step's drafts with the token before them; none past the answer's end or the budget
            spec = std::max<int64_t>(0, std::min({config_.num_speculative_tokens,
                                                  r.req.output_tokens - r.num_generated - 1, room - 1}));
            want += spec;
        }
        want = std::min({want, room, chunk});
        bool self_preempted = false;
        KvCacheManager& kv = kv_of(r);
        kv.remove_skipped(r);  // blocks the sliding window has left behind go back to the pool first
        const int64_t need = kv.blocks_short(r, r.num_computed + want);
        while (need > kv.num_free()) {
            // the newest running request of its rank (the one engine whose cache this is): r itself at the
            // latest
            size_t v = running_.size() - 1;
            while (requests_[running_[v]].rank != r.rank) --v;
            const int64_t victim = running_[v];
            running_.erase(running_.begin() + static_cast<std::ptrdiff_t>(v));
            preempt(victim, now_s);
            ++plan.preempted;
            if (ranked) rank_preempted_[static_cast<size_t>(r.rank)] = 1;
            if (victim == index) {
                self_preempted = true;
                break;
            }
        }
        if (self_preempted) {
            if (!ranked) break;
            continue;  // running_[i] is the next request now; other ranks' requests still run
        }
        kv.allocate(r, r.num_computed + want);
        plan.seqs.push_back({index, want, r.num_computed, spec, 0, r.rank});
        plan.tokens += want;
        if (decoding) ++plan.decodes;
        else plan.prefill_tokens += want;
        budget -= want;
        if (ranked) rank_budget_[static_cast<size_t>(r.rank)] -= want;
        ++i;
    }

    // 2. Waiting requests, unless this step preempted (vLLM admits nothing new then; with DP ranks, the ranks
    // that preempted admit nothing: admit_ranked)
    constexpr double ALL = std::numeric_limits<double>::infinity();
    const bool admitting =
        (plan.preempted == 0 || ranked) && policy_->may_admit(static_cast<int64_t>(running_.size()));
    if (admitting) {
        admit_waiting(now_s, plan, budget, chunk, lagged ? last_schedule_s_ : ALL);
    } else if (!waiting_.empty()) {
        blocker_ = plan.preempted > 0 ? "kv" : "policy";
    }
    if (ranked && plan.preempted > 0 && blocker_.empty() && !waiting_.empty()) blocker_ = "kv";
    // nothing to run: vLLM's planned step was empty; it takes the last step's outputs (freeing what finished
    // there) and plans afresh, and the requests run right after the last step
    if (lagged && plan.empty() && (admitting || !lingering_.empty())) {
        release_lingering();
        if (ranked) std::fill(rank_preempted_.begin(), rank_preempted_.end(), 0);  // a fresh plan
        const bool may = policy_->may_admit(static_cast<int64_t>(running_.size()));
        if (may) admit_waiting(now_s, plan, budget, chunk, ALL);
    }
    release_lingering();  // they sat out the planning of one step: free for the next
    if (!plan.empty()) last_schedule_s_ = now_s;
}

void Scheduler::release_lingering() {
    for (const int64_t index : lingering_) {
        RequestState& r = requests_[index];
        if (config_.ranks > 1) rank_running_[static_cast<size_t>(r.rank)] -= 1;
        retire(r, RequestStatus::FINISHED);
        free_slots_.push_back(index);
    }
    lingering_.clear();
}

void Scheduler::admit_waiting(double now_s, StepPlan& plan, int64_t budget, int64_t chunk, double until_s) {
    if (config_.ranks > 1) {
        admit_ranked(now_s, plan, budget, chunk, until_s);
        return;
    }
    while (!waiting_.empty()) {
        if (requests_[waiting_.front()].entered_s > until_s) {  // in entry order: the rest entered later still
            blocker_ = "async";
            break;
        }
        if (budget <= 0 && !policy_->fills_batch()) {
            blocker_ = "budget";
            break;
        }
        if (seats_taken() >= config_.max_num_seqs) {
            blocker_ = "seqs";
            break;
        }
        const int64_t took = admit(waiting_.front(), budget, chunk, now_s, plan);
        if (took < 0) {
            blocker_ = took == NO_ROOM ? "budget" : "kv";
            break;
        }
        waiting_.pop_front();
        budget -= took;
    }
}

int64_t Scheduler::admit(int64_t index, int64_t room, int64_t chunk, double now_s, StepPlan& plan) {
    RequestState& r = requests_[index];
    int64_t hit_tokens = 0;
    KvCacheManager& kv = kv_of(r);
    if (config_.prefix_caching && r.blocks.empty()) hit_tokens = kv.take_prefix_hits(r);
    // KV sent by a prefill replica counts as computed on the first admission only
    const int64_t arrived = r.preemptions == 0 ? std::min(r.req.precomputed_tokens, r.req.prompt_tokens) : 0;
    const int64_t computed = std::max(hit_tokens, arrived);
    int64_t want = r.num_tokens() - computed;
    if (!config_.chunked_prefill && want > room) {
        kv.free(r);
        return NO_ROOM;
    }
    want = std::min({want, room, chunk});
    if (!kv.allocate(r, computed + want)) {
        kv.free(r);
        return NO_KV;
    }
    r.num_computed = computed;
    r.prefix_hit_tokens += hit_tokens;
    tally(r, -1);
    r.status = RequestStatus::RUNNING;
    tally(r, 1);
    running_.push_back(index);
    if (!r.scheduled_once) {
        r.scheduled_once = true;
        if (observer_) observer_->on_first_scheduled(r, now_s);
    }
    if (want == 0) return 0;  // admitted to a static batch; its prefill starts in a later step
    plan.seqs.push_back({index, want, computed, 0, 0, r.rank});
    plan.tokens += want;
    plan.prefill_tokens += want;
    return want;
}

void Scheduler::admit_ranked(double now_s, StepPlan& plan, int64_t budget, int64_t chunk, double until_s) {
    // each rank's waiting requests in arrival order; a rank whose budget, sequences or blocks are spent, or
    // that preempted this step, stops; the others go on
    const auto ranks = static_cast<int64_t>(rank_blocked_.size());
    const int64_t seqs = std::max<int64_t>(1, config_.max_num_seqs / ranks);
    int64_t blocked = 0;
    for (size_t k = 0; k < rank_blocked_.size(); ++k) {
        rank_blocked_[k] = rank_preempted_[k];
        blocked += rank_preempted_[k];
    }
    for (size_t i = 0; i < waiting_.size() && blocked < ranks;) {
        const int64_t index = waiting_[i];
        if (requests_[index].entered_s > until_s) {  // async scheduling: in entry order, the rest entered later still
            if (blocker_.empty()) blocker_ = "async";
            break;
        }
        const auto k = static_cast<size_t>(requests_[index].rank);
        if (rank_blocked_[k]) {
            ++i;
            continue;
        }
        const char* why = nullptr;
        int64_t took = 0;
        if (rank_budget_[k] <= 0 && !policy_->fills_batch()) {
            why = "budget";
        } else if (rank_running_[k] >= seqs) {
            why = "seqs";
        } else {
            took = admit(index, std::min(budget, rank_budget_[k]), chunk, now_s, plan);
            if (took == NO_KV) why = "kv";
            if (took == NO_ROOM) why = "budget";
        }
        if (why) {
            rank_blocked_[k] = 1;
            ++blocked;
            if (blocker_.empty()) blocker_ = why;
            ++i;
            continue;
        }
        waiting_.erase(waiting_.begin() + static_cast<std::ptrdiff_t>(i));
        budget -= took;
        rank_budget_[k] -= took;
    }
}

void Scheduler::complete(const StepPlan& plan, double now_s) {
    last_complete_s_ = now_s;
    bool any_finished = false;
    for (const ScheduledSeq& s : plan.seqs) {
        RequestState& r = requests_[s.request];
        if (r.status != RequestStatus::RUNNING) continue;  // cannot happen: preemption precedes planning
        if (r.req.deadline_s > 0.0 && now_s > r.req.deadline_s) {  // the client left during this step
            abort(s.request);
            any_finished = true;
            continue;
        }
        // a verify keeps the KV of its accepted drafts and of the token before them; the rejected drafts'
        // slots are written over by the next step
        const int64_t accepted = std::clamp<int64_t>(s.accepted, 0, s.spec_tokens);
        r.num_computed += s.spec_tokens > 0 ? 1 + accepted : s.new_tokens;
        kv_of(r).cache_full_blocks(r);
        if (r.num_computed < r.num_tokens()) continue;  // a prefill chunk that did not reach the end
        if (r.req.output_tokens == 0) {
            finish(s.request, now_s);
            any_finished = true;
            continue;
        }
        const int64_t emitted = 1 + accepted;  // accepted drafts and the target's own token
        r.num_generated += emitted;
        if (observer_) observer_->on_tokens(r, emitted, now_s);
        if (r.num_generated >= r.req.output_tokens) {
            finish(s.request, now_s);
            any_finished = true;
        }
    }
    if (any_finished) {
        running_.erase(std::remove_if(running_.begin(), running_.end(),
                                      [&](int64_t i) {
                                          return requests_[i].status == RequestStatus::FINISHED ||
                                                 requests_[i].status == RequestStatus::ABORTED;
                                      }),
                       running_.end());
    }
    if (!has_work()) release_lingering();  // no step follows: vLLM takes this one's outputs at once
}

void Scheduler::finish(int64_t index, double now_s) {
    RequestState& r = requests_[index];
    // async scheduling: its blocks, seat and rank tally stay until the next step is planned (lingering_)
    const bool lingers = config_.async_scheduling && !r.req.hold_kv;
    if (!lingers) tally(r, -1);
    if (lingers || r.req.hold_kv) {  // its blocks stay: lingering, or until release() (its KV is on its way
        r.status = RequestStatus::FINISHED;  // to a decode replica)
        if (lingers) lingering_.push_back(index);
    } else {
        retire(r, RequestStatus::FINISHED);
        free_slots_.push_back(index);
    }
    if (observer_) observer_->on_finished(r, now_s);
}

void Scheduler::release(int64_t index) {
    RequestState& r = requests_.at(static_cast<size_t>(index));
    if (!r.req.hold_kv || r.status != RequestStatus::FINISHED) throw std::logic_error("Scheduler::release: not a held request");
    r.req.hold_kv = false;
    retire(r, RequestStatus::FINISHED);
    free_slots_.push_back(index);
}

}  // namespace headroom
