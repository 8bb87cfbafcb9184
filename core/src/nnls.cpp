#include "headroom/core/nnls.hpp"

#include <algorithm>
#include <cmath>
#include <vector>

namespace headroom {

namespace {

// The least-squares solution over the columns in `free` (the others 0).
Eigen::VectorXd solve_free(const Eigen::MatrixXd& a, const Eigen::VectorXd& b,
                           const std::vector<bool>& free) {
    std::vector<Eigen::Index> cols;
    for (Eigen::Index j = 0; j < a.cols(); ++j) {
        if (free[static_cast<size_t>(j)]) cols.push_back(j);
    }
    Eigen::VectorXd z = Eigen::VectorXd::Zero(a.cols());
    if (cols.empty()) return z;
    Eigen::MatrixXd sub(a.rows(), static_cast<Eigen::Index>(cols.size()));
    for (size_t i = 0; i < cols.size(); ++i) sub.col(static_cast<Eigen::Index>(i)) = a.col(cols[i]);
    const Eigen::VectorXd s = sub.colPivHouseholderQr().solve(b);
    for (size_t i = 0; i < cols.size(); ++i) z[cols[i]] = s[static_cast<Eigen::Index>(i)];
    return z;
}

}  // namespace

Eigen::VectorXd nonnegative_least_squares(const Eigen::MatrixXd& a_in, const Eigen::VectorXd& b) {
    const Eigen::Index n = a_in.cols();
    Eigen::VectorXd scale = a_in.colwise().norm().transpose();
    for (Eigen::Index j = 0; j < n; ++j) {
        if (!(scale[j] > 0.0)) scale[j] = 0.0;
    }
    Eigen::MatrixXd a = a_in;
    for (Eigen::Index j = 0; j < n; ++j)
        a.col(j) = scale[j] > 0.0 ? Eigen::VectorXd(a.col(j) / scale[j]) : Eigen::VectorXd::Zero(a.rows());
    std::vector<bool> free(static_cast<size_t>(n), false);
    Eigen::VectorXd x = Eigen::VectorXd::Zero(n);
    const double tol = 1e-12 * std::max(1.0, b.norm());
    for (Eigen::Index outer = 0; outer < 3 * n + 3; ++outer) {
        const Eigen::VectorXd w = a.transpose() * (b - a * x);
        Eigen::Index enter = -1;
        for (Eigen::Index j = 0; j < n; ++j) {
            if (!free[static_cast<size_t>(j)] && scale[j] > 0.0 && w[j] > tol &&
                (enter < 0 || w[j] > w[enter]))
                enter = j;
        }
        if (enter < 0) break;
        free[static_cast<size_t>(enter)] = true;
        for (Eigen::Index inner = 0; inner <= n; ++inner) {
            const Eigen::VectorXd z = solve_free(a, b, free);
            // every free term positive: take the solve; else step towards it until the first term reaches 0
            double alpha = 1.0;
            bool blocked = false;
            for (Eigen::Index j = 0; j < n; ++j) {
                if (free[static_cast<size_t>(j)] && z[j] <= 0.0) {
                    const double d = x[j] - z[j];
                    const double step = d > 0.0 ? x[j] / d : 0.0;
                    if (!blocked || step < alpha) alpha = step;
                    blocked = true;
                }
            }
            if (!blocked) {
                x = z;
                break;
            }
            x += alpha * (z - x);
            for (Eigen::Index j = 0; j < n; ++j) {
                if (free[static_cast<size_t>(j)] && x[j] <= tol)
                    free[static_cast<size_t>(j)] = false, x[j] = 0.0;
            }
        }
    }
    for (Eigen::Index j = 0; j < n; ++j) x[j] = scale[j] > 0.0 ? std::max(0.0, x[j]) / scale[j] : 0.0;
    return x;
}

Eigen::VectorXd nonnegative_least_absolute(const Eigen::MatrixXd& a, const Eigen::VectorXd& b, double d, int passes) {
    Eigen::VectorXd w = Eigen::VectorXd::Ones(a.rows());
    Eigen::VectorXd x = nonnegative_least_squares(a, b);
    for (int pass = 0; pass < passes; ++pass) {
        for (Eigen::Index i = 0; i < a.rows(); ++i) w[i] = 1.0 / std::sqrt(std::hypot(a.row(i).dot(x) - b[i], d));
        const Eigen::VectorXd next = nonnegative_least_squares(w.asDiagonal() * a, w.asDiagonal() * b);
        bool moved = false;
        for (Eigen::Index j = 0; j < x.size(); ++j)
            moved = moved || std::fabs(next[j] - x[j]) > 1e-9 * std::max(std::fabs(next[j]), std::fabs(x[j]));
        x = next;
        if (!moved) break;
    }
    return x;
}

}  // namespace headroom
