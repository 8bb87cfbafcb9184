// Cluster YAML -> ClusterSpec -> ClusterTopology (cluster.hpp). The one place that parses cluster YAML; the graph
// algorithms are Boost.Graph's (Dijkstra for routes, push-relabel max flow for group bandwidth, write_graphviz).
#include "headroom/hardware/cluster.hpp"

#include <boost/graph/adjacency_list.hpp>
#include <boost/graph/dijkstra_shortest_paths.hpp>
#include <boost/graph/filtered_graph.hpp>
#include <boost/graph/graphviz.hpp>
#include <boost/graph/push_relabel_max_flow.hpp>
#include <boost/property_map/function_property_map.hpp>
#include <fmt/format.h>

#include <algorithm>
#include <cctype>
#include <cmath>
#include <functional>
#include <filesystem>
#include <fstream>
#include <limits>
#include <map>
#include <set>
#include <sstream>

#include "headroom/hardware/profile_loader.hpp"
#include "headroom/hardware/yaml_fields.hpp"

namespace headroom {

// Generated from hardware/clusters/*.yaml by cmake/headroom_embed.cmake.
const std::vector<std::pair<std::string_view, std::string_view>>& embedded_clusters();

namespace {

constexpr int64_t MAX_GPUS = 4096;

class Reader : public YamlFields {
public:
    explicit Reader(std::string file) : file_(std::move(file)) {}
    [[noreturn]] void fail(const std::string& field, const std::string& reason) const override {
        throw HardwareError(file_, field, reason);
    }
    // {value: x, source: "..."} with x in [min, max] (min excluded when min_open); a source is required.
    Sourced sourced(const YAML::Node& n, const std::string& path, double min, double max, bool min_open = true) const {
        if (!n) fail(path, "missing");
        if (!n.IsMap()) fail(path, "expected {value: ..., source: \"...\"}");
        only(n, path, {"value", "source"});
        Sourced s{number(n["value"], path + ".value", min, max, min_open), ""};
        s.source = string(n["source"], path + ".source");
        if (s.source.empty()) fail(path + ".source", "must say where the number comes from");
        return s;
    }
    ClusterLink link(const YAML::Node& n, const std::string& path) const {
        if (!n) fail(path, "missing");
        only(n, path, {"bandwidth_gb_per_s", "latency_us"});
        // 1e5 GB/s per direction is far beyond any link; 1e6 us (1 s) beyond any latency
        return {sourced(n["bandwidth_gb_per_s"], path + ".bandwidth_gb_per_s", 0, 1e5),
                sourced(n["latency_us"], path + ".latency_us", 0, 1e6, false)};
    }

private:
    std::string file_;
};

bool plain_name(const std::string& s) {
    return !s.empty() && std::all_of(s.begin(), s.end(), [](unsigned char c) { return std::isalnum(c) || c == '-' || c == '_'; });
}

}  // namespace

std::vector<std::string> shipped_cluster_names() {
    std::vector<std::string> out;
    for (const auto& [stem, text] : embedded_clusters()) out.emplace_back(stem);
    std::sort(out.begin(), out.end());
    return out;
}

ClusterSpec parse_cluster(std::string_view text, std::string_view file_view) {
    const std::string file(file_view);
    const Reader r(file);
    YAML::Node root;
    try {
        root = YAML::Load(std::string(text));
    } catch (const YAML::Exception& e) {
        r.fail("", fmt::format("not valid YAML (line {}: {})", e.mark.line + 1, e.msg));
    }
    if (!root || !root.IsMap()) r.fail("", "expected a mapping with name, nodes and fabric");
    r.only(root, "", {"name", "display_name", "nodes", "fabric"});
    ClusterSpec c;
    c.file = file;
    c.name = r.string(root["name"], "name");
    if (!plain_name(c.name)) r.fail("name", "use letters, digits, - and _");
    c.display_name = root["display_name"] ? r.string(root["display_name"], "display_name") : c.name;
    const YAML::Node nodes = root["nodes"];
    if (!nodes) r.fail("nodes", "missing");
    if (!nodes.IsSequence() || nodes.size() == 0) r.fail("nodes", "expected a list of node groups");
    int64_t gpus = 0;
    std::set<std::string> names;
    for (size_t i = 0; i < nodes.size(); ++i) {
        const std::string p = fmt::format("nodes[{}]", i);
        const YAML::Node n = nodes[i];
        r.only(n, p, {"name", "count", "gpu", "gpus_per_node", "nvlink_domain_nodes", "nvlink", "pcie", "nics"});
        NodeGroup g;
        g.name = r.string(n["name"], p + ".name");
        if (!plain_name(g.name)) r.fail(p + ".name", "use letters, digits, - and _");
        if (!names.insert(g.name).second) r.fail(p + ".name", fmt::format("\"{}\" names another node group too", g.name));
        g.count = r.integer(n["count"], p + ".count", 1, MAX_GPUS);
        g.gpu = r.string(n["gpu"], p + ".gpu");
        try {
            g.gpu = load_gpu(g.gpu).name;
        } catch (const InputError& e) {
            r.fail(p + ".gpu", e.what());
        }
        g.gpus_per_node = r.integer(n["gpus_per_node"], p + ".gpus_per_node", 1, 72);
        if (n["nvlink_domain_nodes"]) {
            g.nvlink_domain_nodes = r.integer(n["nvlink_domain_nodes"], p + ".nvlink_domain_nodes", 1, MAX_GPUS);
            if (g.count % g.nvlink_domain_nodes != 0) {
                r.fail(p + ".nvlink_domain_nodes", fmt::format("{} does not divide the {} nodes", g.nvlink_domain_nodes, g.count));
            }
        }
        if (g.gpus_per_node * g.nvlink_domain_nodes > 1) g.nvlink = r.link(n["nvlink"], p + ".nvlink");
        else if (n["nvlink"]) g.nvlink = r.link(n["nvlink"], p + ".nvlink");
        if (const YAML::Node nics = n["nics"]) {
            r.only(nics, p + ".nics", {"count", "bandwidth_gb_per_s", "latency_us"});
            g.nics = r.sourced(nics["count"], p + ".nics.count", 0, 64, false);
            if (std::floor(g.nics.value) != g.nics.value) r.fail(p + ".nics.count.value", "expected a whole number");
            g.nic = {r.sourced(nics["bandwidth_gb_per_s"], p + ".nics.bandwidth_gb_per_s", 0, 1e5),
                     r.sourced(nics["latency_us"], p + ".nics.latency_us", 0, 1e6, false)};
            g.pcie = r.link(n["pcie"], p + ".pcie");
        } else if (n["pcie"]) {
            g.pcie = r.link(n["pcie"], p + ".pcie");
        }
        gpus += g.count * g.gpus_per_node;
        if (gpus > MAX_GPUS) r.fail(p + ".count", fmt::format("more than {} GPUs in all", MAX_GPUS));
        c.groups.push_back(std::move(g));
    }

    const YAML::Node f = root["fabric"];
    if (!f) r.fail("fabric", "missing (write fabric: {kind: none} for GPUs joined by NVLink alone)");
    r.only(f, "fabric", {"kind", "technology", "switch_ports", "switch_latency_us", "link_bandwidth_gb_per_s", "oversubscription"});
    const std::string kind = r.string(f["kind"], "fabric.kind");
    if (kind == "none") c.fabric.kind = FabricKind::NONE;
    else if (kind == "rail_optimized") c.fabric.kind = FabricKind::RAIL_OPTIMIZED;
    else if (kind == "fat_tree") c.fabric.kind = FabricKind::FAT_TREE;
    else r.fail("fabric.kind", fmt::format("unknown fabric \"{}\" (none, rail_optimized, fat_tree)", kind));
    int64_t domains = 0;
    for (const NodeGroup& g : c.groups) domains += g.count / g.nvlink_domain_nodes;
    if (c.fabric.kind == FabricKind::NONE) {
        if (domains > 1) r.fail("fabric.kind", fmt::format("none leaves the {} NVLink domains unconnected", domains));
        return c;
    }
    c.fabric.technology = f["technology"] ? r.string(f["technology"], "fabric.technology") : kind;
    c.fabric.switch_ports = r.sourced(f["switch_ports"], "fabric.switch_ports", 1, 4096);
    if (std::floor(c.fabric.switch_ports.value) != c.fabric.switch_ports.value) r.fail("fabric.switch_ports.value", "expected a whole number");
    c.fabric.switch_latency_us = r.sourced(f["switch_latency_us"], "fabric.switch_latency_us", 0, 1e6, false);
    c.fabric.link_bandwidth_gb_per_s = r.sourced(f["link_bandwidth_gb_per_s"], "fabric.link_bandwidth_gb_per_s", 0, 1e5);
    c.fabric.oversubscription = r.sourced(f["oversubscription"], "fabric.oversubscription", 1, 64, false);
    const double o = c.fabric.oversubscription.value;
    const auto down = static_cast<int64_t>(std::floor(c.fabric.switch_ports.value * o / (o + 1)));
    for (size_t i = 0; i < c.groups.size(); ++i) {
        const NodeGroup& g = c.groups[i];
        if (g.nics.value < 1) r.fail(fmt::format("nodes[{}].nics", i), fmt::format("a {} fabric needs NICs on every node", kind));
        if (c.fabric.kind == FabricKind::FAT_TREE && g.nics.value > static_cast<double>(down)) {
            r.fail("fabric.switch_ports", fmt::format("a leaf has {} downlinks, fewer than the {} NICs of a node", down, g.nics.value));
        }
    }
    if (down < 1) r.fail("fabric.switch_ports", "no port left for a downlink");
    return c;
}

ClusterSpec load_cluster(std::string_view spec) {
    for (const auto& [stem, text] : embedded_clusters()) {
        if (stem == spec) return parse_cluster(text, fmt::format("{}.yaml (shipped)", stem));
    }
    const std::string path(spec);
    std::ifstream in(path);
    if (!in) {
        std::string names;
        for (const auto& n : shipped_cluster_names()) names += (names.empty() ? "" : ", ") + n;
        throw HardwareError(path, "", fmt::format("no such file or shipped cluster (shipped: {})", names));
    }
    std::stringstream ss;
    ss << in.rdbuf();
    return parse_cluster(ss.str(), path);
}

std::string_view vertex_kind_name(VertexKind k) {
    switch (k) {
        case VertexKind::GPU: return "gpu";
        case VertexKind::NVSWITCH: return "nvswitch";
        case VertexKind::NIC: return "nic";
        case VertexKind::LEAF: return "leaf";
        case VertexKind::SPINE: return "spine";
    }
    return "?";
}

// The Boost graph of the topology: vertex i is vertices_[i], edge property the index into edges_.
struct ClusterTopology::Graph {
    using G = boost::adjacency_list<boost::vecS, boost::vecS, boost::undirectedS, boost::no_property,
                                    boost::property<boost::edge_index_t, size_t>>;
    G g;
};

ClusterTopology::ClusterTopology(ClusterSpec spec) : spec_(std::move(spec)), graph_(std::make_unique<Graph>()) {
    auto vertex = [&](std::string name, VertexKind kind, int64_t gpu, int64_t node, int64_t group) {
        vertices_.push_back({std::move(name), kind, gpu, node, group});
        return vertices_.size() - 1;
    };
    auto edge = [&](size_t a, size_t b, double gb_per_s, double latency_us, const char* kind) {
        edges_.push_back({std::min(a, b), std::max(a, b), gb_per_s * 1e9, latency_us * 1e-6, kind});
    };
    const FabricSpec& fab = spec_.fabric;
    const double o = fab.kind == FabricKind::NONE ? 1.0 : fab.oversubscription.value;
    const auto down = fab.kind == FabricKind::NONE ? int64_t{0} : static_cast<int64_t>(std::floor(fab.switch_ports.value * o / (o + 1)));
    // leaves: key (rail or -1 for fat tree, leaf number) -> vertex, and the NIC bandwidth attached to each
    std::map<std::pair<int64_t, int64_t>, size_t> leaves;
    std::map<size_t, double> leaf_down_gb_per_s;
    std::map<int64_t, int64_t> rail_nics;  // NICs seen on each rail so far (rail-optimised)
    int64_t fat_nics = 0;                  // NICs placed on fat-tree leaves so far
    int64_t node = 0, domain = 0;
    for (size_t gi = 0; gi < spec_.groups.size(); ++gi) {
        const NodeGroup& g = spec_.groups[gi];
        const auto group = static_cast<int64_t>(gi);
        size_t nvswitch = 0;
        for (int64_t j = 0; j < g.count; ++j, ++node) {
            if (j % g.nvlink_domain_nodes == 0 && g.gpus_per_node * g.nvlink_domain_nodes > 1) {
                const std::string dn = g.nvlink_domain_nodes == 1 ? fmt::format("{}{}", g.name, j)
                                                                 : fmt::format("{}{}-{}", g.name, j, j + g.nvlink_domain_nodes - 1);
                nvswitch = vertex(dn + ".nvswitch", VertexKind::NVSWITCH, -1, node, group);
            }
            if (j % g.nvlink_domain_nodes == 0 && j > 0) ++domain;
            std::vector<size_t> nics;
            const auto n_nics = static_cast<int64_t>(g.nics.value);
            for (int64_t r = 0; r < n_nics; ++r) {
                const size_t nic = vertex(fmt::format("{}{}.nic{}", g.name, j, r), VertexKind::NIC, -1, node, group);
                nics.push_back(nic);
                if (fab.kind == FabricKind::NONE) continue;
                // the leaf of this NIC: rail r's next leaf with a free downlink, or the node's leaf (fat tree)
                const int64_t rail = fab.kind == FabricKind::RAIL_OPTIMIZED ? r : -1;
                const int64_t seen = rail >= 0 ? rail_nics[rail]++ : fat_nics;
                const int64_t per_leaf = rail >= 0 ? down : (down / n_nics) * n_nics;  // a node's NICs share a leaf
                const std::pair<int64_t, int64_t> key{rail, seen / per_leaf};
                auto it = leaves.find(key);
                if (it == leaves.end()) {
                    const std::string ln = rail >= 0 ? fmt::format("leaf.rail{}.{}", rail, key.second) : fmt::format("leaf{}", key.second);
                    it = leaves.emplace(key, vertex(ln, VertexKind::LEAF, -1, -1, -1)).first;
                }
                edge(nic, it->second, g.nic.bandwidth_gb_per_s.value, g.nic.latency_us.value / 2, "nic");
                leaf_down_gb_per_s[it->second] += g.nic.bandwidth_gb_per_s.value;
            }
            if (fab.kind == FabricKind::FAT_TREE) fat_nics += n_nics;
            for (int64_t l = 0; l < g.gpus_per_node; ++l) {
                const size_t gpu = vertex(fmt::format("{}{}.gpu{}", g.name, j, l), VertexKind::GPU,
                                          static_cast<int64_t>(gpu_vertex_.size()), node, group);
                gpu_vertex_.push_back(gpu);
                gpu_domain_.push_back(domain);
                if (g.gpus_per_node * g.nvlink_domain_nodes > 1) {
                    edge(gpu, nvswitch, g.nvlink.bandwidth_gb_per_s.value, g.nvlink.latency_us.value / 2, "nvlink");
                }
                if (!nics.empty()) {
                    edge(gpu, nics[static_cast<size_t>(l * n_nics / g.gpus_per_node)], g.pcie.bandwidth_gb_per_s.value,
                         g.pcie.latency_us.value, "pcie");
                }
            }
        }
        ++domain;
    }
    nodes_ = node;
    if (leaves.size() > 1) {
        const size_t spine = vertex("spine", VertexKind::SPINE, -1, -1, -1);
        for (const auto& [leaf, gb] : leaf_down_gb_per_s) edge(leaf, spine, gb / o, fab.switch_latency_us.value, "uplink");
    }
    graph_->g = Graph::G(vertices_.size());
    for (size_t i = 0; i < edges_.size(); ++i) boost::add_edge(edges_[i].a, edges_[i].b, i, graph_->g);
}

ClusterTopology::~ClusterTopology() = default;
ClusterTopology::ClusterTopology(ClusterTopology&&) noexcept = default;
ClusterTopology& ClusterTopology::operator=(ClusterTopology&&) noexcept = default;

size_t ClusterTopology::gpu_vertex(int64_t gpu) const {
    if (gpu < 0 || gpu >= gpu_count()) {
        throw HardwareError(spec_.file, "gpu", fmt::format("GPU {} is not in the cluster (0 .. {})", gpu, gpu_count() - 1));
    }
    return gpu_vertex_[static_cast<size_t>(gpu)];
}

const std::string& ClusterTopology::gpu_profile(int64_t gpu) const {
    return spec_.groups[static_cast<size_t>(vertices_[gpu_vertex(gpu)].group)].gpu;
}

bool ClusterTopology::same_nvlink_domain(int64_t a, int64_t b) const {
    (void)gpu_vertex(a);
    (void)gpu_vertex(b);
    return gpu_domain_[static_cast<size_t>(a)] == gpu_domain_[static_cast<size_t>(b)] &&
           spec_.groups[static_cast<size_t>(vertices_[gpu_vertex(a)].group)].gpus_per_node *
                   spec_.groups[static_cast<size_t>(vertices_[gpu_vertex(a)].group)].nvlink_domain_nodes > 1;
}

ClusterRoute ClusterTopology::route(int64_t a, int64_t b) const {
    const size_t src = gpu_vertex(a), dst = gpu_vertex(b);
    ClusterRoute out;
    out.vertices = {src};
    if (a == b) {
        out.bottleneck_bytes_per_s = std::numeric_limits<double>::infinity();
        return out;
    }
    using G = Graph::G;
    const G& g = graph_->g;
    // other GPUs are not transit vertices
    auto usable = [&](G::vertex_descriptor v) { return vertices_[v].kind != VertexKind::GPU || v == src || v == dst; };
    const boost::filtered_graph<G, boost::keep_all, std::function<bool(G::vertex_descriptor)>> fg(g, boost::keep_all(), usable);
    // weight: latency, plus a femtosecond per link so that equal latencies prefer fewer links
    const auto index = boost::get(boost::edge_index, g);
    auto weight = boost::make_function_property_map<G::edge_descriptor, double>(
        [&](G::edge_descriptor e) { return edges_[index[e]].latency_s + 1e-15; });
    std::vector<G::vertex_descriptor> pred(vertices_.size());
    std::vector<double> dist(vertices_.size());
    boost::dijkstra_shortest_paths(fg, src, boost::weight_map(weight).predecessor_map(pred.data()).distance_map(dist.data()));
    if (pred[dst] == dst) {
        throw HardwareError(spec_.file, "fabric", fmt::format("no route from {} to {}", vertices_[src].name, vertices_[dst].name));
    }
    std::vector<size_t> back = {dst};
    for (size_t v = dst; v != src; v = pred[v]) back.push_back(pred[v]);
    out.vertices.assign(back.rbegin(), back.rend());
    out.bottleneck_bytes_per_s = std::numeric_limits<double>::infinity();
    for (size_t i = 0; i + 1 < out.vertices.size(); ++i) {
        const auto [e, found] = boost::edge(out.vertices[i], out.vertices[i + 1], g);
        const size_t k = index[e];
        out.edges.push_back(k);
        out.latency_s += edges_[k].latency_s;
        out.bottleneck_bytes_per_s = std::min(out.bottleneck_bytes_per_s, edges_[k].bytes_per_s);
    }
    return out;
}

double ClusterTopology::bandwidth_between(const std::vector<int64_t>& from, const std::vector<int64_t>& to) const {
    using Traits = boost::adjacency_list_traits<boost::vecS, boost::vecS, boost::directedS>;
    using F = boost::adjacency_list<boost::vecS, boost::vecS, boost::directedS, boost::no_property,
                                    boost::property<boost::edge_capacity_t, double,
                                                    boost::property<boost::edge_residual_capacity_t, double,
                                                                    boost::property<boost::edge_reverse_t, Traits::edge_descriptor>>>>;
    const size_t n = vertices_.size();
    F f(n + 2);
    const size_t source = n, sink = n + 1;
    auto cap = boost::get(boost::edge_capacity, f);
    auto rev = boost::get(boost::edge_reverse, f);
    auto arc = [&](size_t u, size_t v, double c) {  // u -> v of capacity c, with its zero-capacity reverse
        const auto e = boost::add_edge(u, v, f).first, r = boost::add_edge(v, u, f).first;
        cap[e] = c;
        cap[r] = 0.0;
        rev[e] = r;
        rev[r] = e;
    };
    std::vector<char> role(n, 0);  // 1: in `from`, 2: in `to`
    for (int64_t x : from) role[gpu_vertex(x)] = 1;
    for (int64_t x : to) {
        if (role[gpu_vertex(x)] == 1) throw HardwareError(spec_.file, "gpu", fmt::format("GPU {} is in both groups", x));
        role[gpu_vertex(x)] = 2;
    }
    // capacities in GB/s keep the numbers near 1-1,000; a source or sink arc is wider than every link together
    double total = 0.0;
    for (const TopoEdge& e : edges_) {
        const bool a_out = vertices_[e.a].kind == VertexKind::GPU && role[e.a] == 0;
        const bool b_out = vertices_[e.b].kind == VertexKind::GPU && role[e.b] == 0;
        if (a_out || b_out) continue;
        arc(e.a, e.b, e.bytes_per_s / 1e9);
        arc(e.b, e.a, e.bytes_per_s / 1e9);
        total += 2 * e.bytes_per_s / 1e9;
    }
    for (size_t v = 0; v < n; ++v) {
        if (role[v] == 1) arc(source, v, total + 1);
        if (role[v] == 2) arc(v, sink, total + 1);
    }
    return boost::push_relabel_max_flow(f, source, sink) * 1e9;
}

double ClusterTopology::bisection_bytes_per_s() const {
    std::vector<int64_t> a, b;
    const int64_t half_nodes = nodes_ / 2;
    for (int64_t i = 0; i < gpu_count(); ++i) {
        const bool first = nodes_ > 1 ? node_of(i) < half_nodes : i < gpu_count() / 2;
        (first ? a : b).push_back(i);
    }
    if (a.empty() || b.empty()) return 0.0;
    return bandwidth_between(a, b);
}

std::string ClusterTopology::dot() const {
    std::ostringstream os;
    const Graph::G& g = graph_->g;
    const auto index = boost::get(boost::edge_index, g);
    auto vertex_writer = [&](std::ostream& out, Graph::G::vertex_descriptor v) {
        static const char* shapes[] = {"box", "hexagon", "ellipse", "diamond", "doubleoctagon"};
        const TopoVertex& t = vertices_[v];
        out << fmt::format("[label=\"{}\", kind=\"{}\", shape={}]", t.name, vertex_kind_name(t.kind),
                           shapes[static_cast<int>(t.kind)]);
    };
    auto edge_writer = [&](std::ostream& out, Graph::G::edge_descriptor e) {
        const TopoEdge& t = edges_[index[e]];
        out << fmt::format("[label=\"{} {:g} GB/s {:g} us\", kind=\"{}\"]", t.kind, t.bytes_per_s / 1e9, t.latency_s * 1e6, t.kind);
    };
    auto graph_writer = [&](std::ostream& out) {
        out << fmt::format("label=\"{}\";\n", spec_.display_name);
    };
    boost::write_graphviz(os, g, vertex_writer, edge_writer, graph_writer);
    return os.str();
}

}  // namespace headroom
