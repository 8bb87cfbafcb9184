// The cluster's SimGrid platform and transfers over it (platform.hpp). With engine.cpp, the only SimGrid code.
#include "headroom/sim/platform.hpp"

#include <fmt/format.h>
#include <simgrid/s4u.hpp>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <map>
#include <set>

#include "headroom/sim/engine.hpp"
#include "simgrid_contexts.hpp"

namespace sg4 = simgrid::s4u;

namespace headroom {

namespace {

using GpuPair = std::pair<int64_t, int64_t>;

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
            // UP from the edge's lower vertex to its higher one, DOWN the other way: each direction its own bandwidth
            const bool up = r.vertices[i] == t.edges()[k].a;
            path.emplace_back(it->second, up ? sg4::LinkInRoute::Direction::UP : sg4::LinkInRoute::Direction::DOWN);
        }
        zone->add_route(hosts[static_cast<size_t>(a)]->get_netpoint(), hosts[static_cast<size_t>(b)]->get_netpoint(), nullptr,
                        nullptr, path, false);
        if (edges) (*edges)[{a, b}] = r.edges;
    }
    zone->seal();
    return hosts;
}

// KV transfers of a disaggregated deployment as SimGrid communications (platform.hpp).
class ClusterTransport : public ClusterKvTransport {
public:
    ClusterTransport(const ClusterTopology& t, std::vector<sg4::Host*> hosts, std::map<GpuPair, std::vector<size_t>> routes,
                     std::vector<std::vector<int64_t>> replica_gpus)
        : hosts_(std::move(hosts)), routes_(std::move(routes)), gpus_(std::move(replica_gpus)), load_(t.edges().size(), 0.0) {}

    std::vector<LinkLoad> link_loads() const override {
        std::vector<LinkLoad> out;
        for (size_t e = 0; e < load_.size(); ++e) {
            if (load_[e] > 0) out.push_back({e, load_[e]});
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
            for (size_t e : routes_.at({from_gpu, to_gpu})) load_[e] += static_cast<double>(share);
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
    std::vector<double> load_;  // bytes per graph edge
    std::vector<sg4::CommPtr> comms_;
    std::vector<int64_t> tags_;
    std::map<int64_t, size_t> left_;
};

}  // namespace

std::unique_ptr<ClusterKvTransport> make_cluster_transport(const ClusterTopology& t, const std::vector<std::vector<int64_t>>& replica_gpus) {
    std::set<GpuPair> pairs;
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
    return std::make_unique<ClusterTransport>(t, std::move(hosts), std::move(routes), replica_gpus);
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
