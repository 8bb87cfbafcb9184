#include "headroom/core/parallelism.hpp"

#include <algorithm>
#include <cmath>
#include <functional>
#include <numeric>
#include <queue>
#include <utility>

#include <boost/math/special_functions/erf.hpp>

namespace headroom {

PipelineRound pipeline_round(const std::vector<std::vector<double>>& stage_s,
                             const std::vector<double>& hop_s) {
    PipelineRound r;
    const size_t m = stage_s.size();
    if (m == 0 || stage_s.front().empty()) return r;
    const size_t p = stage_s.front().size();
    // GPipe from empty: finish[s] after micro-batch j = max(finish[s] of j-1, finish[s-1] of j + hop) + t_js
    std::vector<double> finish(p, 0.0), busy(p, 0.0);
    double longest = 0.0;
    for (size_t j = 0; j < m; ++j) {
        const double h = j < hop_s.size() ? hop_s[j] : 0.0;
        double ready = 0.0;  // when micro-batch j reaches the stage
        double trip = static_cast<double>(p - 1) * h;
        for (size_t s = 0; s < p; ++s) {
            const double t = stage_s[j][s];
            finish[s] = std::max(finish[s], ready) + t;
            ready = finish[s] + h;
            busy[s] += t;
            trip += t;
        }
        longest = std::max(longest, trip);
    }
    r.stage_busy_s = std::accumulate(busy.begin(), busy.end(), 0.0) / static_cast<double>(p);
    r.busiest_stage = static_cast<size_t>(std::max_element(busy.begin(), busy.end()) - busy.begin());
    const double gpipe = finish.back();
    r.steady_s = std::max(busy[r.busiest_stage], longest);
    r.fill_s = std::max(0.0, gpipe - r.steady_s);
    return r;
}

PipelineRound pipeline_round(const std::vector<double>& stage_s, const std::vector<double>& hop_s,
                             int64_t p) {
    std::vector<std::vector<double>> t;
    t.reserve(stage_s.size());
    for (const double x : stage_s) t.emplace_back(static_cast<size_t>(std::max<int64_t>(1, p)), x);
    return pipeline_round(t, hop_s);
}

std::vector<int64_t> pipeline_stage_layers(int64_t layers, int64_t pp) {
    pp = std::max<int64_t>(1, pp);
    std::vector<int64_t> n(static_cast<size_t>(pp), layers / pp);
    for (int64_t i = 2; i < layers % pp + 2; ++i) n[static_cast<size_t>(pp - i)] += 1;
    return n;
}

std::vector<int64_t> pipeline_stage_layers(int64_t layers, int64_t pp,
                                           const std::vector<int64_t>& partition) {
    return partition.empty() ? pipeline_stage_layers(layers, pp) : partition;
}

namespace {
constexpr auto SET = [](LayerSet s) { return static_cast<size_t>(s); };

// counts[s][set]: how many of a set's layers stage s holds (HEAD and TAIL: 1 on the first and last stage)
std::vector<StageShares> shares_of(const std::vector<std::array<int64_t, NUM_LAYER_SETS>>& counts) {
    std::array<double, NUM_LAYER_SETS> total{};
    for (const auto& c : counts) {
        for (size_t k = 0; k < total.size(); ++k) total[k] += static_cast<double>(c[k]);
    }
    std::vector<StageShares> out;
    for (const auto& c : counts) {
        StageShares sh{};
        const double every = total[SET(LayerSet::EVERY)] > 0
                                 ? static_cast<double>(c[SET(LayerSet::EVERY)]) / total[SET(LayerSet::EVERY)]
                                 : 0.0;
        for (size_t k = 0; k < sh.size(); ++k)
            sh[k] = total[k] > 0 ? static_cast<double>(c[k]) / total[k] : every;
        out.push_back(sh);
    }
    return out;
}

std::array<int64_t, NUM_LAYER_SETS> edges(size_t s, size_t stages) {
    std::array<int64_t, NUM_LAYER_SETS> c{};
    c[SET(LayerSet::HEAD)] = s == 0 ? 1 : 0;
    c[SET(LayerSet::TAIL)] = s + 1 == stages ? 1 : 0;
    return c;
}
}  // namespace

std::vector<StageShares> pipeline_stage_shares(const std::vector<int64_t>& stage_layers) {
    std::vector<std::array<int64_t, NUM_LAYER_SETS>> counts;
    for (size_t s = 0; s < stage_layers.size(); ++s) {
        auto c = edges(s, stage_layers.size());
        c[SET(LayerSet::EVERY)] = stage_layers[s];
        counts.push_back(c);
    }
    return shares_of(counts);
}

std::vector<StageShares> pipeline_stage_shares(const ModelCard& m, int64_t pp,
                                               const std::vector<int64_t>& partition) {
    const std::vector<int64_t> n = pipeline_stage_layers(m.num_layers, pp, partition);
    std::vector<std::array<int64_t, NUM_LAYER_SETS>> counts;
    int64_t first = 0;
    for (size_t s = 0; s < n.size(); ++s) {
        auto c = edges(s, n.size());
        for (int64_t i = first; i < first + n[s]; ++i) {
            c[SET(LayerSet::EVERY)] += 1;
            c[SET(m.is_sliding(i) ? LayerSet::SLIDING : LayerSet::FULL_ATTENTION)] += 1;
            c[SET(m.layers[static_cast<size_t>(i)].moe ? LayerSet::MOE : LayerSet::DENSE_MLP)] += 1;
        }
        counts.push_back(c);
        first += n[s];
    }
    return shares_of(counts);
}

double expert_imbalance(double pairs, int64_t ranks, int64_t experts) {
    if (ranks <= 1 || pairs <= 0.0 || experts <= 0) return 1.0;
    const double g = static_cast<double>(ranks);
    const int64_t most = (experts + ranks - 1) / ranks;               // experts on the fullest ranks
    const int64_t fullest = experts % ranks == 0 ? ranks : experts % ranks;  // how many ranks hold that many
    const double q = static_cast<double>(most) / static_cast<double>(experts);
    const double sigma = std::sqrt(pairs * q * (1.0 - q));
    // Blom: the expected maximum of c standard normals is about Phi^-1((c - 0.375) / (c + 0.25)); 0 for one
    const double c = static_cast<double>(fullest);
    const double z = fullest > 1 ? std::sqrt(2.0) * boost::math::erf_inv(2.0 * (c - 0.375) / (c + 0.25) - 1.0) : 0.0;
    // the busiest rank cannot hold more than every pair
    return std::min(g, (pairs * q + sigma * z) / (pairs / g));
}

double ring_allreduce_s(const LinkModel& link, int64_t gpus, double bytes) {
    if (gpus <= 1) return 0.0;
    const double p = static_cast<double>(gpus), steps = 2.0 * (p - 1.0);
    return steps / p * bytes / link.bytes_per_s + steps * link.latency_s;
}

double hierarchical_allreduce_s(const LinkModel& nvlink, const LinkModel& fabric, int64_t gpus, int64_t domains, double bytes) {
    if (domains <= 1 || gpus % domains != 0) return ring_allreduce_s(fabric, gpus, bytes);
    const int64_t g = gpus / domains;
    const double gd = static_cast<double>(g);
    const double intra = g > 1 ? 2.0 * (gd - 1.0) / gd * bytes / nvlink.bytes_per_s + 2.0 * (gd - 1.0) * nvlink.latency_s : 0.0;
    return intra + ring_allreduce_s(fabric, domains, bytes / gd);
}

std::vector<int> balance_groups(const std::vector<int64_t>& sizes, int parts) {
    std::vector<int> group(sizes.size(), 0);
    if (parts <= 1) return group;
    std::vector<size_t> order(sizes.size());
    std::iota(order.begin(), order.end(), size_t{0});
    std::stable_sort(order.begin(), order.end(), [&](size_t a, size_t b) { return sizes[a] > sizes[b]; });
    // the lightest group first, the lowest index among equals
    using Group = std::pair<int64_t, int>;
    std::priority_queue<Group, std::vector<Group>, std::greater<Group>> lightest;
    for (int g = 0; g < parts; ++g) lightest.push({0, g});
    for (size_t i : order) {
        Group g = lightest.top();
        lightest.pop();
        group[i] = g.second;
        g.first += sizes[i];
        lightest.push(g);
    }
    return group;
}

namespace {
constexpr int OVERHEAD = static_cast<int>(Bound::OVERHEAD);

void sub_batches(const std::vector<SequenceWork>& batch, int parts, std::vector<std::vector<SequenceWork>>& out) {
    std::vector<int64_t> sizes;
    sizes.reserve(batch.size());
    for (const SequenceWork& s : batch) sizes.push_back(s.new_tokens);
    const std::vector<int> g = balance_groups(sizes, parts);
    out.assign(static_cast<size_t>(parts), {});
    for (size_t i = 0; i < batch.size(); ++i) out[static_cast<size_t>(g[i])].push_back(batch[i]);
}
}  // namespace

ParallelPredictor::ParallelPredictor(std::unique_ptr<StepTimePredictor> group, int64_t pp, int64_t dp,
                                     int64_t hidden, LinkModel stage_link, int64_t tp, LinkModel tp_link,
                                     int64_t graph_max_tokens, std::vector<StageShares> shares)
    : group_(std::move(group)),
      pp_(std::max<int64_t>(1, pp)),
      dp_(std::max<int64_t>(1, dp)),
      hidden_(static_cast<double>(hidden)),
      stage_link_(stage_link),
      tp_(std::max<int64_t>(1, tp)),
      tp_link_(tp_link),
      graph_max_tokens_(std::max<int64_t>(0, graph_max_tokens)),
      shares_(std::move(shares)) {
    if (static_cast<int64_t>(shares_.size()) != pp_) {
        shares_ = pipeline_stage_shares(std::vector<int64_t>(static_cast<size_t>(pp_), 1));
    }
}

double ParallelPredictor::hop_bytes(double tokens) const { return tokens * hidden_ * 2.0 * 2.0; }  // hidden state + residual, bf16

double ParallelPredictor::hop_s(double tokens) const {
    const double bytes = hop_bytes(tokens);
    const double ranks = static_cast<double>(tp_);
    double t = stage_link_.time_s(bytes / ranks);
    if (tp_ > 1 && tp_link_.present()) {
        t += (ranks - 1.0) / ranks * bytes / tp_link_.bytes_per_s + (ranks - 1.0) * tp_link_.latency_s;
    }
    return t;
}

StepTotals ParallelPredictor::slowest_rank(const std::vector<SequenceWork>& batch, std::vector<SequenceWork>& out) const {
    std::vector<std::vector<SequenceWork>> ranks;
    if (!batch.empty() && batch.front().rank >= 0) {  // pinned: each sequence on its own rank
        ranks.assign(static_cast<size_t>(dp_), {});
        for (const SequenceWork& s : batch) ranks[static_cast<size_t>(s.rank % dp_)].push_back(s);
    } else {
        sub_batches(batch, static_cast<int>(std::min<int64_t>(dp_, std::max<size_t>(1, batch.size()))), ranks);
    }
    size_t most_tokens = 0, most_context = 0;
    int64_t best_t = -1, best_c = -1, context_rank_t = 0;
    for (size_t r = 0; r < ranks.size(); ++r) {
        int64_t t = 0, c = 0;
        for (const SequenceWork& s : ranks[r]) t += s.new_tokens, c += s.context;
        if (t > best_t) best_t = t, most_tokens = r;
        if (c > best_c) best_c = c, most_context = r, context_rank_t = t;
    }
    size_t pick = most_tokens;
    StepTotals totals = group_->step_totals(ranks[most_tokens]);
    if (most_context != most_tokens) {
        if (best_t <= graph_max_tokens_ && context_rank_t < best_t) {  // DP padding (above)
            SequenceWork pad{best_t - context_rank_t, 0};
            pad.padding = true;
            ranks[most_context].push_back(pad);
        }
        const StepTotals other = group_->step_totals(ranks[most_context]);
        if (other.time_s > totals.time_s) pick = most_context, totals = other;
    }
    out = std::move(ranks[pick]);
    return totals;
}

StepTotals ParallelPredictor::pipelined(const std::vector<SequenceWork>& batch) const {
    std::vector<std::vector<SequenceWork>> mb;
    sub_batches(batch, static_cast<int>(std::min<int64_t>(pp_, std::max<size_t>(1, batch.size()))), mb);
    StepTotals out;
    std::vector<std::vector<double>> stage;  // [micro-batch][stage]
    std::vector<double> hop, ring_bw, hop_bw;
    double work = 0.0, overhead = 0.0;
    double bound[4] = {0, 0, 0, 0};
    const double p = static_cast<double>(pp_);
    for (const auto& b : mb) {
        const StepTotals t = group_->step_totals(b);
        const double ovh = t.time_by_bound_s[OVERHEAD];
        int64_t tokens = 0;
        for (const SequenceWork& s : b) tokens += s.new_tokens;
        // each stage its share of each set of layers' work (the embedding all on the first, the final norm,
        // lm_head and sampling on the last); what no set names, as every layer
        double sets = 0.0;
        for (const double x : t.layer_set_s) sets += x;
        const double rest = std::max(0.0, t.time_s - ovh - sets);
        std::vector<double> on(static_cast<size_t>(pp_));
        for (size_t s = 0; s < on.size(); ++s) {
            on[s] = rest * shares_[s][SET(LayerSet::EVERY)];
            for (size_t k = 0; k < shares_[s].size(); ++k) on[s] += t.layer_set_s[k] * shares_[s][k];
        }
        stage.push_back(std::move(on));
        hop.push_back(hop_s(static_cast<double>(tokens)));
        // the bandwidth terms of its fabric traffic, the whole micro-batch's (every stage's rings and
        // all-to-all), and its hop's
        ring_bw.push_back(t.fabric.time_s - t.fabric.latency_s);
        hop_bw.push_back(stage_link_.present() ? hop_bytes(static_cast<double>(tokens)) / static_cast<double>(tp_) / stage_link_.bytes_per_s : 0.0);
        work += t.time_s - ovh;
        overhead = std::max(overhead, ovh);
        // for the link report: each GPU runs its stage's share of the micro-batch's collectives, and sends its
        // slice of the activations on to the next stage
        out.fabric.ring_bytes += t.fabric.ring_bytes / static_cast<double>(pp_);
        out.fabric.a2a_bytes += t.fabric.a2a_bytes / static_cast<double>(pp_);
        out.fabric.stage_bytes += hop_bytes(static_cast<double>(tokens)) / static_cast<double>(tp_);
        for (int k = 0; k < 4; ++k) bound[k] += k == OVERHEAD ? 0.0 : t.time_by_bound_s[k];
        // per GPU, as every other step's work: a GPU runs its stage's 1/pp of the layers on each micro-batch
        out.flops += t.flops / p;
        out.bytes += t.bytes / p;
    }
    const PipelineRound r = pipeline_round(stage, hop);
    // the round as the fabric slows down (FabricTraffic::round_s): the busiest stage's line, the micro-batch
    // that sets the round, and the one whose fabric terms weigh most in it
    FabricTraffic& fab = out.fabric;
    fab.pipelined = true;
    const size_t busiest = r.busiest_stage;
    size_t sets = 0, grows = 0;
    auto trip = [&](size_t i) {
        return std::accumulate(stage[i].begin(), stage[i].end(), 0.0) + (p - 1.0) * hop[i];
    };
    auto weight = [&](size_t i) { return ring_bw[i] + (p - 1.0) * hop_bw[i]; };
    for (size_t j = 0; j < stage.size(); ++j) {
        fab.round[0].at_s += stage[j][busiest];
        fab.round[0].ring_s += ring_bw[j] * shares_[busiest][SET(LayerSet::EVERY)];
        fab.ring_bw_s += ring_bw[j] / p;
        fab.hop_bw_s += hop_bw[j];
        if (trip(j) > trip(sets)) sets = j;
        if (weight(j) > weight(grows)) grows = j;
    }
    size_t line = 1;
    for (const size_t j : {sets, grows}) fab.round[line++] = {trip(j), ring_bw[j], (p - 1.0) * hop_bw[j]};
    const double f = work > 0.0 ? r.steady_s / work : 0.0;
    for (int k = 0; k < 4; ++k) out.time_by_bound_s[k] = k == OVERHEAD ? overhead : bound[k] * f;
    out.time_s = r.steady_s + overhead;
    out.pipeline_s = r.steady_s;
    out.pipeline_fill_s = r.fill_s;
    out.stage_busy_s = r.stage_busy_s;
    return out;
}

StepTotals ParallelPredictor::step_totals(const std::vector<SequenceWork>& batch) const {
    if (dp_ > 1 && !batch.empty()) {
        std::vector<SequenceWork> rank;
        return slowest_rank(batch, rank);
    }
    if (pp_ > 1 && !batch.empty()) return pipelined(batch);
    return group_->step_totals(batch);
}

StepCost ParallelPredictor::step(const std::vector<SequenceWork>& batch) const {
    if (dp_ > 1 && !batch.empty()) {
        std::vector<SequenceWork> rank;
        slowest_rank(batch, rank);
        StepCost s = group_->step(rank);
        s.tokens = 0;
        for (const SequenceWork& w : batch) s.tokens += w.new_tokens;
        s.sequences = static_cast<int64_t>(batch.size());
        return s;
    }
    StepCost s = group_->step(batch);
    if (pp_ <= 1 || batch.empty()) return s;
    const StepTotals t = pipelined(batch);
    double work = 0.0;
    for (const OpCost& o : s.ops) work += o.kind == OpKind::STEP_OVERHEAD ? 0.0 : o.time_s;
    const double overhead = t.time_by_bound_s[OVERHEAD];
    const double f = work > 0.0 ? (t.time_s - overhead) / work : 0.0;
    s.time_s = 0.0;
    for (OpCost& o : s.ops) {
        o.time_s = o.kind == OpKind::STEP_OVERHEAD ? overhead : o.time_s * f;
        s.time_s += o.time_s;
    }
    return s;
}

}  // namespace headroom
