// The cluster's SimGrid platform and transfers over it (platform.hpp). With engine.cpp, the only SimGrid code.
#include "headroom/sim/platform.hpp"

#include <fmt/format.h>
#include <simgrid/s4u.hpp>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <map>
#include <set>
#include <stdexcept>

#include "headroom/sim/engine.hpp"
#include "simgrid_contexts.hpp"

namespace sg4 = simgrid::s4u;

namespace headroom {

namespace {

using GpuPair = std::pair<int64_t, int64_t>;

// Whether hop i of a route runs UP its graph edge (from the edge's lower vertex to its higher one): each direction
// of a split-duplex link is its own bandwidth.
bool runs_up(const ClusterTopology& t, const ClusterRoute& r, size_t i) { return r.vertices[i] == t.edges()[r.edges[i]].a; }

// The platform's hosts, one per GPU of the cluster (index = GPU), with routes between the pairs given; `edges`,
// when given, receives each pair's route as graph edges.
std::vector<sg4::Host*> build_platform(const ClusterTopology& t, const std::set<GpuPair>& pairs,
                                       std::map<GpuPair, std::vector<size_t>>* edges = nullptr) {
    auto* zone = sg4::create_full_zone(t.spec().name);
    std::vector<sg4::Host*> hosts;
    for (int64_t g = 0; g < t.gpu_count(); ++g) hosts.push_back(zone->create_host(t.vertices()[t.gpu_vertex(g)].name, 1e12));
    std::map<size_t, const sg4::Link*> links;  // graph edge -> its link, made when a route first uses it
    for (const auto& [a, b] : pairs) {
        if (a == b) continue;
        const ClusterRoute r = t.route(a, b);
        std::vector<sg4::LinkInRoute> path;
        for (size_t i = 0; i < r.edges.size(); ++i) {
            const size_t k = r.edges[i];
            auto it = links.find(k);
            if (it == links.end()) {
                const TopoEdge& e = t.edges()[k];
                const std::string name = fmt::format("{}--{}", t.vertices()[e.a].name, t.vertices()[e.b].name);
                it = links.emplace(k, zone->create_split_duplex_link(name, e.bytes_per_s)->set_latency(e.latency_s)->seal()).first;
            }
            path.emplace_back(it->second, runs_up(t, r, i) ? sg4::LinkInRoute::Direction::UP : sg4::LinkInRoute::Direction::DOWN);
        }
        zone->add_route(hosts[static_cast<size_t>(a)]->get_netpoint(), hosts[static_cast<size_t>(b)]->get_netpoint(), nullptr,
                        nullptr, path, false);
        if (edges) (*edges)[{a, b}] = r.edges;
    }
    zone->seal();
    return hosts;
}

// One replica's collective flows across NVLink domains: the ring pairs, the all-to-all pairs (a2a_peers per GPU)
// and the stage-hop pairs, and the longest latency of their routes (rings and all-to-all; stage hops).
struct CollectiveFlows {
    std::vector<GpuPair> ring, a2a, stage;
    size_t a2a_peers = 0;
    double latency_s = 0.0, stage_latency_s = 0.0;
    bool carried = false;  // on the network: some link of its routes may carry another flow at the same time
    // per graph edge its pairs cross: how many ring pairs, all-to-all pairs (each 1 / a2a_peers) and stage pairs,
    // for the link report: a step's bytes on edge e = ring x ring_bytes + a2a x a2a_bytes + stage x stage_bytes
    struct EdgeUse {
        size_t edge;
        double ring, a2a, stage;
    };
    std::vector<EdgeUse> edges;
};

CollectiveFlows collective_flows(const ClusterTopology& t, const std::vector<int64_t>& gpus, const ReplicaLayout& l) {
    CollectiveFlows f;
    const int64_t tp = l.tp, dp = l.dp;
    auto gpu = [&](int64_t stage, int64_t rank, int64_t k) { return gpus[static_cast<size_t>((stage * dp + rank) * tp + k)]; };
    if (l.ring_step > 0 && tp > 1) {
        for (int64_t s = 0; s < l.pp; ++s) {
            for (int64_t r = 0; r < dp; ++r) {
                for (int64_t k = 0; k < tp; ++k) f.ring.push_back({gpu(s, r, k), gpu(s, r, (k + l.ring_step) % tp)});
            }
        }
    }
    if (l.a2a) {
        std::vector<std::vector<int64_t>> domains;  // the replica's GPUs by NVLink domain, in order
        for (const int64_t a : gpus) {
            auto it = std::find_if(domains.begin(), domains.end(), [&](const auto& d) { return t.same_nvlink_domain(d.front(), a); });
            if (it == domains.end()) {
                domains.push_back({a});
            } else {
                it->push_back(a);
            }
        }
        f.a2a_peers = domains.size() > 1 ? domains.size() - 1 : 0;
        for (size_t d = 0; d < domains.size() && f.a2a_peers > 0; ++d) {
            for (size_t i = 0; i < domains[d].size(); ++i) {
                for (size_t e = 0; e < domains.size(); ++e) {
                    if (e != d) f.a2a.push_back({domains[d][i], domains[e][i % domains[e].size()]});
                }
            }
        }
    }
    if (l.stage_hops) {
        for (int64_t s = 0; s + 1 < l.pp; ++s) {
            for (int64_t r = 0; r < dp; ++r) {
                for (int64_t k = 0; k < tp; ++k) f.stage.push_back({gpu(s, r, k), gpu(s + 1, r, k)});
            }
        }
    }
    std::map<size_t, CollectiveFlows::EdgeUse> use;
    auto count = [&](const std::vector<GpuPair>& pairs, double CollectiveFlows::EdgeUse::*field, double unit) {
        for (const GpuPair& p : pairs) {
            const ClusterRoute r = t.route(p.first, p.second);
            double& latency = field == &CollectiveFlows::EdgeUse::stage ? f.stage_latency_s : f.latency_s;
            latency = std::max(latency, r.latency_s);
            for (const size_t e : r.edges) {
                auto it = use.try_emplace(e, CollectiveFlows::EdgeUse{e, 0.0, 0.0, 0.0}).first;
                it->second.*field += unit;
            }
        }
    };
    count(f.ring, &CollectiveFlows::EdgeUse::ring, 1.0);
    count(f.a2a, &CollectiveFlows::EdgeUse::a2a, f.a2a_peers > 0 ? 1.0 / static_cast<double>(f.a2a_peers) : 0.0);
    count(f.stage, &CollectiveFlows::EdgeUse::stage, 1.0);
    for (const auto& [e, u] : use) f.edges.push_back(u);
    return f;
}

// KV transfers of a disaggregated deployment, and collectives across NVLink domains, as SimGrid communications
// (platform.hpp).
class ClusterTransport : public ClusterKvTransport {
public:
    ClusterTransport(const ClusterTopology& t, std::vector<sg4::Host*> hosts, std::map<GpuPair, std::vector<size_t>> routes,
                     std::vector<std::vector<int64_t>> replica_gpus, std::vector<CollectiveFlows> collectives)
        : hosts_(std::move(hosts)), routes_(std::move(routes)), gpus_(std::move(replica_gpus)), load_(t.edges().size(), 0.0), kv_load_(t.edges().size(), 0.0),
          collectives_(std::move(collectives)) {}

    bool carries_collectives(int32_t replica) const override {
        return static_cast<size_t>(replica) < collectives_.size() && collectives_[static_cast<size_t>(replica)].carried;
    }
    bool carries_any_collectives() const override {
        return std::any_of(collectives_.begin(), collectives_.end(), [](const CollectiveFlows& c) { return c.carried; });
    }
    double collective_latency_s(int32_t replica, bool stage) const override {
        if (static_cast<size_t>(replica) >= collectives_.size()) return 0.0;
        const CollectiveFlows& c = collectives_[static_cast<size_t>(replica)];
        return stage ? c.stage_latency_s : c.latency_s;
    }
    void count_collectives(int32_t replica, const FabricTraffic& traffic) override {
        if (static_cast<size_t>(replica) >= collectives_.size()) return;
        for (const CollectiveFlows::EdgeUse& u : collectives_[static_cast<size_t>(replica)].edges) {
            load_[u.edge] += u.ring * traffic.ring_bytes + u.a2a * traffic.a2a_bytes + u.stage * traffic.stage_bytes;
        }
    }
    int start_collectives(int64_t tag, int64_t stage_tag, int32_t replica, const FabricTraffic& traffic, double) override {
        count_collectives(replica, traffic);
        const CollectiveFlows& c = collectives_.at(static_cast<size_t>(replica));
        auto send = [&](int64_t t, const GpuPair& p, double bytes) {
            const auto b = static_cast<uint64_t>(std::llround(bytes));
            if (b == 0 || p.first == p.second) return;
            comms_.push_back(sg4::Comm::sendto_async(hosts_[static_cast<size_t>(p.first)], hosts_[static_cast<size_t>(p.second)], b));
            tags_.push_back(t);
            ++left_[t];
        };
        for (const GpuPair& p : c.ring) send(tag, p, traffic.ring_bytes);
        for (const GpuPair& p : c.a2a) send(tag, p, traffic.a2a_bytes / static_cast<double>(c.a2a_peers));
        for (const GpuPair& p : c.stage) send(stage_tag, p, traffic.stage_bytes);
        return (left_.count(tag) != 0 ? 1 : 0) | (left_.count(stage_tag) != 0 ? 2 : 0);
    }

    std::vector<LinkLoad> link_loads() const override {
        std::vector<LinkLoad> out;
        for (size_t e = 0; e < load_.size(); ++e) {
            if (load_[e] > 0) out.push_back({e, load_[e], kv_load_[e]});
        }
        std::stable_sort(out.begin(), out.end(), [](const LinkLoad& a, const LinkLoad& b) { return a.bytes > b.bytes; });
        return out;
    }

    void start(int64_t tag, int32_t from, int32_t to, double bytes, double) override {
        const auto& a = gpus_.at(static_cast<size_t>(from));
        const auto& b = gpus_.at(static_cast<size_t>(to));
        const size_t flows = std::max(a.size(), b.size());
        const auto share = static_cast<uint64_t>(std::llround(bytes / static_cast<double>(flows)));
        left_[tag] = flows;
        for (size_t k = 0; k < flows; ++k) {
            const int64_t from_gpu = a[k % a.size()], to_gpu = b[k % b.size()];
            comms_.push_back(sg4::Comm::sendto_async(hosts_[static_cast<size_t>(from_gpu)], hosts_[static_cast<size_t>(to_gpu)], share));
            tags_.push_back(tag);
            for (size_t e : routes_.at({from_gpu, to_gpu})) {
                load_[e] += static_cast<double>(share);
                kv_load_[e] += static_cast<double>(share);
            }
        }
    }
    bool busy() const override { return !comms_.empty(); }
    double wait_until(double t_s, std::vector<int64_t>& ended) override {
        const double now = sg4::Engine::get_clock();
        if (comms_.empty()) {
            sg4::this_actor::sleep_until(t_s);
            return sg4::Engine::get_clock();
        }
        const double timeout = std::isfinite(t_s) ? std::max(0.0, t_s - now) : -1.0;
        const ssize_t first = sg4::Comm::wait_any_for(comms_, timeout);
        if (first >= 0) done(static_cast<size_t>(first), ended);
        for (size_t i = 0; i < comms_.size();) {  // others that ended at the same time
            if (comms_[i]->test()) {
                done(i, ended);
            } else {
                ++i;
            }
        }
        return sg4::Engine::get_clock();
    }

private:
    void done(size_t i, std::vector<int64_t>& ended) {
        const int64_t tag = tags_[i];
        comms_.erase(comms_.begin() + static_cast<std::ptrdiff_t>(i));
        tags_.erase(tags_.begin() + static_cast<std::ptrdiff_t>(i));
        if (--left_[tag] == 0) {
            left_.erase(tag);
            ended.push_back(tag);
        }
    }
    std::vector<sg4::Host*> hosts_;
    std::map<GpuPair, std::vector<size_t>> routes_;  // every pair a transfer may use: the platform's routes
    std::vector<std::vector<int64_t>> gpus_;
    std::vector<double> load_;     // bytes per graph edge
    std::vector<double> kv_load_;  // of those, KV transfers'
    std::vector<sg4::CommPtr> comms_;
    std::vector<int64_t> tags_;
    std::map<int64_t, size_t> left_;
    std::vector<CollectiveFlows> collectives_;  // per replica (none: no collectives on the fabric)
};

}  // namespace

std::unique_ptr<ClusterKvTransport> make_cluster_transport(const ClusterTopology& t, const std::vector<std::vector<int64_t>>& replica_gpus,
                                                           const std::vector<ReplicaLayout>& layouts, int64_t prefill_replicas,
                                                           bool all) {
    std::set<GpuPair> pairs;
    std::vector<CollectiveFlows> collectives;
    if (!layouts.empty()) {
        if (layouts.size() != replica_gpus.size()) throw std::invalid_argument("make_cluster_transport: one layout per replica");
        for (size_t r = 0; r < layouts.size(); ++r) collectives.push_back(collective_flows(t, replica_gpus[r], layouts[r]));
        // A replica's collectives need the network only where a link of theirs may carry more than the closed form
        // assumes: it prices each GPU's ring bytes, each GPU's all-to-all bytes to the other domains and each GPU's
        // stage hops at its route's slowest link. So each ring flow, each stage-hop flow, each KV flow (prefill
        // replica to decode replica) and each GPU's all-to-all flows together count one unit on every link they
        // cross (an all-to-all flow 1 / peers); a link with more than one unit is shared. Elsewhere flows take what
        // the closed form says (Collectives tests), and the loop runs without them.
        std::map<std::pair<size_t, bool>, double> use;  // directed link (edge, from its lower vertex) -> units over it
        auto links = [&](const GpuPair& p) {
            std::vector<std::pair<size_t, bool>> out;
            const ClusterRoute r = t.route(p.first, p.second);
            for (size_t i = 0; i < r.edges.size(); ++i) out.push_back({r.edges[i], runs_up(t, r, i)});
            return out;
        };
        for (const CollectiveFlows& c : collectives) {
            for (const auto* v : {&c.ring, &c.stage}) {
                for (const GpuPair& p : *v) {
                    for (const auto& l : links(p)) use[l] += 1.0;
                }
            }
            for (const GpuPair& p : c.a2a) {
                for (const auto& l : links(p)) use[l] += 1.0 / static_cast<double>(c.a2a_peers);
            }
        }
        for (int64_t a = 0; a < prefill_replicas; ++a) {
            for (size_t b = static_cast<size_t>(prefill_replicas); b < replica_gpus.size(); ++b) {
                const auto& x = replica_gpus[static_cast<size_t>(a)];
                const auto& y = replica_gpus[b];
                for (size_t k = 0; k < std::max(x.size(), y.size()); ++k) {
                    for (const auto& l : links({x[k % x.size()], y[k % y.size()]})) use[l] += 1.0;
                }
            }
        }
        for (size_t r = 0; r < collectives.size(); ++r) {
            CollectiveFlows& c = collectives[r];
            for (const auto* v : {&c.ring, &c.a2a, &c.stage}) {
                for (const GpuPair& p : *v) {
                    for (const auto& l : links(p)) c.carried = c.carried || all || use[l] > 1.0 + 1e-9;
                }
            }
            if (c.carried) {
                for (const auto* v : {&c.ring, &c.a2a, &c.stage}) pairs.insert(v->begin(), v->end());
            }
        }
    }
    for (size_t a = 0; a < replica_gpus.size(); ++a) {
        for (size_t b = 0; b < replica_gpus.size(); ++b) {
            if (a == b) continue;
            const auto& x = replica_gpus[a];
            const auto& y = replica_gpus[b];
            for (size_t k = 0; k < std::max(x.size(), y.size()); ++k) pairs.insert({x[k % x.size()], y[k % y.size()]});
        }
    }
    std::map<GpuPair, std::vector<size_t>> routes;
    std::vector<sg4::Host*> hosts = build_platform(t, pairs, &routes);
    return std::make_unique<ClusterTransport>(t, std::move(hosts), std::move(routes), replica_gpus, std::move(collectives));
}

std::vector<TransferResult> simulate_transfers(const ClusterTopology& t, const std::vector<Transfer>& transfers) {
    std::set<GpuPair> pairs;
    for (size_t i = 0; i < transfers.size(); ++i) {
        const Transfer& x = transfers[i];
        (void)t.gpu_vertex(x.from_gpu);
        (void)t.gpu_vertex(x.to_gpu);
        if (!(x.bytes >= 0) || !std::isfinite(x.bytes)) throw HardwareError("", fmt::format("transfers[{}].bytes", i), "must be >= 0");
        if (!(x.start_s >= 0) || !std::isfinite(x.start_s)) throw HardwareError("", fmt::format("transfers[{}].start_s", i), "must be >= 0");
        pairs.insert({x.from_gpu, x.to_gpu});
    }
    const std::string bytes = run_in_child(
        [&] {
            int argc = 6;
            char a0[] = "headroom-net", a1[] = "--log=root.thresh:critical", a2[] = "--cfg=network/model:CM02",
                 a3[] = "--cfg=network/crosstraffic:0", a4[] = "--cfg=network/TCP-gamma:0", a5[] = HEADROOM_CONTEXTS;
            char* argv[] = {a0, a1, a2, a3, a4, a5, nullptr};
            sg4::Engine engine(&argc, argv);
            const std::vector<sg4::Host*> hosts = build_platform(t, pairs);
            std::vector<TransferResult> out(transfers.size());
            for (size_t i = 0; i < transfers.size(); ++i) {
                sg4::Actor::create(fmt::format("transfer{}", i), hosts[static_cast<size_t>(transfers[i].from_gpu)], [&, i] {
                    const Transfer& x = transfers[i];
                    sg4::this_actor::sleep_until(x.start_s);
                    out[i].start_s = sg4::Engine::get_clock();
                    if (x.from_gpu != x.to_gpu && x.bytes > 0) {
                        sg4::Comm::sendto(hosts[static_cast<size_t>(x.from_gpu)], hosts[static_cast<size_t>(x.to_gpu)],
                                          static_cast<uint64_t>(std::llround(x.bytes)));
                    }
                    out[i].end_s = sg4::Engine::get_clock();
                });
            }
            engine.run();
            std::string raw(out.size() * sizeof(TransferResult), '\0');
            if (!out.empty()) std::memcpy(raw.data(), out.data(), raw.size());
            return raw;
        },
        t.spec().name + " transfers");
    std::vector<TransferResult> out(transfers.size());
    if (bytes.size() != out.size() * sizeof(TransferResult)) throw std::runtime_error("transfers: a short answer from the child");
    if (!out.empty()) std::memcpy(out.data(), bytes.data(), bytes.size());
    return out;
}

}  // namespace headroom
