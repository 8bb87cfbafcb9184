// The cluster's SimGrid platform and transfers over it (platform.hpp). With engine.cpp, the only SimGrid code.
#include "headroom/sim/platform.hpp"

#include <fmt/format.h>
#include <simgrid/s4u.hpp>

#include <cmath>
#include <cstring>
#include <map>
#include <set>

#include "headroom/sim/engine.hpp"
#include "simgrid_contexts.hpp"

namespace sg4 = simgrid::s4u;

namespace headroom {

namespace {

// The platform's hosts, one per GPU of the cluster (index = GPU), with routes between the pairs given.
std::vector<sg4::Host*> build_platform(const ClusterTopology& t, const std::set<std::pair<int64_t, int64_t>>& pairs) {
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
    }
    zone->seal();
    return hosts;
}

}  // namespace

std::vector<TransferResult> simulate_transfers(const ClusterTopology& t, const std::vector<Transfer>& transfers) {
    std::set<std::pair<int64_t, int64_t>> pairs;
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
