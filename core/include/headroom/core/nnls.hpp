// Non-negative least squares: the x >= 0 that minimises |A x - b|, by Lawson and Hanson's active-set method
// (Solving Least Squares Problems, 1974, ch. 23): terms enter the free set one at a time, by the gradient,
// and a term the unconstrained solve would take below zero is held at zero. For fits whose terms are times or
// multiples of times that cannot be negative (sim/calibrate.cpp's fused-MoE and MLA fits, mla_norm_chain.cpp).
// Where columns are collinear the solution is one of the optimal ones. Include it only from a target that links
// Eigen.
#pragma once

#include <Eigen/Dense>

namespace headroom {

// Columns are scaled to unit norm inside (the fits mix seconds with ratios); a zero column gets 0.
Eigen::VectorXd nonnegative_least_squares(const Eigen::MatrixXd& a, const Eigen::VectorXd& b);

// The scale of the robust fits (nonnegative_least_absolute; sim/calibrate.cpp's log-time fits): residuals well
// under it count as squares, those above as absolute values. 1%: a relative or log error of a percent.
inline constexpr double ROBUST_SCALE = 0.01;

// The x >= 0 that minimises the sum of sqrt(r_i^2 + d^2), r = A x - b (least absolute deviations, smoothed within
// d of 0: pseudo-Huber), by iteratively reweighted non-negative least squares: each pass weighs row i's square by
// 1 / sqrt(r_i^2 + d^2), r the last pass's residuals (Schlossmacher, JASA 68, 1973), started from the plain
// least-squares fit. Stops when no term moves by more than 1e-9 of its size, or after `passes`. For the fits whose
// rows are relative errors (b all 1): the median |error| is what the absolute sum tracks, where the squared sum
// lets a few shapes the model misses pull every other one off.
Eigen::VectorXd nonnegative_least_absolute(const Eigen::MatrixXd& a, const Eigen::VectorXd& b,
                                           double d = ROBUST_SCALE, int passes = 60);

}  // namespace headroom
